/*
 * check_client.c — the client's waiting rules against a server the test
 * controls: a ROUTER socket in this process that answers only when told,
 * so "no reply yet", "reply arrived" and "timed out" are each certain and
 * no assertion depends on timing.
 */
#include <check.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"

typedef struct fake_server {
    void *zctx, *router;
    void *client_zctx; /* the client under test, in a context of its own */
    client_t *c;
    char endpoint[128];
    zmq_msg_t ident;  /* the identity of the last request received */
    uint64_t last_id; /* its request id */
    uint64_t last_client_id;
    unsigned char last_body[256]; /* its bytes */
    size_t last_len;
} fake_server_t;

/* Opens the fake server and a client of it (ZeroMQ context of its own)
 * with this timeout and CLIENT_ATTEMPTS attempts. */
static void fake_open(fake_server_t *f, int timeout_ms)
{
    memset(f, 0, sizeof *f);
    f->zctx = zmq_ctx_new();
    f->router = zmq_socket(f->zctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    ck_assert_int_eq(zmq_bind(f->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof f->endpoint;
    zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len);
    zmq_msg_init(&f->ident);
    f->client_zctx = zmq_ctx_new();
    errbuf_t e;
    ck_assert_int_eq(client_new(f->client_zctx, f->endpoint, timeout_ms, &f->c, &e), 0);
}

static void fake_close(fake_server_t *f)
{
    client_destroy(&f->c);
    zmq_ctx_term(f->client_zctx);
    zmq_msg_close(&f->ident);
    zmq_close(f->router);
    zmq_ctx_term(f->zctx);
}

/* Receives one request (waiting at most 5 s) and remembers who sent it. */
static void fake_take(fake_server_t *f)
{
    zmq_pollitem_t item = {f->router, 0, ZMQ_POLLIN, 0};
    ck_assert_int_eq(zmq_poll(&item, 1, 5000), 1);
    zmq_msg_close(&f->ident);
    zmq_msg_init(&f->ident);
    ck_assert_int_ge(zmq_msg_recv(&f->ident, f->router, 0), 0);
    zmq_msg_t body;
    zmq_msg_init(&body);
    ck_assert_int_ge(zmq_msg_recv(&body, f->router, 0), 0);
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(4096, &a, NULL), 0);
    wire_request_t req;
    errbuf_t e;
    ck_assert_int_eq(wire_decode_request(a, zmq_msg_data(&body), zmq_msg_size(&body), &req, &e),
                     0);
    f->last_id = req.id;
    f->last_client_id = req.client_id;
    f->last_len = zmq_msg_size(&body) < sizeof f->last_body ? zmq_msg_size(&body) : sizeof f->last_body;
    memcpy(f->last_body, zmq_msg_data(&body), f->last_len);
    arena_destroy(&a);
    zmq_msg_close(&body);
}

/* Answers the last request taken with a ping reply carrying payload. */
static void fake_answer(fake_server_t *f, const char *payload)
{
    wire_reply_t rep = {.major = WIRE_MAJOR, .id = f->last_id, .message = "", .op = WIRE_OP_PING};
    rep.ping.payload = payload;
    rep.ping.len = strlen(payload);
    wire_buf_t buf = {0};
    ck_assert_int_eq(wire_encode_reply(&rep, &buf), 0);
    zmq_msg_t ident;
    zmq_msg_init(&ident);
    zmq_msg_copy(&ident, &f->ident);
    ck_assert_int_ge(zmq_msg_send(&ident, f->router, ZMQ_SNDMORE), 0);
    ck_assert_int_ge(zmq_send(f->router, buf.data, buf.len, 0), 0);
    wire_buf_deinit(&buf);
}

static void send_ping(client_t *c)
{
    wire_request_t req = {.op = WIRE_OP_PING};
    errbuf_t e;
    ck_assert_int_eq(client_send(c, &req, &e), 0);
}

/* client_try_recv once a millisecond until it returns non-zero (5 s at most). */
static int try_recv_polling(client_t *c, wire_reply_t *rep, errbuf_t *e)
{
    int rc = 0;
    for (int i = 0; i < 5000 && rc == 0; i++) {
        rc = client_try_recv(c, rep, e);
        if (rc == 0)
            usleep(1000);
    }
    return rc;
}

START_TEST(test_try_recv_is_zero_until_the_reply_arrives_then_one)
{
    fake_server_t f;
    fake_open(&f, 60000);
    client_t *c = f.c;
    errbuf_t e;
    send_ping(c);
    fake_take(&f);
    wire_reply_t rep;
    ck_assert_int_eq(client_try_recv(c, &rep, &e), 0); /* not answered yet */
    fake_answer(&f, "hi");
    ck_assert_int_eq(try_recv_polling(c, &rep, &e), 1);
    ck_assert_int_eq(rep.op, WIRE_OP_PING);
    ck_assert_uint_eq(rep.ping.len, 2);
    ck_assert_int_eq(memcmp(rep.ping.payload, "hi", 2), 0);
    fake_close(&f);
}
END_TEST

START_TEST(test_try_recv_times_out_and_the_late_reply_is_never_taken_for_the_next)
{
    fake_server_t f;
    fake_open(&f, 30);
    client_t *c = f.c;
    errbuf_t e;
    client_set_attempts(c, 1); /* the rule under test here; resends are tested below */
    send_ping(c);
    fake_take(&f);
    wire_reply_t rep;
    ck_assert_int_eq(try_recv_polling(c, &rep, &e), ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(e.msg, "did not answer"));
    /* The server answers the abandoned request late; it must not be read
     * as the answer to the next one. */
    fake_answer(&f, "old");
    send_ping(c);
    fake_take(&f);
    fake_answer(&f, "new");
    ck_assert_int_eq(client_recv(c, &rep, &e), 0);
    ck_assert_uint_eq(rep.ping.len, 3);
    ck_assert_int_eq(memcmp(rep.ping.payload, "new", 3), 0);
    fake_close(&f);
}
END_TEST

START_TEST(test_reset_abandons_the_request_in_flight)
{
    fake_server_t f;
    fake_open(&f, 60000);
    client_t *c = f.c;
    errbuf_t e;
    send_ping(c);
    fake_take(&f);
    client_reset(c);
    fake_answer(&f, "old"); /* goes to the closed socket */
    send_ping(c);
    fake_take(&f);
    fake_answer(&f, "new");
    wire_reply_t rep;
    ck_assert_int_eq(client_recv(c, &rep, &e), 0);
    ck_assert_int_eq(memcmp(rep.ping.payload, "new", 3), 0);
    fake_close(&f);
}
END_TEST

/* A slice of the timeout passes unanswered: the client sends the very same
 * bytes (same id, same client_id) from a new socket, and takes the answer
 * to that resend. The fake answers every resend, so a slow machine only
 * makes for more of them. */
START_TEST(test_recv_resends_the_same_request_from_a_fresh_socket)
{
    fake_server_t f;
    fake_open(&f, 8000);
    client_t *c = f.c;
    errbuf_t e;
    client_set_attempts(c, 8);
    send_ping(c);
    fake_take(&f); /* never answered */
    unsigned char first[256];
    size_t first_len = f.last_len;
    memcpy(first, f.last_body, first_len);
    zmq_msg_t first_ident;
    zmq_msg_init(&first_ident);
    zmq_msg_copy(&first_ident, &f.ident);
    ck_assert_uint_ne(f.last_client_id, 0);
    ck_assert_uint_eq(f.last_client_id, client_id(c));

    wire_reply_t rep;
    int rc = 0, resends = 0;
    for (int i = 0; i < 20000 && rc == 0; i++) {
        rc = client_try_recv(c, &rep, &e);
        zmq_pollitem_t item = {f.router, 0, ZMQ_POLLIN, 0};
        if (rc == 0 && zmq_poll(&item, 1, 1) == 1) {
            fake_take(&f);
            resends++;
            ck_assert_uint_eq(f.last_len, first_len);
            ck_assert_int_eq(memcmp(f.last_body, first, first_len), 0);
            ck_assert_msg(zmq_msg_size(&f.ident) != zmq_msg_size(&first_ident) ||
                              memcmp(zmq_msg_data(&f.ident), zmq_msg_data(&first_ident),
                                     zmq_msg_size(&f.ident)) != 0,
                          "the resend came from the same socket");
            fake_answer(&f, "again");
        }
    }
    ck_assert_msg(rc == 1, "no reply taken: %d %s", rc, rc < 0 ? e.msg : "");
    ck_assert_int_ge(resends, 1);
    ck_assert_uint_eq(rep.ping.len, 5);
    ck_assert_int_eq(memcmp(rep.ping.payload, "again", 5), 0);
    zmq_msg_close(&first_ident);
    fake_close(&f);
}
END_TEST

/* Resends stay within the one timeout: a server that never answers gets
 * `attempts` copies and then the caller gets ERR_TIMEOUT. */
START_TEST(test_recv_times_out_after_all_attempts)
{
    fake_server_t f;
    fake_open(&f, 1500);
    client_t *c = f.c;
    errbuf_t e;
    send_ping(c);
    wire_reply_t rep;
    ck_assert_int_eq(client_recv(c, &rep, &e), ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(e.msg, "did not answer"));
    int got = 0;
    zmq_pollitem_t item = {f.router, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&item, 1, got < CLIENT_ATTEMPTS ? 5000 : 200) == 1) {
        fake_take(&f);
        ck_assert_uint_eq(f.last_id, 1);
        got++;
    }
    ck_assert_int_le(got, CLIENT_ATTEMPTS);
    ck_assert_int_ge(got, 1);
    fake_close(&f);
}
END_TEST

/* With a retransmission timeout the resends come one RTO and then two
 * after the previous (20 ms, 60 ms), not at slices of the timeout (20 s
 * here: fake_take waits 5 s at most), and the last send still waits out
 * the whole timeout; a reply to a resent request gives no round trip
 * (Karn), one to a first send does. */
START_TEST(test_rto_resends_early_and_the_last_send_waits_out_the_timeout)
{
    fake_server_t f;
    fake_open(&f, 60000);
    client_t *c = f.c;
    client_set_rto(c, 20);
    ck_assert_int_eq(client_rtt_us(c), -1);
    errbuf_t e;
    wire_reply_t rep;
    send_ping(c);
    fake_take(&f);
    uint64_t id = f.last_id;
    for (int resend = 0; resend < CLIENT_ATTEMPTS - 1; resend++) {
        zmq_pollitem_t item = {f.router, 0, ZMQ_POLLIN, 0};
        int waited = 0;
        while (zmq_poll(&item, 1, 0) == 0 && waited++ < 5000) {
            ck_assert_int_eq(client_try_recv(c, &rep, &e), 0);
            usleep(1000);
        }
        fake_take(&f);
        ck_assert_uint_eq(f.last_id, id); /* the same request again */
    }
    for (int i = 0; i < 300; i++) { /* 300+ ms: far past 7 RTOs, far from 60 s */
        ck_assert_int_eq(client_try_recv(c, &rep, &e), 0);
        usleep(1000);
    }
    fake_answer(&f, "late");
    ck_assert_int_eq(try_recv_polling(c, &rep, &e), 1);
    ck_assert_int_eq(client_rtt_us(c), -1);
    send_ping(c);
    fake_take(&f);
    fake_answer(&f, "now");
    ck_assert_int_eq(try_recv_polling(c, &rep, &e), 1);
    ck_assert_int_ge(client_rtt_us(c), 0);
    fake_close(&f);
}
END_TEST

Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("waiting");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_try_recv_is_zero_until_the_reply_arrives_then_one);
    tcase_add_test(tc, test_try_recv_times_out_and_the_late_reply_is_never_taken_for_the_next);
    tcase_add_test(tc, test_reset_abandons_the_request_in_flight);
    tcase_add_test(tc, test_recv_resends_the_same_request_from_a_fresh_socket);
    tcase_add_test(tc, test_recv_times_out_after_all_attempts);
    tcase_add_test(tc, test_rto_resends_early_and_the_last_send_waits_out_the_timeout);
    suite_add_tcase(s, tc);
    return s;
}
