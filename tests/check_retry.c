/*
 * check_retry.c — resent requests never act twice (server/retry.c and the
 * service's duplicate rules, docs/protocol.md "Retries").
 *
 * The cache is checked on its own (hits, LRU and byte bounds, TTL, stale
 * puts); then requests are encoded and handed to service_handle() twice
 * with the same client_id and id, as a client resending after a timeout
 * would. A duplicate must come back as the very same bytes and must not
 * move the session: the tests compare with an env_t stepped once, and with
 * the service's env_steps counter. A duplicate whose reply was evicted or
 * expired must be refused, again without moving anything.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "retry.h"
#include "service.h"
#include "wire.h"

#define NS 4
#define CID_A 0x1111111111111111u
#define CID_B 0x2222222222222222u

/* ---------------------------------------------------------------- cache */

static void put(retry_cache_t *rc, uint64_t cid, uint64_t id, const char *text, uint64_t now)
{
    ck_assert_int_eq(retry_cache_put(rc, cid, id, 0, text, strlen(text), now), 0);
}

static const char *find(retry_cache_t *rc, uint64_t cid, uint64_t id, uint64_t now)
{
    static char buf[64];
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
    retry_cache_t *rc = retry_cache_new(8, 1 << 20, 1000);
    put(rc, CID_A, 1, "a1", 0);
    put(rc, CID_B, 1, "b1", 0);
    put(rc, CID_A, 2, "a2", 0);
    ck_assert_str_eq(find(rc, CID_A, 2, 0), "a2");
    ck_assert_ptr_null(find(rc, CID_A, 1, 0)); /* replaced by the later one */
    ck_assert_str_eq(find(rc, CID_B, 1, 0), "b1");
    ck_assert_ptr_null(find(rc, 0x3333, 1, 0));
    put(rc, CID_A, 1, "stale", 0); /* an older id never displaces the latest */
    ck_assert_str_eq(find(rc, CID_A, 2, 0), "a2");
    ck_assert_uint_eq(retry_cache_count(rc), 2);
    retry_cache_destroy(&rc);
    ck_assert_ptr_null(rc);
    retry_cache_destroy(&rc); /* safe twice */
}
END_TEST

START_TEST(test_cache_evicts_least_recent_clients_by_count_bytes_and_age)
{
    retry_cache_t *rc = retry_cache_new(3, 1 << 20, 1000);
    for (uint64_t c = 1; c <= 100; c++) /* ids that collide in the index too */
        put(rc, c << 20, 7, "x", 0);
    ck_assert_uint_eq(retry_cache_count(rc), 3);
    ck_assert_ptr_null(find(rc, 97ull << 20, 7, 0));
    for (uint64_t c = 98; c <= 100; c++)
        ck_assert_str_eq(find(rc, c << 20, 7, 0), "x");
    retry_cache_destroy(&rc);

    rc = retry_cache_new(100, 10, 1000); /* 10 bytes in all */
    put(rc, CID_A, 1, "aaaa", 0);
    put(rc, CID_B, 1, "bbbb", 0);
    put(rc, 0x33, 1, "cccc", 0); /* 12 bytes: A, the oldest, goes */
    ck_assert_ptr_null(find(rc, CID_A, 1, 0));
    ck_assert_str_eq(find(rc, CID_B, 1, 0), "bbbb");
    ck_assert_uint_le(retry_cache_bytes(rc), 10);
    put(rc, 0x44, 1, "a reply over the bound", 0); /* alone too big: kept by no one */
    ck_assert_ptr_null(find(rc, 0x44, 1, 0));
    ck_assert_uint_le(retry_cache_bytes(rc), 10);
    retry_cache_destroy(&rc);

    rc = retry_cache_new(100, 1 << 20, 1000);
    put(rc, CID_A, 1, "old", 0);
    put(rc, CID_B, 1, "new", 600);
    ck_assert_str_eq(find(rc, CID_A, 1, 1000), "old");
    ck_assert_ptr_null(find(rc, CID_A, 1, 1001)); /* expired on lookup */
    ck_assert_uint_eq(retry_cache_expire(rc, 1601), 1);
    ck_assert_uint_eq(retry_cache_count(rc), 0);
    retry_cache_destroy(&rc);
}
END_TEST

/* -------------------------------------------------------------- service */

typedef struct fixture {
    service_t *svc;
    wire_arena_t *arena;
    wire_buf_t in, out, first;
    uint64_t ids[NS];
    env_t *ref[NS]; /* each session's twin, stepped once per step meant */
    uint64_t now;
} fixture_t;

/* Sends the bytes in f->in; the reply is in f->out and decoded into rep. */
static void send_in(fixture_t *f, wire_reply_t *rep)
{
    service_handle(f->svc, f->in.data, f->in.len, f->now, &f->out, NULL);
    wire_arena_reset(f->arena);
    errbuf_t e;
    ck_assert_msg(wire_decode_reply(f->arena, f->out.data, f->out.len, rep, &e) == 0,
                  "reply does not decode: %s", e.msg);
}

static void call(fixture_t *f, wire_request_t *req, uint64_t cid, uint64_t id, wire_reply_t *rep)
{
    req->major = WIRE_MAJOR;
    req->minor = WIRE_MINOR;
    req->client_id = cid;
    req->id = id;
    ck_assert_int_eq(wire_encode_request(req, &f->in), 0);
    send_in(f, rep);
}

/* Keeps a copy of the last reply's bytes. */
static void keep_reply(fixture_t *f)
{
    f->first.data = realloc(f->first.data, f->out.len);
    memcpy(f->first.data, f->out.data, f->out.len);
    f->first.len = f->out.len;
}

static void ck_same_reply(const fixture_t *f)
{
    ck_assert_uint_eq(f->out.len, f->first.len);
    ck_assert_msg(memcmp(f->out.data, f->first.data, f->out.len) == 0,
                  "the duplicate's reply differs from the first");
}

static void fixture_init(fixture_t *f, size_t retry_clients, uint64_t retry_ttl_ms)
{
    memset(f, 0, sizeof *f);
    f->now = 1000;
    service_config_t cfg = {.max_sessions = 64, .max_batch = 16, .session_ttl_ms = 3600000,
                            .max_message_size = 1 << 20, .retry_clients = retry_clients,
                            .retry_ttl_ms = retry_ttl_ms};
    f->svc = service_new(&cfg);
    f->arena = wire_arena_new(4096);
    ck_assert_ptr_nonnull(f->svc);
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = NS}};
    wire_reply_t rep;
    call(f, &req, 0, 1, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    memcpy(f->ids, rep.make.sessions, sizeof f->ids);
    const env_class_t *cls = env_find("CartPole-v1");
    float obs[4];
    errbuf_t e;
    for (int i = 0; i < NS; i++) {
        uint64_t seed = 50 + (uint64_t)i;
        f->ref[i] = calloc(1, env_size(cls));
        ck_assert_int_eq(env_init(f->ref[i], cls, NULL, 0, &e), 0);
        ck_assert_int_eq(env_reset(f->ref[i], &seed, NULL, 0, obs, &e), 0);
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
    service_destroy(&f->svc);
    wire_arena_destroy(&f->arena);
    wire_buf_deinit(&f->in);
    wire_buf_deinit(&f->out);
    wire_buf_deinit(&f->first);
}

static uint64_t env_steps(const fixture_t *f) { return service_stats(f->svc)->env_steps; }

/* Steps session i with the action (client 0: no retry identity) and checks
 * the reply against its twin stepped once: proof that every step before
 * moved the session exactly as often as the twin. */
static void step_and_compare(fixture_t *f, int i, int64_t action)
{
    wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = f->ids[i], .action = action}};
    wire_reply_t rep;
    call(f, &req, 0, 999, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    float obs[4];
    double reward;
    bool term, trunc;
    errbuf_t e;
    ck_assert_int_eq(env_step(f->ref[i], action, obs, &reward, &term, &trunc, &e), 0);
    ck_assert_msg(memcmp(rep.step.obs.data, obs, sizeof obs) == 0,
                  "session %d is not where one step per request puts it", i);
    ck_assert(rep.step.reward == reward && rep.step.terminated == term &&
              rep.step.truncated == trunc);
}

static void twin_step(fixture_t *f, int i, int64_t action)
{
    float obs[4];
    double reward;
    bool term, trunc;
    errbuf_t e;
    ck_assert_int_eq(env_step(f->ref[i], action, obs, &reward, &term, &trunc, &e), 0);
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
    ck_assert_uint_eq(service_stats(f.svc)->retries_replayed, 1);
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

/* With room for one client only, client B's request evicts A's reply: A's
 * resend is then refused, never executed again, single or batch; an older
 * id is refused as stale. */
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
    ck_assert_uint_eq(service_stats(f.svc)->retries_refused, 3);
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
    f.now += 51;
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

Suite *retry_suite(void)
{
    Suite *s = suite_create("retry");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, test_cache_keeps_the_last_reply_per_client);
    tcase_add_test(tc, test_cache_evicts_least_recent_clients_by_count_bytes_and_age);
    suite_add_tcase(s, tc);
    tc = tcase_create("service");
    tcase_add_test(tc, test_duplicate_step_steps_once_and_gets_the_same_bytes);
    tcase_add_test(tc, test_duplicate_reset_does_not_advance_the_stream);
    tcase_add_test(tc, test_duplicate_step_batch_steps_once_and_gets_the_same_bytes);
    tcase_add_test(tc, test_duplicate_whose_reply_was_evicted_is_refused_not_executed);
    tcase_add_test(tc, test_duplicate_after_the_ttl_is_refused_not_executed);
    tcase_add_test(tc, test_client_id_0_executes_every_copy);
    suite_add_tcase(s, tc);
    return s;
}
