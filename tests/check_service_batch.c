/*
 * check_service_batch.c — step_batch through the service against env_t stepped one by one.
 *
 * The batch path is where envd is optimised for throughput, so these tests
 * hold it to the plain per-session semantics: sessions made and seeded
 * through service_handle() are mirrored by env_t instances seeded alike,
 * and every step_batch reply (random subsets in random order, every action
 * dtype, each autoreset mode) must equal, bit for bit, what stepping the
 * mirrors one at a time by docs/protocol.md's rules gives. A refused batch
 * must leave every session as it was, which the following batches check.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "fixture_server.h"
#include "service.h"
#include "wire.h"

#define NS 48       /* sessions */
#define ROUNDS 400  /* step_batch requests per mode */
#define MAX_STEPS 30 /* short episodes, so truncation happens too */

typedef struct fixture {
    svc_fixture_t sf; /* the service, its buffers and its clock (1000 ms throughout) */
    uint64_t ids[NS];
    env_t *ref[NS];
    uint64_t rng;
} fixture_t;

static uint64_t next_rand(fixture_t *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return f->rng;
}

/* Encodes req (with the next id), hands it to the service and decodes the reply. */
static void call(fixture_t *f, wire_request_t *req, wire_reply_t *rep)
{
    req->id++;
    svc_fixture_call(&f->sf, req, rep);
}

static void fixture_init(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    f->rng = 0x2545f4914f6cdd1du;
    service_config_t cfg = {.max_sessions = NS, .max_batch = NS, .session_ttl_ms = 3600000,
                            .max_message_size = 1 << 20};
    svc_fixture_init(&f->sf, &cfg);

    option_t mopt = {.key = "max_episode_steps", .type = OPTION_INT, .v.i = MAX_STEPS};
    wire_request_t req;
    wire_reply_t rep;
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_MAKE;
    req.make.env_id = "CartPole-v1";
    req.make.options = &mopt;
    req.make.noptions = 1;
    req.make.count = NS;
    call(f, &req, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
    ck_assert_uint_eq(rep.make.n, NS);
    memcpy(f->ids, rep.make.sessions, sizeof f->ids);

    uint64_t seeds[NS];
    float obs[4];
    for (int i = 0; i < NS; i++) {
        seeds[i] = 1000 + (uint64_t)i;
        f->ref[i] = local_env("CartPole-v1", &mopt, 1);
        local_reset(f->ref[i], &seeds[i], obs);
    }
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_RESET_BATCH;
    req.reset_batch.sessions = f->ids;
    req.reset_batch.n = NS;
    req.reset_batch.seeds = seeds;
    req.reset_batch.nseeds = NS;
    call(f, &req, &rep);
    ck_assert_int_eq(rep.code, ERR_OK);
}

static void fixture_deinit(fixture_t *f)
{
    for (int i = 0; i < NS; i++)
        free(f->ref[i]);
    svc_fixture_deinit(&f->sf);
}

/* Builds a step_batch over a random subset in random order; rows[] gets
 * the session index of each row and acts[] the actions as int64. */
static size_t random_batch(fixture_t *f, int mode, int round, wire_request_t *req,
                           uint64_t *ids, int *rows, int64_t *acts, void *act_buf)
{
    int perm[NS];
    for (int i = 0; i < NS; i++)
        perm[i] = i;
    for (int i = NS - 1; i > 0; i--) {
        int j = (int)(next_rand(f) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    size_t n = 1 + next_rand(f) % NS;
    static const int dtypes[3] = {WIRE_DTYPE_UINT8, WIRE_DTYPE_INT32, WIRE_DTYPE_INT64};
    int dtype = dtypes[round % 3];
    for (size_t r = 0; r < n; r++) {
        rows[r] = perm[r];
        ids[r] = f->ids[perm[r]];
        acts[r] = (int64_t)(next_rand(f) >> 63);
        if (dtype == WIRE_DTYPE_UINT8)
            ((uint8_t *)act_buf)[r] = (uint8_t)acts[r];
        else if (dtype == WIRE_DTYPE_INT32)
            ((int32_t *)act_buf)[r] = (int32_t)acts[r];
        else
            ((int64_t *)act_buf)[r] = acts[r];
    }
    memset(req, 0, sizeof *req);
    req->op = WIRE_OP_STEP_BATCH;
    req->step_batch.sessions = ids;
    req->step_batch.n = n;
    req->step_batch.autoreset = mode;
    req->step_batch.actions.dtype = dtype;
    req->step_batch.actions.ndim = 1;
    req->step_batch.actions.shape[0] = (uint32_t)n;
    req->step_batch.actions.data = act_buf;
    req->step_batch.actions.len = n * wire_dtype_size(dtype);
    return n;
}

/* Steps the mirror of one row by the protocol's rules and compares. */
static void check_row(env_t *env, int mode, int64_t action, const wire_reply_t *rep, size_t r,
                      int round)
{
    batch_row_t x;
    mirror_batch_row(env, mode, action, &x);
    const float *got = (const float *)rep->step_batch.obs.data + 4 * r;
    ck_assert_msg(memcmp(got, x.obs, sizeof x.obs) == 0, "mode %d round %d row %zu: observation",
                  mode, round, r);
    ck_assert_msg(memcmp(&rep->step_batch.rewards[r], &x.reward, sizeof x.reward) == 0,
                  "mode %d round %d row %zu: reward", mode, round, r);
    ck_assert_msg(rep->step_batch.terminated[r] == x.terminated &&
                      rep->step_batch.truncated[r] == x.truncated,
                  "mode %d round %d row %zu: flags", mode, round, r);
    ck_assert_msg(rep->step_batch.autoreset[r] == x.autoreset,
                  "mode %d round %d row %zu: autoreset", mode, round, r);
    ck_assert(rep->step_batch.has_final_obs == (mode == WIRE_AUTORESET_SAME_STEP));
    if (rep->step_batch.has_final_obs)
        ck_assert_msg(memcmp((const float *)rep->step_batch.final_obs.data + 4 * r, x.final_obs,
                             sizeof x.final_obs) == 0,
                      "mode %d round %d row %zu: final observation", mode, round, r);
}

static void run_mode(int mode)
{
    fixture_t f;
    fixture_init(&f);
    uint64_t ids[NS];
    int rows[NS];
    int64_t acts[NS];
    int64_t act_buf[NS];
    wire_request_t req;
    wire_reply_t rep;
    int resets = 0, ends = 0;
    for (int round = 0; round < ROUNDS; round++) {
        size_t n = random_batch(&f, mode, round, &req, ids, rows, acts, act_buf);
        call(&f, &req, &rep);
        ck_assert_msg(rep.code == ERR_OK, "round %d: %s", round, rep.message);
        ck_assert_uint_eq(rep.step_batch.n, n);
        for (size_t r = 0; r < n; r++) {
            check_row(f.ref[rows[r]], mode, acts[r], &rep, r, round);
            resets += rep.step_batch.autoreset[r];
            ends += rep.step_batch.terminated[r] | rep.step_batch.truncated[r];
        }
    }
    /* The rounds must have gone through the interesting rows. */
    ck_assert_int_gt(ends, 50);
    if (mode != WIRE_AUTORESET_DISABLED)
        ck_assert_int_gt(resets, 50);
    fixture_deinit(&f);
}

START_TEST(test_next_step_batches_equal_single_steps)
{
    run_mode(WIRE_AUTORESET_NEXT_STEP);
}
END_TEST

START_TEST(test_same_step_batches_equal_single_steps)
{
    run_mode(WIRE_AUTORESET_SAME_STEP);
}
END_TEST

START_TEST(test_disabled_batches_equal_single_steps)
{
    run_mode(WIRE_AUTORESET_DISABLED);
}
END_TEST

/* A batch refused for its last row (bad action) or for a repeated session
 * moves nobody: the mirrors, not stepped either, still match afterwards. */
START_TEST(test_refused_batch_moves_no_session)
{
    fixture_t f;
    fixture_init(&f);
    uint64_t ids[NS];
    int rows[NS];
    int64_t acts[NS];
    int64_t act_buf[NS];
    wire_request_t req;
    wire_reply_t rep;
    for (int round = 0; round < 60; round++) {
        int mode = round % 3;
        size_t n = random_batch(&f, mode, round, &req, ids, rows, acts, act_buf);
        if (round % 2 == 0 && n >= 2) {
            /* Spoil it: an action out of range in the last row, or a repeat. */
            if (round % 4 == 0) {
                req.step_batch.actions.dtype = WIRE_DTYPE_INT64;
                req.step_batch.actions.len = n * 8;
                for (size_t r = 0; r < n; r++)
                    act_buf[r] = acts[r];
                act_buf[n - 1] = 2;
            } else {
                ids[n - 1] = ids[0];
            }
            call(&f, &req, &rep);
            ck_assert_int_eq(rep.code, ERR_INVALID_ARGUMENT);
            continue;
        }
        call(&f, &req, &rep);
        ck_assert_msg(rep.code == ERR_OK, "round %d: %s", round, rep.message);
        for (size_t r = 0; r < n; r++)
            check_row(f.ref[rows[r]], mode, acts[r], &rep, r, round);
    }
    fixture_deinit(&f);
}
END_TEST

Suite *service_batch_suite(void)
{
    Suite *s = suite_create("service_batch");
    TCase *tc = tcase_create("step_batch");
    tcase_add_test(tc, test_next_step_batches_equal_single_steps);
    tcase_add_test(tc, test_same_step_batches_equal_single_steps);
    tcase_add_test(tc, test_disabled_batches_equal_single_steps);
    tcase_add_test(tc, test_refused_batch_moves_no_session);
    suite_add_tcase(s, tc);
    return s;
}
