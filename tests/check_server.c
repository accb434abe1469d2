/*
 * check_server.c — envd's transport (server/server.c): endpoints, the
 * envelope and size checks made before the service sees a request,
 * start-up failures, the graceful stop, the metrics listener's closing,
 * and resent requests answered across lost replies.
 *
 * Each test starts its own server in-process (tests/fixture_server.h: a
 * loop thread running server_new()), and the harness proves at the end
 * that the loop closed with no handle open. Clients are common/client.h,
 * raw ZeroMQ sockets, a plain TCP socket to the metrics port, and a proxy
 * that loses chosen replies (tests/lossy_proxy.h). No fixed ports, no
 * timing assertions; every wait is bounded.
 */
#include <arpa/inet.h>
#include <check.h>
#include <cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "fixture_server.h"
#include "log.h"
#include "lossy_proxy.h"

/* ------------------------------------------------------------- endpoints */

START_TEST(test_ipc_and_tcp_endpoints_serve_one_table)
{
    char dir[] = "/tmp/envd-check-XXXXXX", ipc[128], path[96];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/envd.sock", dir);
    snprintf(ipc, sizeof ipc, "ipc://%s", path);
    server_config_t cfg;
    harness_config(&cfg);
    cfg.binds[0] = ipc;
    cfg.binds[1] = "tcp://127.0.0.1:*";
    cfg.nbinds = 2;
    harness_t *h = harness_start(&cfg);
    uint64_t seed = 8;
    float a[4], b[4];

    ck_assert_str_eq(h->endpoint, ipc);
    ck_assert_str_ne(server_endpoint(h->server, 1), "tcp://127.0.0.1:*"); /* port resolved */
    ck_assert_ptr_null(server_endpoint(h->server, 2));
    client_t *tcp = client_open(h, server_endpoint(h->server, 1), TIMEOUT_MS);
    uint64_t id = make_one(h->c); /* made over ipc, used over tcp */
    remote_reset(h->c, id, &seed, a);
    remote_reset(tcp, id, &seed, b);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    close_ids(tcp, &id, 1, 1);
    client_destroy(&tcp);
    harness_stop(&h);
    unlink(path); /* ZeroMQ leaves the socket file of a named ipc endpoint */
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_bad_endpoint_fails_to_start_with_a_message)
{
    server_config_t cfg;
    uv_loop_t loop;
    server_t *s = (server_t *)&loop; /* must be reset to NULL */
    errbuf_t e;

    harness_config(&cfg);
    cfg.binds[0] = "bogus://nowhere";
    log_init("check_server", LOG_ERROR);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(server_new(&loop, &cfg, &s, &e), ERR_IO);
    ck_assert_ptr_null(s);
    ck_message_has(e.msg, "bogus://nowhere");
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* When the metrics port is taken, server_new fails but hands back the
 * server so that its handles can close: the loop must then close clean. */
START_TEST(test_metrics_port_in_use_fails_and_still_closes_clean)
{
    server_config_t cfg;
    harness_config(&cfg);
    cfg.metrics_addr = "127.0.0.1:0";
    harness_t *h = harness_start(&cfg);
    char addr[64];
    uv_loop_t loop;
    server_t *s = NULL;
    errbuf_t e;

    ck_assert_int_gt(h->metrics_port, 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", h->metrics_port);
    cfg.metrics_addr = addr;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(server_new(&loop, &cfg, &s, &e), ERR_IO);
    ck_message_has(e.msg, addr);
    ck_assert_ptr_nonnull(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    server_destroy(&s);
    harness_stop(&h);
}
END_TEST

/* -------------------------------------------------------------- envelopes */

/* One request and its reply over a raw socket of `type`, in `n` frames. */
static int raw_socket_call(harness_t *h, int type, const void *const *frames, const size_t *lens,
                           size_t n, wire_reply_t *rep, arena_t *a, zmq_msg_t *msg)
{
    void *s = zmq_socket(h->zctx, type);
    int linger = 0, timeout = TIMEOUT_MS;
    errbuf_t e;

    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    ck_assert_int_eq(zmq_connect(s, h->endpoint), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_ge(zmq_send(s, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0), 0);
    int got = zmq_msg_recv(msg, s, 0);
    ck_assert_msg(got >= 0, "no reply: %s", zmq_strerror(errno));
    ck_assert_msg(!zmq_msg_more(msg), "reply of more than one frame");
    zmq_close(s);
    int rc = wire_decode_reply(a, zmq_msg_data(msg), zmq_msg_size(msg), rep, &e);
    ck_assert_msg(rc == 0, "reply does not decode: %s", e.msg);
    return rep->code;
}

START_TEST(test_multipart_message_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t ping = {0};
    wire_request_t req = {.major = 1, .id = 3, .op = WIRE_OP_PING};
    wire_reply_t rep;
    zmq_msg_t msg;
    witness_t w;

    witness_start(h->c, &w, 24);
    ck_assert_int_eq(wire_encode_request(&req, &ping), 0);
    const void *frames[3] = {ping.data, ping.data, ping.data};
    const size_t lens[3] = {ping.len, ping.len, ping.len};
    for (size_t n = 2; n <= 3; n++) {
        zmq_msg_init(&msg);
        ck_assert_int_eq(raw_socket_call(h, ZMQ_DEALER, frames, lens, n, &rep, a, &msg),
                         ERR_INVALID_ARGUMENT);
        ck_message_has(rep.message, "multi-part");
        zmq_msg_close(&msg);
    }
    /* The same request in one frame is answered, and a REQ socket's
     * envelope (an empty delimiter frame) is mirrored. */
    zmq_msg_init(&msg);
    ck_assert_int_eq(raw_socket_call(h, ZMQ_DEALER, frames, lens, 1, &rep, a, &msg), ERR_OK);
    ck_assert_int_eq(rep.op, WIRE_OP_PING);
    zmq_msg_close(&msg);
    zmq_msg_init(&msg);
    ck_assert_int_eq(raw_socket_call(h, ZMQ_REQ, frames, lens, 1, &rep, a, &msg), ERR_OK);
    ck_assert_uint_eq(rep.id, 3);
    zmq_msg_close(&msg);
    wire_buf_deinit(&ping);
    arena_destroy(&a);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_oversized_message_is_resource_exhausted)
{
    server_config_t cfg;
    harness_config(&cfg);
    cfg.service.max_message_size = 4096;
    harness_t *h = harness_start(&cfg);
    static uint8_t payload[5000];
    wire_request_t ping = {.op = WIRE_OP_PING, .ping = {.payload = payload, .len = 4000}};
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 31);
    call_ok(h->c, &ping, &rep); /* under the limit */
    /* Refused before decoding, so the reply cannot echo the id: it is 0. */
    ping.ping.len = sizeof payload;
    errbuf_t e;
    ck_assert_int_eq(client_call(h->c, &ping, &rep, &e), ERR_RESOURCE_EXHAUSTED);
    ck_assert_uint_eq(rep.id, 0);
    ck_message_has(rep.message, "4096");
    ck_assert_uint_eq(stats(h->c).errors, 1);
    /* Far over it (more than twice), ZeroMQ drops the connection unread:
     * no answer, and the server goes on serving everyone else. */
    static uint8_t huge[3 * 4096 + 4096];
    client_t *big = client_open(h, h->endpoint, 500);
    wire_request_t bigping = {.op = WIRE_OP_PING, .ping = {.payload = huge, .len = sizeof huge}};
    ck_assert_int_eq(client_call(big, &bigping, &rep, &e), ERR_TIMEOUT);
    client_destroy(&big);
    ck_assert_uint_eq(stats(h->c).errors, 1);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* ------------------------------------------------------------------- stop */

/* Requests waiting when the server stops are answered UNAVAILABLE or not
 * at all (if they had not reached the socket yet); none is served. The
 * loop thread is held inside the stop callback while they are sent. */
START_TEST(test_stop_answers_waiting_requests_unavailable_or_not_at_all)
{
    enum { N = 4 };
    harness_t *h = harness_start(NULL);
    client_t *c[N];
    int unavailable = 0, silent = 0;
    errbuf_t e;

    uint64_t id = make_one(h->c);
    for (int i = 0; i < N; i++)
        c[i] = client_open(h, h->endpoint, 1000);
    h->pause_on_stop = true;
    harness_send_stop(h);
    sem_wait(&h->paused);
    for (int i = 0; i < N; i++) {
        wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = id}};
        ck_assert_int_eq(client_send(c[i], &req, &e), 0);
    }
    nanosleep(&(struct timespec){.tv_nsec = 200 * 1000000}, NULL); /* let them arrive */
    sem_post(&h->resume);
    for (int i = 0; i < N; i++) {
        wire_reply_t rep;
        int rc = client_recv(c[i], &rep, &e);
        if (rc == ERR_TIMEOUT) {
            silent++;
        } else {
            ck_assert_msg(rc == 0 && rep.code == ERR_UNAVAILABLE, "client %d: %s %s", i,
                          err_name(rc), rc == 0 ? err_name(rep.code) : e.msg);
            ck_message_has(rep.message, "shutting down");
            unavailable++;
        }
        client_destroy(&c[i]);
    }
    ck_assert_int_eq(unavailable + silent, N);
    if (silent)
        fprintf(stderr, "check_server: %d of %d requests had not arrived at stop\n", silent, N);
    harness_stop(&h);
}
END_TEST

/* The stop must close the metrics listener and a connection that is
 * still open (a client that connected and sent half a request). */
START_TEST(test_loop_closes_clean_with_an_open_http_connection)
{
    server_config_t cfg;
    harness_config(&cfg);
    cfg.metrics_addr = "127.0.0.1:0";
    harness_t *h = harness_start(&cfg);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->metrics_port)};
    char buf[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(send(fd, "GET /hea", 8, MSG_NOSIGNAL), 8);
    make_one(h->c); /* a round trip: the loop has accepted the connection by now */
    harness_stop(&h); /* asserts uv_loop_close() == 0 */
    struct timeval tv = {.tv_sec = TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, buf, sizeof buf, 0); /* closed by the server: EOF or reset */
    ck_assert_msg(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK),
                  "the connection is still open (recv %zd)", n);
    close(fd);
}
END_TEST

/* ---------------------------------------------------------- lost replies */

/* Replies are lost on the way back: numbers 1 (the make's), 3 (the
 * reset's: reply 2 answered the make's resend) and 12 (the 8th step's).
 * Each time the client times out a slice, resends with the same id, envd
 * answers from its reply cache, and the episode is Gymnasium's bit for
 * bit. Were a resend executed again, the session would be made twice or
 * step twice and the trajectory would leave the golden one. */
START_TEST(test_lost_replies_are_resent_and_the_trajectory_stays_golden)
{
    static const int drop[] = {1, 3, 12, 0};
    static char resp[64 * 1024];
    server_config_t cfg;
    harness_config(&cfg);
    cfg.metrics_addr = "127.0.0.1:0";
    harness_t *h = harness_start(&cfg);
    proxy_t p;
    proxy_start(&p, h->zctx, h->endpoint, drop);
    /* Slices of 1 s: generous on a loaded machine, yet a drop costs 1 s. */
    client_t *c = client_open(h, p.endpoint, 8000);
    client_set_attempts(c, 8);
    cJSON *cs = golden_case("public/random/0");
    replay_golden_case(c, cs);
    cJSON_Delete(cs);
    client_destroy(&c);
    proxy_stop(&p); /* its counters are read after the join */
    ck_assert_int_eq(p.dropped, 3);
    ck_assert_int_ge(p.requests, p.replies); /* every request answered once, resends included */
    ck_assert_int_ge(p.requests - (p.replies - p.dropped), 3); /* at least one resend per drop */
    ck_assert_uint_eq(stats(h->c).active_sessions, 0); /* the make was not done twice */
    http_exchange(h->metrics_port, "GET /metrics HTTP/1.0\r\n\r\n", resp, sizeof resp);
    const char *m = strstr(resp, "\nenvd_retries_replayed_total ");
    ck_assert_msg(m && strtoull(m + strlen("\nenvd_retries_replayed_total "), NULL, 10) >= 3,
                  "replays not counted: %s", resp);
    ck_message_has(resp, "\nenvd_retries_refused_total 0\n");
    harness_stop(&h);
}
END_TEST

Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("transport");
    tcase_add_test(tc, test_ipc_and_tcp_endpoints_serve_one_table);
    tcase_add_test(tc, test_bad_endpoint_fails_to_start_with_a_message);
    tcase_add_test(tc, test_metrics_port_in_use_fails_and_still_closes_clean);
    tcase_add_test(tc, test_stop_answers_waiting_requests_unavailable_or_not_at_all);
    tcase_add_test(tc, test_loop_closes_clean_with_an_open_http_connection);
    tcase_add_test(tc, test_lost_replies_are_resent_and_the_trajectory_stays_golden);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_add_test(tc, test_multipart_message_is_invalid_argument);
    tcase_add_test(tc, test_oversized_message_is_resource_exhausted);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
