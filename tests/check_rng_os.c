/*
 * check_rng_os.c — OS-seeded streams, now drawn from a buffered pool.
 *
 * rng_seed_os hands out OS bytes from a per-thread buffer refilled 4 KB at
 * a time (256 seeds). These tests hold it to what one getrandom() per seed
 * gave: no two seeds alike, across refills, and none shared with a forked
 * child.
 */
#include <check.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rng.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_os_seeded_streams_all_differ_across_refills)
{
    enum { N = 2000 }; /* about eight refills of the pool */
    static uint64_t first[N];
    for (int i = 0; i < N; i++) {
        rng_t r;
        ck_assert_int_eq(rng_seed_os(&r), 0);
        first[i] = rng_next_u64(&r);
    }
    qsort(first, N, sizeof first[0], cmp_u64);
    for (int i = 1; i < N; i++)
        ck_assert_msg(first[i] != first[i - 1], "two OS-seeded streams start alike");
}
END_TEST

START_TEST(test_forked_child_does_not_reuse_the_parents_seeds)
{
    rng_t r;
    ck_assert_int_eq(rng_seed_os(&r), 0); /* the pool is now filled and partly used */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        rng_t c;
        uint64_t v = rng_seed_os(&c) == 0 ? rng_next_u64(&c) : 0;
        _exit(write(fds[1], &v, sizeof v) == sizeof v ? 0 : 1);
    }
    rng_t p;
    ck_assert_int_eq(rng_seed_os(&p), 0);
    uint64_t mine = rng_next_u64(&p), childs = 0;
    ck_assert_int_eq(read(fds[0], &childs, sizeof childs), sizeof childs);
    int status;
    waitpid(pid, &status, 0);
    close(fds[0]);
    close(fds[1]);
    ck_assert(childs != 0);
    ck_assert_msg(mine != childs, "parent and forked child drew the same seed");
}
END_TEST

Suite *rng_os_suite(void)
{
    Suite *s = suite_create("rng_os");
    TCase *tc = tcase_create("os");
    tcase_add_test(tc, test_os_seeded_streams_all_differ_across_refills);
    tcase_add_test(tc, test_forked_child_does_not_reuse_the_parents_seeds);
    suite_add_tcase(s, tc);
    return s;
}
