/*
 * check_hostport.c — HOST:PORT parsing for --metrics (where the host may
 * be left out), --env-dns, the syntax of --bind and --env endpoints and the
 * plaintext locality rule of envd's --bind endpoints, with hand-written
 * inputs and the host and port each must give.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hostport.h"

START_TEST(test_parse_accepts_names_ipv4_and_bracketed_ipv6)
{
    static const struct { const char *in, *host, *port; } ok[] = {
        {"envd:5555", "envd", "5555"},
        {"envd.default.svc.cluster.local:1", "envd.default.svc.cluster.local", "1"},
        {"10.0.0.9:65535", "10.0.0.9", "65535"},
        {"[::1]:5555", "::1", "5555"},
        {"[fe80::1%eth0]:5555", "fe80::1%eth0", "5555"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        hostport_t hp;
        errbuf_t e;
        ck_assert_int_eq(hostport_parse(ok[i].in, 0, &hp, &e), 0);
        ck_assert_str_eq(hp.host, ok[i].host);
        ck_assert_str_eq(hp.port, ok[i].port);
        ck_assert_uint_eq(hp.port_num, (unsigned)atoi(ok[i].port));
    }
}
END_TEST

START_TEST(test_parse_rejects_what_is_not_host_colon_port)
{
    static const char *bad[] = {"envd", "envd:", ":5555", "envd:0", "envd:65536", "envd:+5",
                                "envd: 5", "envd:55a", "::1:5555", "[::1]", "[]:5555",
                                "[::1:5555", "envd:*", "envd:000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hostport_t hp;
        errbuf_t e;
        err_clear(&e);
        ck_assert_msg(hostport_parse(bad[i], 0, &hp, &e) == ERR_INVALID_ARGUMENT, "'%s' accepted",
                      bad[i]);
        ck_assert_msg(strstr(e.msg, bad[i]) != NULL, "message '%s' does not quote the input",
                      e.msg);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname);
    strcpy(longname + 280, ":5555");
    hostport_t hp;
    ck_assert_int_eq(hostport_parse(longname, 0, &hp, NULL), ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_port_zero_and_zeromq_syntax_only_when_asked)
{
    hostport_t hp;
    ck_assert_int_eq(hostport_parse("127.0.0.1:0", HOSTPORT_PORT_ZERO, &hp, NULL), 0);
    ck_assert_uint_eq(hp.port_num, 0);
    ck_assert_int_eq(hostport_parse("127.0.0.1:*", HOSTPORT_ZMQ, &hp, NULL), 0);
    ck_assert_str_eq(hp.host, "127.0.0.1");
    ck_assert_str_eq(hp.port, "*");
    ck_assert_int_eq(hostport_parse("::1:5555", HOSTPORT_ZMQ, &hp, NULL), 0);
    ck_assert_str_eq(hp.host, "::1"); /* split at the last colon, as libzmq does */
    ck_assert_int_eq(hostport_port("8080", 0), 8080);
    ck_assert_int_eq(hostport_port("0", 0), -1);
    ck_assert_int_eq(hostport_port("0", HOSTPORT_PORT_ZERO), 0);
    ck_assert_int_eq(hostport_port("-1", HOSTPORT_PORT_ZERO), -1);
}
END_TEST

START_TEST(test_host_optional_means_loopback_for_a_bare_port)
{
    static const struct { const char *in, *host, *port; } ok[] = {
        {"9100", "127.0.0.1", "9100"},
        {":9100", "127.0.0.1", "9100"},
        {"0", "127.0.0.1", "0"},
        {":65535", "127.0.0.1", "65535"},
        {"0.0.0.0:9100", "0.0.0.0", "9100"}, /* a host given is kept */
        {"[::]:9100", "::", "9100"},
    };
    unsigned f = HOSTPORT_HOST_OPTIONAL | HOSTPORT_PORT_ZERO;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        hostport_t hp;
        errbuf_t e;
        ck_assert_msg(hostport_parse(ok[i].in, f, &hp, &e) == 0, "%s: %s", ok[i].in, e.msg);
        ck_assert_str_eq(hp.host, ok[i].host);
        ck_assert_str_eq(hp.port, ok[i].port);
        ck_assert_uint_eq(hp.port_num, (unsigned)atoi(ok[i].port));
    }
    static const char *bad[] = {"", ":", "abc", ":abc", "65536", ":65536", "-1", "+9100",
                                " 9100", "9100 ", "::", "envd:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hostport_t hp;
        errbuf_t e;
        err_clear(&e);
        ck_assert_msg(hostport_parse(bad[i], f, &hp, &e) == ERR_INVALID_ARGUMENT, "'%s' accepted",
                      bad[i]);
        ck_assert_msg(strstr(e.msg, bad[i]) != NULL, "message '%s' does not quote the input",
                      e.msg);
    }
    /* Without the flag, a bare port is still refused; 0 needs its own flag. */
    hostport_t hp;
    ck_assert_int_eq(hostport_parse("9100", 0, &hp, NULL), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(hostport_parse(":9100", 0, &hp, NULL), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(hostport_parse(":0", HOSTPORT_HOST_OPTIONAL, &hp, NULL), ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_format_brackets_ipv6_and_round_trips)
{
    static const char *in[] = {"127.0.0.1:9100", "[::1]:9100", "envd:5555", "[fe80::1%eth0]:1"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        hostport_t hp;
        char buf[HOSTPORT_HOST_MAX + 10];
        ck_assert_int_eq(hostport_parse(in[i], 0, &hp, NULL), 0);
        ck_assert_str_eq(hostport_format(&hp, buf, sizeof buf), in[i]);
    }
    hostport_t hp;
    char buf[32];
    ck_assert_int_eq(hostport_parse(":9100", HOSTPORT_HOST_OPTIONAL, &hp, NULL), 0);
    ck_assert_str_eq(hostport_format(&hp, buf, sizeof buf), "127.0.0.1:9100");
}
END_TEST

START_TEST(test_endpoint_check_takes_zeromq_endpoints_only)
{
    static const char *connect_ok[] = {"tcp://127.0.0.1:5555", "tcp://envd:5555",
                                       "tcp://[::1]:5555", "tcp://::1:5555", "tcp://eth0:1",
                                       "ipc:///tmp/envd.sock", "ipc://@abstract", "inproc://x"};
    for (size_t i = 0; i < sizeof connect_ok / sizeof *connect_ok; i++) {
        errbuf_t e;
        ck_assert_msg(hostport_endpoint_check(connect_ok[i], 0, &e) == 0, "%s: %s",
                      connect_ok[i], e.msg);
        ck_assert_int_eq(hostport_endpoint_check(connect_ok[i], HOSTPORT_PORT_ZERO, &e), 0);
    }
    static const char *bind_only[] = {"tcp://127.0.0.1:0", "tcp://127.0.0.1:*", "tcp://*:*"};
    for (size_t i = 0; i < sizeof bind_only / sizeof *bind_only; i++) {
        errbuf_t e;
        ck_assert_int_eq(hostport_endpoint_check(bind_only[i], HOSTPORT_PORT_ZERO, &e), 0);
        err_clear(&e);
        ck_assert_msg(hostport_endpoint_check(bind_only[i], 0, &e) == ERR_INVALID_ARGUMENT,
                      "%s accepted for a connect", bind_only[i]);
        ck_assert_msg(strstr(e.msg, bind_only[i]) != NULL, "%s", e.msg);
    }
    static const char *bad[] = {"foo", "127.0.0.1:5555", "tcp://", "tcp://127.0.0.1",
                                "tcp://127.0.0.1:", "tcp://:5555", "tcp://127.0.0.1:65536",
                                "tcp://127.0.0.1:55a", "ipc://", "inproc://", "udp://1.2.3.4:5",
                                "TCP://127.0.0.1:5555", " tcp://127.0.0.1:5555"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errbuf_t e;
        err_clear(&e);
        ck_assert_msg(hostport_endpoint_check(bad[i], HOSTPORT_PORT_ZERO, &e) == ERR_INVALID_ARGUMENT,
                      "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(e.msg, bad[i]) != NULL, "message '%s' does not quote '%s'", e.msg,
                      bad[i]);
    }
}
END_TEST

START_TEST(test_endpoint_locality_rule)
{
    const char *local[] = {"ipc:///tmp/x.sock", "inproc://a", "tcp://127.0.0.1:5555",
                           "tcp://127.1.2.3:*", "tcp://[::1]:5555", "tcp://::1:5555",
                           "tcp://[::ffff:127.0.0.1]:5555", "tcp://127.0.0.1:0"};
    const char *reachable[] = {"tcp://0.0.0.0:5555", "tcp://*:5555", "tcp://[::]:5555",
                               "tcp://10.0.0.2:5555", "tcp://envd:5555", "tcp://eth0:5555",
                               "tcp://lo:5555", "tcp://localhost:5555", "udp://127.0.0.1:1",
                               "ws://127.0.0.1:1", "tcp://127.0.0.1"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        ck_assert_msg(hostport_endpoint_is_local(local[i]), "%s", local[i]);
    for (size_t i = 0; i < sizeof reachable / sizeof *reachable; i++)
        ck_assert_msg(!hostport_endpoint_is_local(reachable[i]), "%s", reachable[i]);
    ck_assert(hostport_is_loopback("127.0.0.1"));
    ck_assert(hostport_is_loopback("::1"));
    ck_assert(!hostport_is_loopback("0.0.0.0"));
    ck_assert(!hostport_is_loopback("::"));
    ck_assert(!hostport_is_loopback("localhost"));
}
END_TEST

Suite *hostport_suite(void)
{
    Suite *s = suite_create("hostport");
    TCase *tc = tcase_create("hostport");
    tcase_add_test(tc, test_parse_accepts_names_ipv4_and_bracketed_ipv6);
    tcase_add_test(tc, test_parse_rejects_what_is_not_host_colon_port);
    tcase_add_test(tc, test_port_zero_and_zeromq_syntax_only_when_asked);
    tcase_add_test(tc, test_host_optional_means_loopback_for_a_bare_port);
    tcase_add_test(tc, test_format_brackets_ipv6_and_round_trips);
    tcase_add_test(tc, test_endpoint_check_takes_zeromq_endpoints_only);
    tcase_add_test(tc, test_endpoint_locality_rule);
    suite_add_tcase(s, tc);
    return s;
}
