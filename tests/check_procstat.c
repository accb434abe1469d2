/*
 * check_procstat.c — the process figures behind /metrics' process_*
 * series (server/procstat.c): a /proc/self/stat line parsed by hand, and
 * this process's own figures against what getrusage, getrlimit, statm and
 * a forked child's start say.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"

START_TEST(test_parse_counts_fields_after_the_last_paren)
{
    /* A command name with spaces and parentheses, as prctl allows. Fields
     * 14 utime 250, 15 stime 50, 22 starttime 12345, 23 vsize 7340032,
     * 24 rss 300 pages. */
    const char *line = "4242 (en vd) (x) S 1 4242 4242 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 3 0 "
                       "12345 7340032 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    procstat_t ps;
    errbuf_t e;
    ck_assert_int_eq(procstat_parse(line, 1700000000.0, 100, 4096, &ps, &e), 0);
    ck_assert_double_eq(ps.cpu_seconds, 3.0);          /* (250 + 50) / 100 */
    ck_assert_double_eq(ps.start_time, 1700000123.45); /* btime + 12345 / 100 */
    ck_assert_uint_eq(ps.virtual_bytes, 7340032);
    ck_assert_uint_eq(ps.resident_bytes, 300 * 4096);

    static const char *bad[] = {"", "4242 en vd S 1", "4242 (envd) S 1 2 3",
                                "4242 (envd) S 1 4242 4242 0 -1 4194560 10 0 0 0 2x0 50"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(procstat_parse(bad[i], 0, 100, 4096, &ps, &e) == ERR_CORRUPT, "%s", bad[i]);
}
END_TEST

static double rusage_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

START_TEST(test_own_figures_agree_with_getrusage_statm_and_getrlimit)
{
    /* Burn some CPU so that the figure is not 0 = 0. */
    volatile double x = 0;
    double t0 = rusage_cpu();
    while (rusage_cpu() - t0 < 0.05)
        for (int i = 0; i < 100000; i++)
            x += sqrt((double)i);
    double before = rusage_cpu();
    procstat_t ps;
    errbuf_t e;
    ck_assert_msg(procstat_read(&ps, &e) == 0, "%s", e.msg);
    double after = rusage_cpu();
    double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
    ck_assert_msg(ps.cpu_seconds >= before - 2 * tick && ps.cpu_seconds <= after + 2 * tick,
                  "cpu %.3f s, getrusage %.3f .. %.3f s", ps.cpu_seconds, before, after);
    ck_assert_double_gt(ps.cpu_seconds, 0.0);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    ck_assert_uint_gt(ps.resident_bytes, 0);
    ck_assert_uint_le(ps.resident_bytes, (uint64_t)ru.ru_maxrss * 1024 + 65536);
    unsigned long long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%llu %llu", &size, &resident), 2);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    double vm_gap = fabs((double)ps.virtual_bytes - (double)(size * page)); /* fopen's malloc */
    ck_assert_msg(vm_gap <= 4 << 20, "vsize %llu vs statm %llu",
                  (unsigned long long)ps.virtual_bytes, size * page);
    double rss_gap = fabs((double)ps.resident_bytes - (double)(resident * page));
    ck_assert_msg(rss_gap <= 4 << 20, "rss %llu vs statm %llu", (unsigned long long)ps.resident_bytes,
                  resident * page);
    ck_assert_uint_ge(ps.virtual_bytes, ps.resident_bytes);

    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_double_eq(procstat_max_fds(), (double)rl.rlim_cur);
}
END_TEST

START_TEST(test_open_fds_counts_each_descriptor)
{
    long n0 = procstat_open_fds(1024);
    ck_assert_int_ge(n0, 3);
    int fds[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(fds[i] = dup(0), 0);
    ck_assert_int_eq(procstat_open_fds(1024), n0 + 3);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    ck_assert_int_eq(procstat_open_fds(1024), n0);
}
END_TEST

START_TEST(test_start_time_is_when_the_process_started)
{
    struct timespec t0, t1;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    clock_gettime(CLOCK_REALTIME, &t0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        procstat_t ps;
        errbuf_t e;
        double v = procstat_read(&ps, &e) == 0 ? ps.start_time : -1.0;
        _exit(write(p[1], &v, sizeof v) == sizeof v ? 0 : 1);
    }
    double child;
    ck_assert_int_eq(read(p[0], &child, sizeof child), sizeof child);
    clock_gettime(CLOCK_REALTIME, &t1);
    int status;
    waitpid(pid, &status, 0);
    close(p[0]);
    close(p[1]);
    /* The boot time is whole seconds, the start one tick: within 1.1 s. */
    double lo = t0.tv_sec + t0.tv_nsec * 1e-9 - 1.1, hi = t1.tv_sec + t1.tv_nsec * 1e-9 + 1.1;
    ck_assert_msg(child >= lo && child <= hi, "child started at %.2f, forked between %.2f and %.2f",
                  child, lo + 1.1, hi - 1.1);
}
END_TEST

Suite *procstat_suite(void)
{
    Suite *s = suite_create("procstat");
    TCase *tc = tcase_create("procstat");
    tcase_add_test(tc, test_parse_counts_fields_after_the_last_paren);
    tcase_add_test(tc, test_own_figures_agree_with_getrusage_statm_and_getrlimit);
    tcase_add_test(tc, test_open_fds_counts_each_descriptor);
    tcase_add_test(tc, test_start_time_is_when_the_process_started);
    suite_add_tcase(s, tc);
    return s;
}
