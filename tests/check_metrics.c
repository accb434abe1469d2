/*
 * check_metrics.c — what envd answers on /healthz and /metrics
 * (server/metrics.c), scraped over a real TCP connection from a server
 * running in-process (tests/fixture_server.h) after requests whose counts
 * are known: the counters, the text format's grammar, and the process_*
 * series against getrusage and getrlimit of this, the server's, process.
 */
#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fixture_server.h"
#include "procstat.h"

/* The value of the sample line "\nNAME VALUE\n" in body; fails if absent. */
static double sample(const char *body, const char *name)
{
    char key[160];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(body, key);
    ck_assert_msg(at != NULL, "no sample %s", name);
    char *end;
    double v = strtod(at + strlen(key), &end);
    ck_assert_msg(*end == '\n', "sample %s: '%.40s' is not a number", name, at + strlen(key));
    return v;
}

static bool name_char(int c, bool first)
{
    return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/* The text format 0.0.4 as Prometheus reads it: every line a "# HELP name
 * text", a "# TYPE name type" or "name[{label="value",...}] value"; each
 * family's TYPE once, before its samples, and its samples together. */
static void check_exposition(const char *body)
{
    char typed[64][96];
    int ntyped = 0;
    char current[96] = "";
    ck_assert_msg(body[0] && body[strlen(body) - 1] == '\n', "the body must end with a newline");
    for (const char *line = body; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = (size_t)(eol - line);
        char l[512];
        ck_assert_uint_lt(len, sizeof l);
        memcpy(l, line, len);
        l[len] = '\0';
        line = eol + 1;
        char name[96];
        if (strncmp(l, "# HELP ", 7) == 0) {
            ck_assert_msg(sscanf(l + 7, "%95s", name) == 1 && strlen(l) > 8 + strlen(name), "%s", l);
            continue;
        }
        if (strncmp(l, "# TYPE ", 7) == 0) {
            char type[32];
            ck_assert_msg(sscanf(l + 7, "%95s %31s", name, type) == 2, "%s", l);
            ck_assert_msg(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
                              !strcmp(type, "histogram") || !strcmp(type, "summary") ||
                              !strcmp(type, "untyped"),
                          "%s", l);
            for (int i = 0; i < ntyped; i++)
                ck_assert_msg(strcmp(typed[i], name) != 0, "TYPE %s twice", name);
            ck_assert_int_lt(ntyped, 64);
            strcpy(typed[ntyped++], name);
            strcpy(current, name);
            continue;
        }
        ck_assert_msg(l[0] != '#', "stray comment: %s", l);
        size_t n = 0;
        while (name_char((unsigned char)l[n], n == 0))
            n++;
        ck_assert_msg(n > 0 && n < sizeof name, "bad metric name: %s", l);
        memcpy(name, l, n);
        name[n] = '\0';
        const char *p = l + n;
        if (*p == '{') {
            p = strchr(p, '}');
            ck_assert_msg(p && strstr(l, "=\""), "bad labels: %s", l);
            p++;
        }
        ck_assert_msg(*p == ' ', "no value: %s", l);
        char *end;
        strtod(p + 1, &end);
        ck_assert_msg(end > p + 1 && *end == '\0', "bad value: %s", l);
        /* A histogram's samples are its name with _bucket, _sum, _count. */
        size_t cl = strlen(current);
        ck_assert_msg(cl && strncmp(name, current, cl) == 0 &&
                          (!name[cl] || !strcmp(name + cl, "_bucket") ||
                           !strcmp(name + cl, "_sum") || !strcmp(name + cl, "_count")),
                      "sample %s outside its family (TYPE %s)", name, current);
    }
}

START_TEST(test_metrics_serves_healthz_and_counters)
{
    server_config_t cfg;
    harness_config(&cfg);
    cfg.metrics_addr = "127.0.0.1:0";
    harness_t *h = harness_start(&cfg);
    static char resp[64 * 1024];
    wire_request_t bad = {.op = WIRE_OP_STEP, .step = {.session = 1}};

    ck_assert_int_gt(h->metrics_port, 0);
    http_exchange(h->metrics_port, "GET /healthz HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 200 ", 13) == 0, "%s", resp);
    ck_message_has(resp, "\r\n\r\nok\n");

    make_one(h->c);
    call_err(h->c, &bad, ERR_NOT_FOUND);
    http_exchange(h->metrics_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 200 ", 13) == 0, "%s", resp);
    ck_message_has(resp, "\nenvd_sessions_active 1\n");
    ck_message_has(resp, "\nenvd_sessions_created_total 1\n");
    ck_message_has(resp, "\nenvd_requests_total{op=\"make\"} 1\n");
    ck_message_has(resp, "\nenvd_requests_total{op=\"step\"} 1\n");
    ck_message_has(resp, "\nenvd_requests_total{op=\"step_batch\"} 0\n");
    ck_message_has(resp, "\nenvd_errors_total{code=\"NOT_FOUND\"} 1\n");
    ck_message_has(resp, "\nenvd_request_duration_seconds_count 2\n");

    const char *body = strstr(resp, "\r\n\r\n") + 4;
    check_exposition(body);

    http_exchange(h->metrics_port, "GET /nope HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 404 ", 13) == 0, "%s", resp);
    harness_stop(&h);
}
END_TEST

/* The server runs in this process: its process_* figures are ours. */
START_TEST(test_metrics_export_the_process_series_and_build_info)
{
    server_config_t cfg;
    harness_config(&cfg);
    cfg.metrics_addr = "127.0.0.1:0";
    harness_t *h = harness_start(&cfg);
    static char resp[64 * 1024];
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    time_t t_scrape = time(NULL);
    http_exchange(h->metrics_port, "GET /metrics HTTP/1.0\r\n\r\n", resp, sizeof resp);
    getrusage(RUSAGE_SELF, &ru1);
    const char *body = strstr(resp, "\r\n\r\n") + 4;
    check_exposition(body);

    ck_message_has(body, "\n# TYPE process_cpu_seconds_total counter\n");
    for (const char *g = "process_resident_memory_bytes\0process_virtual_memory_bytes\0"
                         "process_open_fds\0process_max_fds\0process_start_time_seconds\0";
         *g; g += strlen(g) + 1) {
        char type[128];
        snprintf(type, sizeof type, "\n# TYPE %s gauge\n", g);
        ck_message_has(body, type);
    }
    double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
    double cpu0 = ru0.ru_utime.tv_sec + ru0.ru_utime.tv_usec * 1e-6 + ru0.ru_stime.tv_sec +
                  ru0.ru_stime.tv_usec * 1e-6;
    double cpu1 = ru1.ru_utime.tv_sec + ru1.ru_utime.tv_usec * 1e-6 + ru1.ru_stime.tv_sec +
                  ru1.ru_stime.tv_usec * 1e-6;
    double cpu = sample(body, "process_cpu_seconds_total");
    ck_assert_msg(cpu >= cpu0 - 2 * tick && cpu <= cpu1 + 2 * tick, "cpu %.3f, getrusage %.3f..%.3f",
                  cpu, cpu0, cpu1);
    double rss = sample(body, "process_resident_memory_bytes");
    ck_assert_double_gt(rss, 0);
    ck_assert_double_le(rss, (double)ru1.ru_maxrss * 1024 + 65536);
    ck_assert_double_ge(sample(body, "process_virtual_memory_bytes"), rss);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    ck_assert_double_eq(sample(body, "process_max_fds"), (double)rl.rlim_cur);
    double fds = sample(body, "process_open_fds");
    long now_fds = procstat_open_fds(1024);
    ck_assert_msg(fds >= 3 && fabs(fds - (double)now_fds) <= 2, "open fds %g, now %ld", fds, now_fds);
    double start = sample(body, "process_start_time_seconds");
    ck_assert_msg(start <= (double)t_scrape + 1.1 && start > (double)t_scrape - 3600,
                  "start %.2f, scraped at %lld", start, (long long)t_scrape);

    char info[128];
    snprintf(info, sizeof info, "\nenvd_build_info{version=\"%s\",protocol=\"%d.%d\"} 1\n",
             ENVD_VERSION, WIRE_MAJOR, WIRE_MINOR);
    ck_message_has(body, info);
    ck_message_has(body, "\n# TYPE envd_build_info gauge\n");
    harness_stop(&h);
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("exposition");
    tcase_add_test(tc, test_metrics_serves_healthz_and_counters);
    tcase_add_test(tc, test_metrics_export_the_process_series_and_build_info);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
