/*
 * check_retry.c — resent requests never act twice (server/retry.c and the
 * service's duplicate rules, docs/protocol.md "Retries").
 *
 * The cache is checked on its own (hits, stale puts, TTL, and fairness:
 * each origin's share of clients and bytes, a full cache that keeps other
 * origins' entries and refuses a newcomer), with expectations worked out
 * by hand in each test's comment. Then requests are encoded and handed to
 * service_handle() twice with the same client_id and id, as a client
 * resending after a timeout would. A duplicate must come back as the very
 * same bytes and must not move the session: the tests compare with an
 * env_t stepped once, and with the service's env_steps counter. A
 * duplicate whose reply was evicted or expired must be refused, again
 * without moving anything. With peers: floods from other connections
 * leave a victim's reply, and another CURVE key reusing its client_id is
 * another client (tests/python/test_retry_attacks.py does both over
 * sockets).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "fixture_server.h"
#include "retry.h"
#include "service.h"
#include "wire.h"

#define NS 4
#define CID_A 0x1111111111111111u
#define CID_B 0x2222222222222222u

/* ---------------------------------------------------------------- cache */

#define ORIGIN_1 0x0101
#define ORIGIN_2 0x0202

static retry_cache_t *cache_new(size_t max_clients, size_t max_bytes, uint64_t ttl_ms)
{
    retry_cache_t *rc = NULL;
    errbuf_t e;
    ck_assert_msg(retry_cache_new(max_clients, max_bytes, ttl_ms, &rc, &e) == 0,
                  "retry_cache_new: %s", e.msg);
    return rc;
}

static int put_from(retry_cache_t *rc, uint64_t origin, uint64_t cid, uint64_t id, const char *text,
                    uint64_t now)
{
    return retry_cache_put(rc, cid, origin, id, 0, text, strlen(text), now);
}

static void put(retry_cache_t *rc, uint64_t cid, uint64_t id, const char *text, uint64_t now)
{
    ck_assert_int_eq(put_from(rc, ORIGIN_1, cid, id, text, now), 0);
}

static const char *find(retry_cache_t *rc, uint64_t cid, uint64_t id, uint64_t now)
{
    static char buf[256];
    size_t len;
    int code;
    const void *p = retry_cache_find(rc, cid, id, now, &len, &code);
    if (!p)
        return NULL;
    ck_assert_uint_lt(len, sizeof buf);
    memcpy(buf, p, len);
    buf[len] = '\0';
    return buf;
}

START_TEST(test_cache_keeps_the_last_reply_per_client)
{
    retry_cache_t *rc = cache_new(8, 1 << 20, 1000);
    put(rc, CID_A, 1, "a1", 0);
    put(rc, CID_B, 1, "b1", 0);
    put(rc, CID_A, 2, "a2", 0);
    ck_assert_str_eq(find(rc, CID_A, 2, 0), "a2");
    ck_assert_ptr_null(find(rc, CID_A, 1, 0)); /* replaced by the later one */
    ck_assert_ptr_null(find(rc, 0x3333, 1, 0));
    put(rc, CID_A, 1, "stale", 0); /* an older id never displaces the latest */
    ck_assert_str_eq(find(rc, CID_A, 2, 0), "a2");
    retry_cache_destroy(&rc);
    ck_assert_ptr_null(rc);
    retry_cache_destroy(&rc); /* safe twice */

    rc = cache_new(100, 1 << 20, 1000);
    put(rc, CID_A, 1, "a1", 0);
    ck_assert_int_eq(put_from(rc, ORIGIN_2, CID_B, 1, "b1", 0), 0);
    ck_assert_str_eq(find(rc, CID_B, 1, 0), "b1");
    ck_assert_uint_eq(retry_cache_count(rc), 2);
    retry_cache_destroy(&rc);
}
END_TEST

/* 128 clients: an origin's share is 128 / 64 = 2 entries. Client ids that
 * collide in the index, as a flooder could pick them if it were not mixed. */
START_TEST(test_cache_an_origin_over_its_share_gives_up_its_own_oldest)
{
    const uint64_t victim = 999ull << 20;
    retry_cache_t *rc = cache_new(128, 1 << 20, 1000);
    ck_assert_int_eq(put_from(rc, ORIGIN_2, victim, 1, "victim", 0), 0);
    for (uint64_t c = 1; c <= 100; c++)
        ck_assert_int_eq(put_from(rc, ORIGIN_1, c << 20, 7, "flood", c), 0);
    ck_assert_uint_eq(retry_cache_count(rc), 3); /* the victim and the flood's last two */
    ck_assert_str_eq(find(rc, victim, 1, 100), "victim");
    ck_assert_ptr_null(find(rc, 98ull << 20, 7, 100));
    ck_assert_str_eq(find(rc, 99ull << 20, 7, 100), "flood");
    ck_assert_str_eq(find(rc, 100ull << 20, 7, 100), "flood");
    ck_assert_uint_eq(retry_cache_origins(rc), 2);

    /* A client that comes back from another origin takes its entry along:
     * ORIGIN_2 then holds the victim and 99, and its next new client
     * pushes out its oldest, the victim, not ORIGIN_1's 100. */
    ck_assert_int_eq(put_from(rc, ORIGIN_2, 99ull << 20, 8, "moved", 101), 0);
    ck_assert_int_eq(put_from(rc, ORIGIN_2, 5, 1, "new", 102), 0);
    ck_assert_ptr_null(find(rc, victim, 1, 102));
    ck_assert_str_eq(find(rc, 99ull << 20, 8, 102), "moved");
    ck_assert_str_eq(find(rc, 100ull << 20, 7, 102), "flood");
    ck_assert_str_eq(find(rc, 5, 1, 102), "new");
    ck_assert_uint_eq(retry_cache_count(rc), 3);
    ck_assert_int_eq(put_from(rc, 0x0303, 100ull << 20, 9, "last", 103), 0);
    ck_assert_uint_eq(retry_cache_origins(rc), 2); /* ORIGIN_1 held nothing else: gone */
    retry_cache_destroy(&rc);
}
END_TEST

/* 4 clients (a share of 1 each): a full cache keeps every origin's entry
 * until it expires, and a new origin's reply is simply not kept. */
START_TEST(test_cache_full_of_other_origins_keeps_them_and_refuses_a_newcomer)
{
    retry_cache_t *rc = cache_new(4, 1 << 20, 1000);
    for (uint64_t o = 1; o <= 4; o++)
        ck_assert_int_eq(put_from(rc, o, o << 20, 1, "held", 0), 0);
    for (uint64_t o = 5; o <= 100; o++)
        ck_assert_int_eq(put_from(rc, o, o << 20, 1, "newcomer", 500), ERR_RESOURCE_EXHAUSTED);
    ck_assert_ptr_null(find(rc, 5ull << 20, 1, 500));
    ck_assert_uint_eq(retry_cache_count(rc), 4);
    ck_assert_uint_eq(retry_cache_origins(rc), 4);
    for (uint64_t o = 1; o <= 4; o++)
        ck_assert_str_eq(find(rc, o << 20, 1, 500), "held");
    /* Established clients go on: a later id replaces their own entry, from
     * the same origin or (a resend's fresh socket) from a new one. */
    ck_assert_int_eq(put_from(rc, 1, 1ull << 20, 2, "next", 600), 0);
    ck_assert_int_eq(put_from(rc, 77, 2ull << 20, 2, "next", 600), 0);
    ck_assert_str_eq(find(rc, 1ull << 20, 2, 600), "next");
    ck_assert_str_eq(find(rc, 2ull << 20, 2, 600), "next");
    /* An origin's new client takes its own origin's place. */
    ck_assert_int_eq(put_from(rc, 3, 33, 1, "own", 600), 0);
    ck_assert_ptr_null(find(rc, 3ull << 20, 1, 600));
    ck_assert_str_eq(find(rc, 4ull << 20, 1, 600), "held");
    /* At 1001 ms, client 4's entry (stored at 0) has expired: room again. */
    ck_assert_int_eq(put_from(rc, 5, 5ull << 20, 1, "newcomer", 1001), 0);
    ck_assert_ptr_null(find(rc, 4ull << 20, 1, 1001));
    ck_assert_str_eq(find(rc, 5ull << 20, 1, 1001), "newcomer");
    ck_assert_uint_eq(retry_cache_count(rc), 4);
    retry_cache_destroy(&rc);
}
END_TEST

/* 640 clients and 2560 bytes: an origin's share is 40 bytes beyond its
 * newest reply. */
START_TEST(test_cache_bytes_are_shared_out_by_origin_too)
{
    retry_cache_t *rc = cache_new(640, 2560, 1000);
    char ten[] = "0123456789", big[101], huge[2600];
    memset(big, 'b', 100);
    big[100] = '\0';
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    for (uint64_t c = 1; c <= 5; c++)
        ck_assert_int_eq(put_from(rc, ORIGIN_1, c, 1, ten, 0), 0);
    ck_assert_uint_eq(retry_cache_bytes(rc), 40); /* 5 x 10 > 40: client 1 went */
    ck_assert_ptr_null(find(rc, 1, 1, 0));
    ck_assert_str_eq(find(rc, 2, 1, 0), ten);
    /* One reply over the share is kept alone: its origin's others go. */
    ck_assert_int_eq(put_from(rc, ORIGIN_1, 6, 1, big, 0), 0);
    ck_assert_uint_eq(retry_cache_count(rc), 1);
    ck_assert_uint_eq(retry_cache_bytes(rc), 100);
    /* Other origins fill the rest: 24 x 100 bytes = 2500 in all... */
    for (uint64_t o = 2; o <= 25; o++)
        ck_assert_int_eq(put_from(rc, o, 100 + o, 1, big, 0), 0);
    ck_assert_uint_eq(retry_cache_bytes(rc), 2500);
    /* ...so the next 100 bytes do not fit, and nobody else gives way. */
    ck_assert_int_eq(put_from(rc, 99, 999, 1, big, 0), ERR_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(put_from(rc, 99, 999, 1, ten, 0), 0);
    ck_assert_uint_eq(retry_cache_bytes(rc), 2510);
    ck_assert_str_eq(find(rc, 6, 1, 0), big);
    /* A reply over the whole bound is kept by no one. */
    ck_assert_int_eq(put_from(rc, 100, 1000, 1, huge, 0), ERR_RESOURCE_EXHAUSTED);
    ck_assert_uint_le(retry_cache_bytes(rc), 2560);
    ck_assert_uint_eq(retry_cache_count(rc), 26);
    retry_cache_destroy(&rc);
}
END_TEST

START_TEST(test_cache_drops_entries_after_the_ttl)
{
    retry_cache_t *rc = cache_new(100, 1 << 20, 1000);
    put(rc, CID_A, 1, "old", 0);
    ck_assert_int_eq(put_from(rc, ORIGIN_2, CID_B, 1, "new", 600), 0);
    ck_assert_str_eq(find(rc, CID_A, 1, 1000), "old");
    ck_assert_ptr_null(find(rc, CID_A, 1, 1001)); /* expired on lookup */
    ck_assert_uint_eq(retry_cache_origins(rc), 1);
    ck_assert_uint_eq(retry_cache_expire(rc, 1601), 1);
    ck_assert_uint_eq(retry_cache_count(rc), 0);
    ck_assert_uint_eq(retry_cache_origins(rc), 0);
    retry_cache_destroy(&rc);
}
END_TEST

/* -------------------------------------------------------------- service */

typedef struct fixture {
    svc_fixture_t sf; /* the service, its buffers, the peer and the clock */
    wire_buf_t first; /* a reply kept to compare a duplicate's with */
    uint64_t ids[NS];
    env_t *ref[NS]; /* each session's twin, stepped once per step meant */
} fixture_t;

/* Sends the bytes in f->sf.in again; the reply is in f->sf.out. */
static void send_in(fixture_t *f, wire_reply_t *rep) { svc_fixture_send(&f->sf, rep); }

static void call(fixture_t *f, wire_request_t *req, uint64_t cid, uint64_t id, wire_reply_t *rep)
{
    req->client_id = cid;
    req->id = id;
    svc_fixture_call(&f->sf, req, rep);
}

/* Keeps a copy of the last reply's bytes. */
static void keep_reply(fixture_t *f)
{
    f->first.data = realloc(f->first.data, f->sf.out.len);
    memcpy(f->first.data, f->sf.out.data, f->sf.out.len);
    f->first.len = f->sf.out.len;
}

static void ck_same_reply(const fixture_t *f)
{
    ck_assert_uint_eq(f->sf.out.len, f->first.len);
    ck_assert_msg(memcmp(f->sf.out.data, f->first.data, f->sf.out.len) == 0,
                  "the duplicate's reply differs from the first");
}

static void fixture_init(fixture_t *f, size_t retry_clients, uint64_t retry_ttl_ms)
{
    memset(f, 0, sizeof *f);
    service_config_t cfg = {.max_sessions = 64, .max_batch = 16, .session_ttl_ms = 3600000,
                            .max_message_size = 1 << 20, .retry_clients = retry_clients,
                            .retry_ttl_ms = retry_ttl_ms};
    svc_fixture_init(&f->sf, &cfg);
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = NS}};
    wire_reply_t rep;
    call(f, &req, 0, 1, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    memcpy(f->ids, rep.make.sessions, sizeof f->ids);
    float obs[4];
    for (int i = 0; i < NS; i++) {
        uint64_t seed = 50 + (uint64_t)i;
        f->ref[i] = local_env("CartPole-v1", NULL, 0);
        local_reset(f->ref[i], &seed, obs);
        wire_request_t r = {.op = WIRE_OP_RESET, .reset = {.session = f->ids[i], .has_seed = true,
                                                            .seed = seed}};
        call(f, &r, 0, 2, &rep);
        ck_assert_int_eq(rep.code, ERR_OK);
    }
}

static void fixture_deinit(fixture_t *f)
{
    for (int i = 0; i < NS; i++)
        free(f->ref[i]);
    svc_fixture_deinit(&f->sf);
    wire_buf_deinit(&f->first);
}

static uint64_t env_steps(const fixture_t *f) { return service_stats(f->sf.svc)->env_steps; }

/* Steps session i with the action (client 0: no retry identity) and checks
 * the reply against its twin stepped once: proof that every step before
 * moved the session exactly as often as the twin. */
static void step_and_compare(fixture_t *f, int i, int64_t action)
{
    wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = f->ids[i], .action = action}};
    wire_reply_t rep;
    call(f, &req, 0, 999, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    step_result_t want;
    local_step(f->ref[i], action, &want);
    ck_assert_msg(memcmp(rep.step.obs.data, want.obs, sizeof want.obs) == 0,
                  "session %d is not where one step per request puts it", i);
    ck_assert(rep.step.reward == want.reward && rep.step.terminated == want.terminated &&
              rep.step.truncated == want.truncated);
}

static void twin_step(fixture_t *f, int i, int64_t action)
{
    step_result_t r;
    local_step(f->ref[i], action, &r);
}

START_TEST(test_duplicate_step_steps_once_and_gets_the_same_bytes)
{
    fixture_t f;
    fixture_init(&f, 0, 0);
    wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = f.ids[0], .action = 1}};
    wire_reply_t rep;
    uint64_t steps = env_steps(&f);
    call(&f, &req, CID_A, 10, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    keep_reply(&f);
    twin_step(&f, 0, 1);
    send_in(&f, &rep); /* the very same bytes again: a resend */
    ck_same_reply(&f);
    ck_assert_uint_eq(env_steps(&f), steps + 1);
    ck_assert_uint_eq(service_stats(f.sf.svc)->retries_replayed, 1);
    call(&f, &req, CID_A, 11, &rep); /* a new id is a new step */
    ck_assert_int_eq(rep.code, ERR_OK);
    twin_step(&f, 0, 1);
    ck_assert_uint_eq(env_steps(&f), steps + 2);
    call(&f, &req, CID_B, 10, &rep); /* another client's id 10 is its own */
    ck_assert_int_eq(rep.code, ERR_OK);
    twin_step(&f, 0, 1);
    step_and_compare(&f, 0, 0);
    fixture_deinit(&f);
}
END_TEST

START_TEST(test_duplicate_reset_does_not_advance_the_stream)
{
    fixture_t f;
    fixture_init(&f, 0, 0);
    wire_request_t req = {.op = WIRE_OP_RESET, .reset = {.session = f.ids[1]}}; /* unseeded */
    wire_reply_t rep;
    call(&f, &req, CID_A, 20, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    keep_reply(&f);
    float obs[4];
    errbuf_t e;
    ck_assert_int_eq(env_reset(f.ref[1], NULL, NULL, 0, obs, &e), 0);
    send_in(&f, &rep);
    ck_same_reply(&f);
    step_and_compare(&f, 1, 1);
    fixture_deinit(&f);
}
END_TEST

static void step_batch_req(fixture_t *f, wire_request_t *req, const int64_t *acts)
{
    memset(req, 0, sizeof *req);
    req->op = WIRE_OP_STEP_BATCH;
    req->step_batch.sessions = f->ids;
    req->step_batch.n = NS;
    req->step_batch.actions = (wire_tensor_t){.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                              .shape = {NS}, .data = acts,
                                              .len = NS * sizeof *acts};
    req->step_batch.autoreset = WIRE_AUTORESET_DISABLED;
}

START_TEST(test_duplicate_step_batch_steps_once_and_gets_the_same_bytes)
{
    fixture_t f;
    fixture_init(&f, 0, 0);
    static const int64_t acts[NS] = {0, 1, 1, 0};
    wire_request_t req;
    wire_reply_t rep;
    step_batch_req(&f, &req, acts);
    uint64_t steps = env_steps(&f);
    call(&f, &req, CID_A, 30, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    keep_reply(&f);
    send_in(&f, &rep);
    ck_same_reply(&f);
    send_in(&f, &rep);
    ck_same_reply(&f);
    ck_assert_uint_eq(env_steps(&f), steps + NS);
    call(&f, &req, CID_A, 31, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    ck_assert_uint_eq(env_steps(&f), steps + 2 * NS);
    for (int i = 0; i < NS; i++) {
        twin_step(&f, i, acts[i]);
        twin_step(&f, i, acts[i]);
        step_and_compare(&f, i, 1);
    }
    fixture_deinit(&f);
}
END_TEST

/* With room for one client only, client B's request from the same
 * connection (no peer: all one connection) evicts A's reply: A's resend is
 * then refused, never executed again, single or batch; an older id is
 * refused as stale. */
START_TEST(test_duplicate_whose_reply_was_evicted_is_refused_not_executed)
{
    fixture_t f;
    fixture_init(&f, 1, 0);
    wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = f.ids[0], .action = 1}};
    wire_request_t other = {.op = WIRE_OP_STEP, .step = {.session = f.ids[3], .action = 0}};
    wire_reply_t rep;
    call(&f, &req, CID_A, 40, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    twin_step(&f, 0, 1);
    call(&f, &other, CID_B, 1, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    twin_step(&f, 3, 0);
    uint64_t steps = env_steps(&f);
    call(&f, &req, CID_A, 40, &rep);
    ck_assert_int_eq(rep.code, ERR_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(rep.message, "duplicate request id 40"));
    ck_assert_ptr_nonnull(strstr(rep.message, "no longer cached"));
    call(&f, &req, CID_A, 39, &rep);
    ck_assert_int_eq(rep.code, ERR_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(rep.message, "stale request id 39"));
    ck_assert_uint_eq(env_steps(&f), steps);

    static const int64_t acts[NS] = {1, 0, 1, 0};
    wire_request_t batch;
    step_batch_req(&f, &batch, acts);
    call(&f, &batch, CID_A, 41, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    for (int i = 0; i < NS; i++)
        twin_step(&f, i, acts[i]);
    call(&f, &other, CID_B, 2, &rep); /* evicts A's batch reply */
    ck_assert_int_eq(rep.code, ERR_OK);
    twin_step(&f, 3, 0);
    steps = env_steps(&f);
    call(&f, &batch, CID_A, 41, &rep);
    ck_assert_int_eq(rep.code, ERR_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(rep.message, "no longer cached"));
    ck_assert_uint_eq(env_steps(&f), steps);
    ck_assert_uint_eq(service_stats(f.sf.svc)->retries_refused, 3);
    for (int i = 0; i < NS; i++)
        step_and_compare(&f, i, 0);
    fixture_deinit(&f);
}
END_TEST

START_TEST(test_duplicate_after_the_ttl_is_refused_not_executed)
{
    fixture_t f;
    fixture_init(&f, 0, 50);
    wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = f.ids[2], .action = 0}};
    wire_reply_t rep;
    call(&f, &req, CID_A, 7, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    twin_step(&f, 2, 0);
    f.sf.now += 51;
    call(&f, &req, CID_A, 7, &rep);
    ck_assert_int_eq(rep.code, ERR_FAILED_PRECONDITION);
    step_and_compare(&f, 2, 1);
    fixture_deinit(&f);
}
END_TEST

/* client_id 0 (a 1.0 client) asks for no protection: the same id steps
 * again, as before 1.1. */
START_TEST(test_client_id_0_executes_every_copy)
{
    fixture_t f;
    fixture_init(&f, 0, 0);
    wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = f.ids[0], .action = 1}};
    wire_reply_t rep;
    call(&f, &req, 0, 5, &rep);
    send_in(&f, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    twin_step(&f, 0, 1);
    twin_step(&f, 0, 1);
    step_and_compare(&f, 0, 0);
    fixture_deinit(&f);
}
END_TEST

/* ------------------------------------------------------------ peers */

/* Connections as the transport names them (ZeroMQ routing ids) and CURVE
 * keys as the ZAP handler does (Z85 text). */
static const service_peer_t victim_conn = {.conn = "\0\x11\x11\x11\x11", .conn_len = 5};
static const service_peer_t victim_conn2 = {.conn = "\0\x11\x11\x11\x12", .conn_len = 5};
static const service_peer_t victim_key = {.conn = "\0\x11\x11\x11\x11", .conn_len = 5,
                                          .key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", .key_len = 40};
static const service_peer_t victim_key2 = {.conn = "\0\x11\x11\x11\x12", .conn_len = 5,
                                           .key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", .key_len = 40};
static const service_peer_t mallory_key = {.conn = "\0\x22\x22\x22\x22", .conn_len = 5,
                                           .key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID", .key_len = 40};

/* Fresh client ids from one connection, then each from its own
 * connection, between a victim's step and its resend. The default cache
 * holds 4096 clients, a connection 4096 / 64 = 64 of them: the first flood
 * churns its own 64; the second fills the cache (4096 - 1 - 64 = 4031
 * admitted) and the rest, 5000 - 4031 = 969, are not kept. */
START_TEST(test_a_flood_from_other_connections_leaves_a_victims_reply)
{
    fixture_t f;
    fixture_init(&f, 0, 0);
    wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = f.ids[0], .action = 1}};
    wire_request_t nothing = {.op = WIRE_OP_CLOSE};
    wire_reply_t rep;
    f.sf.peer = &victim_conn;
    call(&f, &req, CID_A, 10, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    keep_reply(&f);
    twin_step(&f, 0, 1);

    service_peer_t flooder = {.conn = "flooder", .conn_len = 7};
    f.sf.peer = &flooder;
    for (uint64_t c = 1; c <= 5000; c++) {
        call(&f, &nothing, c << 13, 1, &rep);
        ck_assert_int_eq(rep.code, ERR_OK);
    }
    ck_assert_uint_eq(service_stats(f.sf.svc)->retries_not_kept, 0);
    uint8_t rid[5] = {0};
    flooder.conn = rid;
    flooder.conn_len = sizeof rid;
    for (uint32_t c = 1; c <= 5000; c++) {
        memcpy(rid + 1, &c, sizeof c);
        call(&f, &nothing, (5000 + c) << 13, 1, &rep);
        ck_assert_int_eq(rep.code, ERR_OK);
    }
    ck_assert_uint_eq(service_stats(f.sf.svc)->retries_not_kept, 969);

    uint64_t steps = env_steps(&f);
    f.sf.peer = &victim_conn2; /* the resend's fresh socket */
    call(&f, &req, CID_A, 10, &rep);
    ck_same_reply(&f);
    ck_assert_uint_eq(env_steps(&f), steps);
    call(&f, &req, CID_A, 11, &rep); /* and the victim goes on */
    ck_assert_int_eq(rep.code, ERR_OK);
    keep_reply(&f);
    twin_step(&f, 0, 1);
    call(&f, &req, CID_A, 11, &rep);
    ck_same_reply(&f);
    step_and_compare(&f, 0, 0);
    fixture_deinit(&f);
}
END_TEST

/* Under CURVE, mallory's key reusing the victim's client_id reads none of
 * its replies (the make's, with its session ids) and cannot lock it out
 * with a huge id, in the cache or in the marks of a session whose id it
 * has learnt. */
START_TEST(test_another_key_with_the_same_client_id_is_another_client)
{
    fixture_t f;
    fixture_init(&f, 0, 0);
    wire_request_t make = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 1}};
    wire_request_t nothing = {.op = WIRE_OP_CLOSE};
    wire_reply_t rep;
    f.sf.peer = &victim_key;
    call(&f, &make, CID_A, 1, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    keep_reply(&f);
    f.sf.peer = &mallory_key;
    call(&f, &nothing, CID_A, 1, &rep); /* the victim's (client_id, id) */
    ck_assert_int_eq(rep.code, ERR_OK);
    ck_assert_int_eq(rep.op, WIRE_OP_CLOSE);
    ck_assert_uint_eq(rep.close.closed, 0);
    f.sf.peer = &victim_key2;
    call(&f, &make, CID_A, 1, &rep);
    ck_same_reply(&f);

    wire_request_t step = {.op = WIRE_OP_STEP, .step = {.session = f.ids[1], .action = 1}};
    call(&f, &step, CID_A, 2, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    keep_reply(&f);
    twin_step(&f, 1, 1);
    f.sf.peer = &mallory_key;
    call(&f, &nothing, CID_A, UINT64_MAX - 1, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    wire_request_t poison = {.op = WIRE_OP_STEP, .step = {.session = f.ids[2], .action = 0}};
    call(&f, &poison, CID_A, UINT64_MAX, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    twin_step(&f, 2, 0);

    uint64_t steps = env_steps(&f);
    f.sf.peer = &victim_key;
    call(&f, &step, CID_A, 2, &rep);
    ck_same_reply(&f);
    ck_assert_uint_eq(env_steps(&f), steps);
    step.step.session = f.ids[2];
    call(&f, &step, CID_A, 3, &rep); /* not "stale": mallory's marks are mallory's */
    ck_assert_int_eq(rep.code, ERR_OK);
    keep_reply(&f);
    twin_step(&f, 2, 1);
    f.sf.peer = &victim_key2;
    call(&f, &step, CID_A, 3, &rep);
    ck_same_reply(&f);
    step_and_compare(&f, 1, 0);
    step_and_compare(&f, 2, 0);
    fixture_deinit(&f);
}
END_TEST

/* Without CURVE the client_id is a bearer secret: from any connection it
 * names the same client, as a resend on a fresh socket needs. */
START_TEST(test_without_curve_the_client_id_alone_names_the_client)
{
    fixture_t f;
    fixture_init(&f, 0, 0);
    wire_request_t step = {.op = WIRE_OP_STEP, .step = {.session = f.ids[3], .action = 1}};
    wire_request_t nothing = {.op = WIRE_OP_CLOSE};
    wire_reply_t rep;
    f.sf.peer = &victim_conn;
    call(&f, &step, CID_A, 5, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    keep_reply(&f);
    twin_step(&f, 3, 1);
    f.sf.peer = &victim_conn2;
    call(&f, &nothing, CID_A, 5, &rep);
    ck_same_reply(&f);
    step_and_compare(&f, 3, 0);
    fixture_deinit(&f);
}
END_TEST

Suite *retry_suite(void)
{
    Suite *s = suite_create("retry");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, test_cache_keeps_the_last_reply_per_client);
    tcase_add_test(tc, test_cache_an_origin_over_its_share_gives_up_its_own_oldest);
    tcase_add_test(tc, test_cache_full_of_other_origins_keeps_them_and_refuses_a_newcomer);
    tcase_add_test(tc, test_cache_bytes_are_shared_out_by_origin_too);
    tcase_add_test(tc, test_cache_drops_entries_after_the_ttl);
    suite_add_tcase(s, tc);
    tc = tcase_create("service");
    tcase_add_test(tc, test_duplicate_step_steps_once_and_gets_the_same_bytes);
    tcase_add_test(tc, test_duplicate_reset_does_not_advance_the_stream);
    tcase_add_test(tc, test_duplicate_step_batch_steps_once_and_gets_the_same_bytes);
    tcase_add_test(tc, test_duplicate_whose_reply_was_evicted_is_refused_not_executed);
    tcase_add_test(tc, test_duplicate_after_the_ttl_is_refused_not_executed);
    tcase_add_test(tc, test_client_id_0_executes_every_copy);
    tcase_add_test(tc, test_a_flood_from_other_connections_leaves_a_victims_reply);
    tcase_add_test(tc, test_another_key_with_the_same_client_id_is_another_client);
    tcase_add_test(tc, test_without_curve_the_client_id_alone_names_the_client);
    suite_add_tcase(s, tc);
    return s;
}
