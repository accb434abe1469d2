/*
 * check_http.c — the metrics listener (server/http.c): the methods it
 * serves, the connection cap and the descriptor share it is derived from,
 * the header and idle timeouts, and what happens when the process has no
 * descriptor left to accept with.
 *
 * Each test runs a private uv_loop on the test thread and drives it in
 * short steps (run_until) between what a plain loopback TCP client does,
 * so that no thread is needed and every wait is bounded: a condition that
 * never comes fails the test after WAIT_MS. The descriptor tests change
 * RLIMIT_NOFILE and fill the descriptor table; they restore both before
 * they end (Check forks each test besides).
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "http.h"
#include "log.h"

#define WAIT_MS 5000

static int on_request(void *data, const char *path, text_t *body, const char **ctype)
{
    text_printf(body, "ok %s\n", path);
    return 200;
}

typedef struct fixture {
    uv_loop_t loop;
    http_server_t *http;
    int port;
} fixture_t;

static void fixture_start(fixture_t *f, const http_limits_t *limits)
{
    errbuf_t e;
    log_init("check_http", LOG_ERROR);
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    ck_assert_msg(http_server_start(&f->loop, "127.0.0.1:0", limits, on_request, NULL, &f->http,
                                    &e) == 0,
                  "http_server_start: %s", e.msg);
    f->port = http_server_port(f->http);
    ck_assert_int_gt(f->port, 0);
}

/* Closes everything and proves that no handle was left open. */
static void fixture_stop(fixture_t *f)
{
    http_server_close(f->http);
    ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

/* Turns the loop until done(f, arg) or WAIT_MS; returns done's last answer. */
static bool run_until(fixture_t *f, bool (*done)(fixture_t *, void *), void *arg)
{
    uint64_t end = clock_ms() + WAIT_MS;
    while (!done(f, arg)) {
        if (clock_ms() > end)
            return false;
        uv_run(&f->loop, UV_RUN_NOWAIT);
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    return true;
}

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* A blocking loopback connect completes in the kernel's backlog, before
 * the loop accepts anything. */
static void tcp_connect(int fd, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s",
                  strerror(errno));
}

static int tcp_open(int port)
{
    int fd = tcp_socket();
    tcp_connect(fd, port);
    return fd;
}

/* The server has closed fd: EOF or reset, and nothing was sent first. */
static bool peer_closed(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    ck_assert_msg(n <= 0, "the server sent data on an idle connection");
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

static bool fd_closed(fixture_t *f, void *arg) { return peer_closed(*(int *)arg); }

/* One request over fd; the whole reply, read while the loop turns. */
static void exchange(fixture_t *f, int fd, const char *request, char *out, size_t cap)
{
    size_t len = 0;
    uint64_t end = clock_ms() + WAIT_MS;
    ck_assert_int_eq(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
    for (;;) {
        ck_assert_msg(clock_ms() < end, "no complete reply within %d ms", WAIT_MS);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        ssize_t n = recv(fd, out + len, cap - 1 - len, MSG_DONTWAIT);
        if (n == 0)
            break;
        if (n < 0) {
            ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "recv: %s", strerror(errno));
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
            continue;
        }
        len += (size_t)n;
        ck_assert_uint_lt(len, cap - 1);
    }
    out[len] = '\0';
}

static bool stats_open_is(fixture_t *f, void *arg)
{
    return http_server_stats(f->http)->open == *(int *)arg;
}

/* ------------------------------------------------------------ requests */

/* Only GET and HEAD are served, and HEAD without the body. */
START_TEST(test_post_is_405_and_head_answers_without_the_body)
{
    fixture_t f;
    char resp[4096];

    fixture_start(&f, NULL);
    int fd = tcp_open(f.port);
    exchange(&f, fd, "POST /metrics HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 405 ", 13) == 0, "%s", resp);
    close(fd);
    fd = tcp_open(f.port);
    exchange(&f, fd, "HEAD /healthz HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 200 ", 13) == 0 && !strstr(resp, "\r\n\r\nok"), "%s",
                  resp);
    close(fd);
    fixture_stop(&f);
}
END_TEST

/* ------------------------------------------------------------- the cap */

START_TEST(test_connections_over_the_cap_are_closed_at_once_and_counted)
{
    fixture_t f;
    http_limits_t lim = {.max_conns = 2};
    char resp[4096];
    int two = 2, one = 1;

    fixture_start(&f, &lim);
    ck_assert_int_eq(http_server_stats(f.http)->max_conns, 2);
    int a = tcp_open(f.port), b = tcp_open(f.port), c = tcp_open(f.port);
    ck_assert(run_until(&f, stats_open_is, &two));
    ck_assert_msg(run_until(&f, fd_closed, &c), "the third connection was not closed");
    ck_assert_uint_eq(http_server_stats(f.http)->refused, 1);
    ck_assert(!peer_closed(a) && !peer_closed(b));
    close(a);
    ck_assert(run_until(&f, stats_open_is, &one));
    int d = tcp_open(f.port); /* a freed place is taken again */
    exchange(&f, d, "GET /healthz HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 200 ", 13) == 0, "%s", resp);
    ck_assert_uint_eq(http_server_stats(f.http)->refused, 1);
    text_t m = {0};
    http_server_write_metrics(f.http, &m);
    ck_assert_msg(m.data && strstr(m.data, "\nenvd_http_connections_refused_total 1\n") &&
                      strstr(m.data, "\nenvd_http_connections_max 2\n"),
                  "%s", m.data);
    free(m.data);
    close(b);
    close(c);
    close(d);
    fixture_stop(&f);
}
END_TEST

static long count_open_fds(void)
{
    long n = 0;
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

/* With 40 descriptors free at start, HTTP takes 10 at most, whatever
 * max_conns asks for: the other 30 stay ZeroMQ's. */
START_TEST(test_the_cap_is_a_quarter_of_the_descriptors_free_at_start)
{
    fixture_t f;
    http_limits_t lim = {.max_conns = 1000};
    struct rlimit old, low;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(uv_loop_init(&f.loop), 0);
    low = old;
    low.rlim_cur = (rlim_t)(count_open_fds() + 40);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    errbuf_t e;
    log_init("check_http", LOG_ERROR);
    ck_assert_int_eq(http_server_start(&f.loop, "127.0.0.1:0", &lim, on_request, NULL, &f.http,
                                       &e),
                     0);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(http_server_stats(f.http)->max_conns, 10);
    fixture_stop(&f);
}
END_TEST

/* --------------------------------------------------------- the timeouts */

START_TEST(test_a_silent_connection_is_closed_at_the_idle_timeout)
{
    fixture_t f;
    http_limits_t lim = {.idle_timeout_ms = 50, .header_timeout_ms = 60000};
    char resp[4096];

    fixture_start(&f, &lim);
    int fd = tcp_open(f.port);
    ck_assert_msg(run_until(&f, fd_closed, &fd), "a silent connection stayed open");
    ck_assert_uint_eq(http_server_stats(f.http)->timed_out, 1);
    close(fd);
    fd = tcp_open(f.port); /* one that talks at once is served */
    exchange(&f, fd, "GET /metrics HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strstr(resp, "\r\n\r\nok /metrics\n"), "%s", resp);
    ck_assert_uint_eq(http_server_stats(f.http)->timed_out, 1);
    close(fd);
    fixture_stop(&f);
}
END_TEST

/* A byte every 10 ms never trips the idle timeout (5 s), but the request
 * never ends: the header timeout (200 ms) closes it. */
START_TEST(test_a_trickling_request_is_closed_at_the_header_timeout)
{
    static const char head[] = "GET /metrics HTTP/1.0\r\nX-Slow: ";
    fixture_t f;
    http_limits_t lim = {.idle_timeout_ms = 5000, .header_timeout_ms = 200};
    int sent = 0, closed = 0;

    fixture_start(&f, &lim);
    int fd = tcp_open(f.port);
    ck_assert_int_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    uint64_t end = clock_ms() + WAIT_MS;
    while (!closed && clock_ms() < end) {
        if (send(fd, ".", 1, MSG_NOSIGNAL) == 1)
            sent++;
        for (int i = 0; i < 10 && !closed; i++) {
            uv_run(&f.loop, UV_RUN_NOWAIT);
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
            closed = peer_closed(fd);
        }
    }
    ck_assert_msg(closed, "a request trickling in for %d ms stayed open (%d bytes)", WAIT_MS, sent);
    ck_assert_uint_eq(http_server_stats(f.http)->timed_out, 1);
    close(fd);
    fixture_stop(&f);
}
END_TEST

/* ------------------------------------------------------ out of descriptors */

static bool listener_paused(fixture_t *f, void *arg)
{
    return http_server_stats(f->http)->fd_pauses == 1;
}

typedef struct healthz {
    int fd;
    char resp[4096];
} healthz_t;

/* Connects and asks /healthz; false while the listener is not back. */
static bool healthz_answers(fixture_t *f, void *arg)
{
    healthz_t *h = arg;
    int fd = tcp_socket();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return false;
    }
    exchange(f, fd, "GET /healthz HTTP/1.0\r\n\r\n", h->resp, sizeof h->resp);
    close(fd);
    return strncmp(h->resp, "HTTP/1.0 200 ", 13) == 0;
}

/* The descriptor table is full when a connection arrives, and libuv's own
 * spare descriptor is out of reach (above the limit, as when another
 * thread took its place): libuv reports UV_EMFILE and, were the listener
 * left open, would call accept() again at once, for ever. It must instead
 * close the listener, so the loop turn returns, and listen again on the
 * same port once descriptors are back. */
START_TEST(test_out_of_descriptors_pauses_the_listener_then_it_listens_again)
{
    enum { FILL_MAX = 4096 };
    static int fill[FILL_MAX];
    fixture_t f;
    struct rlimit old, low;
    int nfill = 0;
    healthz_t hz = {.resp = ""};

    log_init("check_http", LOG_ERROR);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(uv_loop_init(&f.loop), 0);
    int client = tcp_socket(); /* made while there is room */
    long limit = count_open_fds() + 32;
    low = old;
    low.rlim_cur = (rlim_t)limit;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (nfill < FILL_MAX && (fill[nfill] = open("/dev/null", O_RDONLY)) >= 0)
        nfill++;
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_eq(fill[nfill - 1], limit - 1); /* every slot below the limit is taken */
    /* Room for exactly libuv's spare (limit - 2) and the listener (limit - 1). */
    close(fill[--nfill]);
    close(fill[--nfill]);
    errbuf_t e;
    ck_assert_msg(http_server_start(&f.loop, "127.0.0.1:0", NULL, on_request, NULL, &f.http, &e) ==
                      0,
                  "http_server_start: %s", e.msg);
    f.port = http_server_port(f.http);
    low.rlim_cur = (rlim_t)(limit - 2); /* both now sit above the limit */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    tcp_connect(client, f.port);

    ck_assert_msg(run_until(&f, listener_paused, NULL), "the listener did not pause");
    ck_assert_int_eq(http_server_stats(f.http)->open, 0);
    ck_assert_msg(run_until(&f, fd_closed, &client), "the waiting connection was not dropped");
    close(client);

    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    while (nfill > 0)
        close(fill[--nfill]);
    ck_assert_msg(run_until(&f, healthz_answers, &hz), "not listening again: %s", hz.resp);
    ck_assert_uint_eq(http_server_stats(f.http)->fd_pauses, 1);
    fixture_stop(&f);
}
END_TEST

Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_post_is_405_and_head_answers_without_the_body);
    tcase_add_test(tc, test_connections_over_the_cap_are_closed_at_once_and_counted);
    tcase_add_test(tc, test_the_cap_is_a_quarter_of_the_descriptors_free_at_start);
    tcase_add_test(tc, test_a_silent_connection_is_closed_at_the_idle_timeout);
    tcase_add_test(tc, test_a_trickling_request_is_closed_at_the_header_timeout);
    tcase_add_test(tc, test_out_of_descriptors_pauses_the_listener_then_it_listens_again);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
