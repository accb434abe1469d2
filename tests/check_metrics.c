/*
 * check_metrics.c — what envd answers on /healthz and /metrics
 * (server/metrics.c), scraped over a real TCP connection from a server
 * running in-process (tests/fixture_server.h) after requests whose counts
 * are known.
 */
#include <check.h>
#include <string.h>

#include "fixture_server.h"

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

    http_exchange(h->metrics_port, "GET /nope HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 404 ", 13) == 0, "%s", resp);
    harness_stop(&h);
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("exposition");
    tcase_add_test(tc, test_metrics_serves_healthz_and_counters);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
