/*
 * check_service.c — envd's request handling (server/service*.c) over a
 * real ZeroMQ socket: every operation, every bad input, the limits.
 *
 * Each test starts its own server in-process (tests/fixture_server.h: a
 * loop thread running server_new() on tcp://127.0.0.1:*), so every
 * request crosses the real codec and the real transport, and the harness
 * proves at the end that the loop closed with no handle open. What the
 * server answers is checked against a local env_t driven identically
 * (float32 observations compared bit for bit) and against the golden
 * Gymnasium trajectories; each bad input is checked for its status code
 * and for leaving a bystander session exactly where it was. No fixed
 * ports, no timing assertions; every wait is bounded.
 */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "clock.h"
#include "fixture_server.h"

static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        int more = *s < 0x80 ? 0 : *s >= 0xc2 && *s <= 0xdf ? 1 : *s >= 0xe0 && *s <= 0xef ? 2
                 : *s >= 0xf0 && *s <= 0xf4 ? 3 : -1;
        if (more < 0)
            return false;
        s++;
        for (int i = 0; i < more; i++, s++)
            if ((*s & 0xc0) != 0x80)
                return false;
    }
    return true;
}

/* --------------------------------------------------------------- hello, make, describe */

START_TEST(test_hello_reports_versions_env_ids_and_limits)
{
    harness_t *h = harness_start(NULL);
    wire_request_t req = {.op = WIRE_OP_HELLO, .hello.client = "check_server"};
    wire_reply_t rep;

    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.hello.major, 1);
    ck_assert_uint_eq(rep.hello.minor, WIRE_MINOR);
    ck_message_has(rep.hello.server_version, ENVD_VERSION);
    ck_assert_uint_eq(rep.hello.n_env_ids, env_class_count());
    for (size_t i = 0; i < env_class_count(); i++)
        ck_assert_str_eq(rep.hello.env_ids[i], env_class_at(i)->id);
    ck_assert_uint_eq(rep.hello.max_message_size, 64 * 1024);
    ck_assert_uint_eq(rep.hello.max_batch, 16);
    ck_assert_uint_eq(rep.hello.max_sessions, 64);
    ck_assert_uint_eq(rep.hello.session_ttl_ms, 60000);
    harness_stop(&h);
}
END_TEST

START_TEST(test_make_returns_sessions_spaces_and_exact_bounds)
{
    harness_t *h = harness_start(NULL);
    const env_class_t *cls = env_find("CartPole-v1");
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 3}};
    wire_reply_t rep;

    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.make.n, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_ne(rep.make.sessions[i], 0);
        for (size_t j = 0; j < i; j++)
            ck_assert_uint_ne(rep.make.sessions[i], rep.make.sessions[j]);
    }
    const wire_space_t *o = &rep.make.obs_space, *a = &rep.make.act_space;
    ck_assert_int_eq(o->kind, WIRE_SPACE_BOX);
    ck_assert_int_eq(o->dtype, WIRE_DTYPE_FLOAT32);
    ck_assert_uint_eq(o->ndim, 1);
    ck_assert_uint_eq(o->shape[0], 4);
    ck_assert_uint_eq(o->nbounds, 4);
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(f64_bits(o->low[k]) == f64_bits(cls->obs_low[k]), "low[%d] %a", k, o->low[k]);
        ck_assert_msg(f64_bits(o->high[k]) == f64_bits(cls->obs_high[k]), "high[%d] %a", k,
                      o->high[k]);
    }
    ck_assert(isinf(o->high[1]) && o->high[1] > 0 && isinf(o->low[3]) && o->low[3] < 0);
    /* Gymnasium's float32 bounds: 2 * 2.4 and 2 * 12 degrees in radians */
    ck_assert(f32_bits((float)o->high[0]) == 0x4099999a && f32_bits((float)o->low[2]) == 0xbed67750);
    ck_assert_int_eq(a->kind, WIRE_SPACE_DISCRETE);
    ck_assert_int_eq(a->n, 2);
    ck_assert_int_eq(a->start, 0);
    ck_assert_str_eq(rep.make.spec.env_id, "CartPole-v1");
    ck_assert_uint_eq(rep.make.spec.max_episode_steps, 500);
    ck_assert(rep.make.spec.has_reward_threshold && rep.make.spec.reward_threshold == 475.0);

    /* count 0 means 1 */
    req.make.count = 0;
    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.make.n, 1);
    ck_assert_uint_eq(stats(h->c).active_sessions, 4);
    harness_stop(&h);
}
END_TEST

START_TEST(test_make_options_max_episode_steps_and_sutton_barto_reward)
{
    harness_t *h = harness_start(NULL);
    const option_t opts[] = {
        {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 10},
        {.key = "sutton_barto_reward", .type = OPTION_BOOL, .v.b = true},
    };
    wire_request_t req = {.op = WIRE_OP_MAKE,
                          .make = {.env_id = "CartPole-v1", .options = opts, .noptions = 2}};
    wire_reply_t rep;
    env_t *env = local_env("CartPole-v1", opts, 2);
    uint64_t seed = 3;
    float obs[4], lobs[4];

    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.make.spec.max_episode_steps, 10);
    uint64_t id = rep.make.sessions[0];
    remote_reset(h->c, id, &seed, obs);
    local_reset(env, &seed, lobs);
    /* Balanced, the pole stays up: truncation at exactly 10, and the
     * Sutton-Barto reward is 0 for every step that does not fail. */
    for (int t = 1; t <= 10; t++) {
        step_result_t want, got;
        remote_step(h->c, id, balance(obs), &got);
        local_step(env, balance(obs), &want);
        ck_step_eq(&want, &got, "sutton-barto session");
        ck_assert(!got.terminated && got.reward == 0.0);
        ck_assert_int_eq(got.truncated, t == 10);
        memcpy(obs, got.obs, sizeof obs);
    }
    /* A failing episode gets -1 at the end, as the local twin does. */
    remote_reset(h->c, id, &seed, obs);
    local_reset(env, &seed, lobs);
    step_result_t want, got;
    do {
        remote_step(h->c, id, 1, &got);
        local_step(env, 1, &want);
        ck_step_eq(&want, &got, "sutton-barto session");
    } while (!got.terminated && !got.truncated);
    ck_assert(got.terminated && got.reward == -1.0);
    free(env);
    harness_stop(&h);
}
END_TEST

START_TEST(test_make_refusals_create_nothing)
{
    harness_t *h = harness_start(NULL);
    const option_t unknown = {.key = "gravity", .type = OPTION_DOUBLE, .v.d = 1.0};
    const option_t wrong[] = {
        {.key = "max_episode_steps", .type = OPTION_DOUBLE, .v.d = 10.0},
        {.key = "max_episode_steps", .type = OPTION_STRING, .v.s = "10"},
        {.key = "sutton_barto_reward", .type = OPTION_INT, .v.i = 1},
        {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 0},
    };
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v2"}};
    witness_t w;

    witness_start(h->c, &w, 11);
    ck_message_has(call_err(h->c, &req, ERR_NOT_FOUND), "CartPole-v2");
    req.make.env_id = "CartPole-v1";
    req.make.options = &unknown;
    req.make.noptions = 1;
    ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), "gravity");
    for (size_t k = 0; k < NELEM(wrong); k++) {
        req.make.options = &wrong[k];
        req.make.count = 3;
        ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), wrong[k].key);
    }
    wire_stats_t st = stats(h->c);
    ck_assert_uint_eq(st.active_sessions, 1);
    ck_assert_uint_eq(st.sessions_created, 1);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* Protocol 1.2 over a real socket: a Box space is described with its exact
 * float32 bounds, and step and step_batch with float32 and float64 actions
 * give what env_step gives locally, bit for bit, for both continuous
 * environments, their different arithmetic per dtype included. */
START_TEST(test_box_actions_step_as_env_step_does_in_either_dtype)
{
    harness_t *h = harness_start(NULL);
    static const char *const ids[] = {"Pendulum-v1", "MountainCarContinuous-v0"};
    for (int k = 0; k < 2; k++) {
        const env_class_t *cls = env_find(ids[k]);
        wire_request_t req = {.op = WIRE_OP_DESCRIBE, .describe = {.env_id = ids[k]}};
        wire_reply_t rep;
        call_ok(h->c, &req, &rep);
        const wire_space_t *act = &rep.describe.act_space;
        ck_assert_int_eq(act->kind, WIRE_SPACE_BOX);
        ck_assert_int_eq(act->dtype, WIRE_DTYPE_FLOAT32);
        ck_assert_uint_eq(act->ndim, 1);
        ck_assert_uint_eq(act->shape[0], 1);
        ck_assert_uint_eq(act->nbounds, 1);
        ck_assert(act->low[0] == cls->action_low[0] && act->high[0] == cls->action_high[0]);

        uint64_t sid[2];
        make_n(h->c, ids[k], NULL, 0, 2, sid);
        env_t *local[2];
        uint64_t seed = 11;
        float obs[ENV_DIM_MAX];
        for (int j = 0; j < 2; j++) {
            local[j] = calloc(1, env_size(cls));
            errbuf_t e;
            ck_assert_int_eq(env_init(local[j], cls, NULL, 0, &e), 0);
            local_reset(local[j], &seed, obs);
            wire_request_t rreq = {.op = WIRE_OP_RESET,
                                   .reset = {.session = sid[j], .has_seed = true, .seed = seed}};
            call_ok(h->c, &rreq, &rep);
            ck_obs_eq_dim(obs, &rep.reset.obs, 0, cls->obs_dim, ids[k]);
        }
        for (int t = 0; t < 40; t++) {
            /* one session in float32, the other in float64, out of bounds too */
            float a32 = (float)(t % 7) * 0.75f - 2.5f;
            double a64 = (double)a32 + 1e-9;
            env_action_t la[2] = {{.box = &a32, .dtype = ENV_F32}, {.box = &a64, .dtype = ENV_F64}};
            wire_tensor_t wt[2] = {
                {.dtype = WIRE_DTYPE_FLOAT32, .ndim = 1, .shape = {1}, .data = &a32, .len = 4},
                {.dtype = WIRE_DTYPE_FLOAT64, .ndim = 1, .shape = {1}, .data = &a64, .len = 8}};
            for (int j = 0; j < 2; j++) {
                float lobs[ENV_DIM_MAX];
                double lrew;
                bool lterm, ltrunc;
                errbuf_t e;
                ck_assert_int_eq(env_step(local[j], &la[j], lobs, &lrew, &lterm, &ltrunc, &e), 0);
                wire_request_t sreq = {.op = WIRE_OP_STEP,
                                       .step = {.session = sid[j], .has_box = true, .box = wt[j]}};
                call_ok(h->c, &sreq, &rep);
                ck_obs_eq_dim(lobs, &rep.step.obs, 0, cls->obs_dim, ids[k]);
                ck_assert_uint_eq(f64_bits(rep.step.reward), f64_bits(lrew));
                ck_assert_int_eq(rep.step.terminated, lterm);
                ck_assert_int_eq(rep.step.truncated, ltrunc);
            }
        }
        /* step_batch: both sessions in one float64 [2, 1] block */
        double both[2] = {0.3, -7.0};
        float bobs[2 * ENV_DIM_MAX];
        double brew[2];
        for (int j = 0; j < 2; j++) {
            bool term, trunc;
            errbuf_t e;
            ck_assert_int_eq(env_step(local[j], &(env_action_t){.box = &both[j], .dtype = ENV_F64},
                                      bobs + j * cls->obs_dim, &brew[j], &term, &trunc, &e), 0);
        }
        wire_request_t breq = {.op = WIRE_OP_STEP_BATCH,
                               .step_batch = {.sessions = sid, .n = 2,
                                              .actions = {.dtype = WIRE_DTYPE_FLOAT64, .ndim = 2,
                                                          .shape = {2, 1}, .data = both,
                                                          .len = sizeof both},
                                              .autoreset = WIRE_AUTORESET_DISABLED}};
        call_ok(h->c, &breq, &rep);
        ck_obs_eq_dim(bobs, &rep.step_batch.obs, 2, cls->obs_dim, ids[k]);
        for (int j = 0; j < 2; j++) {
            ck_assert_uint_eq(f64_bits(rep.step_batch.rewards[j]), f64_bits(brew[j]));
            free(local[j]);
        }
        close_ids(h->c, sid, 2, 2);
    }
    harness_stop(&h);
}
END_TEST

START_TEST(test_describe_by_session_and_by_env_id)
{
    harness_t *h = harness_start(NULL);
    const option_t steps = {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 77};
    wire_request_t req = {.op = WIRE_OP_DESCRIBE};
    wire_reply_t rep;
    uint64_t id;

    make_n(h->c, "CartPole-v1", &steps, 1, 1, &id);
    req.describe.by_session = true;
    req.describe.session = id;
    call_ok(h->c, &req, &rep);
    ck_assert_str_eq(rep.describe.spec.env_id, "CartPole-v1");
    ck_assert_uint_eq(rep.describe.spec.max_episode_steps, 77); /* the session's own limit */
    ck_assert_int_eq(rep.describe.obs_space.kind, WIRE_SPACE_BOX);
    ck_assert(isinf(rep.describe.obs_space.high[3]));
    ck_assert_int_eq(rep.describe.act_space.n, 2);

    req.describe = (typeof(req.describe)){.env_id = "CartPole-v0"};
    call_ok(h->c, &req, &rep);
    ck_assert_str_eq(rep.describe.spec.env_id, "CartPole-v0");
    ck_assert_uint_eq(rep.describe.spec.max_episode_steps, 200);
    ck_assert(rep.describe.spec.has_reward_threshold && rep.describe.spec.reward_threshold == 195.0);
    ck_assert_uint_eq(rep.describe.obs_space.nbounds, 4);

    req.describe = (typeof(req.describe)){.env_id = "LunarLander-v3"};
    call_err(h->c, &req, ERR_NOT_FOUND);
    req.describe = (typeof(req.describe)){.by_session = true, .session = id ^ 1};
    call_err(h->c, &req, ERR_NOT_FOUND);
    harness_stop(&h);
}
END_TEST

/* ----------------------------------------------------------------- reset and step */

/* Seeded and unseeded resets (reseed chains, a reset in mid-episode, the
 * same seed twice), the 500-step truncation, stepping after the end, and
 * the Sutton-Barto reward: Gymnasium's recordings through the socket. */
START_TEST(test_golden_cases_replay_bit_exact_over_the_socket)
{
    static const char *const wanted[] = {
        "public/random/0", "public/random/7", "public/balance/0", "public/reseed-chain/100",
        "public/reseed-chain/104", "public/mid-episode-reset/0", "public/same-seed-twice/1",
        "public/always1-overrun/0", "public/balance-overrun/1",
        "public/random-overrun-reenter/107", "public/sutton-barto/random/0",
        "public/sutton-barto/always1-overrun/1",
    };
    harness_t *h = harness_start(NULL);

    for (size_t k = 0; k < NELEM(wanted); k++) {
        cJSON *cs = golden_case(wanted[k]); /* fails the test if it is missing */
        replay_golden_case(h->c, cs);
        cJSON_Delete(cs);
    }
    ck_assert_uint_eq(stats(h->c).active_sessions, 0);
    harness_stop(&h);
}
END_TEST

/* reset() without a seed continues the stream; the very first unseeded
 * reset draws a seed from the OS, so two sessions differ. */
START_TEST(test_reset_without_seed_continues_the_stream)
{
    harness_t *h = harness_start(NULL);
    uint64_t ids[2], seed = 1234;
    env_t *env = local_env("CartPole-v1", NULL, 0);
    float remote[4], local[4], other[4];

    make_n(h->c, "CartPole-v1", NULL, 0, 2, ids);
    remote_reset(h->c, ids[0], &seed, remote);
    local_reset(env, &seed, local);
    ck_assert(memcmp(remote, local, sizeof local) == 0);
    for (int i = 0; i < 4; i++) {
        remote_reset(h->c, ids[0], NULL, remote);
        local_reset(env, NULL, local);
        ck_assert_msg(memcmp(remote, local, sizeof local) == 0, "unseeded reset %d differs", i);
    }
    remote_reset(h->c, ids[0], NULL, remote);
    remote_reset(h->c, ids[1], NULL, other);
    ck_assert_msg(memcmp(remote, other, sizeof other) != 0, "two OS-seeded streams agree");
    for (int k = 0; k < 4; k++)
        ck_assert(other[k] >= -0.05f && other[k] <= 0.05f);
    free(env);
    harness_stop(&h);
}
END_TEST

/* Reset options travel to the environment: low == high pins the state. */
START_TEST(test_reset_options_reach_the_environment)
{
    harness_t *h = harness_start(NULL);
    const option_t bounds[] = {
        {.key = "low", .type = OPTION_DOUBLE, .v.d = 0.125},
        {.key = "high", .type = OPTION_INT, .v.i = 0},
    };
    const option_t pinned[] = {
        {.key = "low", .type = OPTION_DOUBLE, .v.d = 0.25},
        {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.25},
    };
    const option_t wrong = {.key = "low", .type = OPTION_STRING, .v.s = "0"};
    wire_request_t req = {.op = WIRE_OP_RESET, .reset = {.session = 0, .has_seed = true,
                                                         .seed = 1}};
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 12);
    req.reset.session = make_one(h->c);
    req.reset.options = pinned;
    req.reset.noptions = 2;
    call_ok(h->c, &req, &rep);
    for (int k = 0; k < 4; k++)
        ck_assert(((const float *)rep.reset.obs.data)[k] == 0.25f);
    req.reset.options = bounds; /* low above high */
    call_err(h->c, &req, ERR_INVALID_ARGUMENT);
    req.reset.options = &wrong;
    req.reset.noptions = 1;
    ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), "low");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* ------------------------------------------------------------------ batches */

static void reset_batch_call(client_t *c, const uint64_t *ids, size_t n, const uint64_t *seeds,
                             size_t nseeds, const uint8_t *mask, size_t nmask, wire_reply_t *rep)
{
    wire_request_t req = {.op = WIRE_OP_RESET_BATCH,
                          .reset_batch = {.sessions = ids, .n = n, .seeds = seeds,
                                          .nseeds = nseeds, .seeded = mask, .nseeded = nmask}};
    call_ok(c, &req, rep);
}

START_TEST(test_reset_batch_with_seeds_with_a_mask_and_without)
{
    harness_t *h = harness_start(NULL);
    const uint64_t seeds1[3] = {1, 2, 3}, seeds2[3] = {10, 20, 30};
    const uint8_t mask[3] = {1, 0, 1};
    uint64_t ids[3];
    env_t *loc[3];
    float want[12];
    wire_reply_t rep;

    make_n(h->c, "CartPole-v1", NULL, 0, 3, ids);
    for (int i = 0; i < 3; i++)
        loc[i] = local_env("CartPole-v1", NULL, 0);

    reset_batch_call(h->c, ids, 3, seeds1, 3, NULL, 0, &rep);
    for (int i = 0; i < 3; i++)
        local_reset(loc[i], &seeds1[i], want + 4 * i);
    ck_obs_eq(want, &rep.reset_batch.obs, 3, "seeded reset_batch");

    reset_batch_call(h->c, ids, 3, seeds2, 3, mask, 3, &rep);
    for (int i = 0; i < 3; i++)
        local_reset(loc[i], mask[i] ? &seeds2[i] : NULL, want + 4 * i);
    ck_obs_eq(want, &rep.reset_batch.obs, 3, "masked reset_batch");

    reset_batch_call(h->c, ids, 3, NULL, 0, NULL, 0, &rep);
    for (int i = 0; i < 3; i++)
        local_reset(loc[i], NULL, want + 4 * i);
    ck_obs_eq(want, &rep.reset_batch.obs, 3, "unseeded reset_batch");

    /* A batch resets each session as a single reset would. */
    float one[4];
    remote_reset(h->c, ids[1], NULL, one);
    local_reset(loc[1], NULL, want);
    ck_assert(memcmp(one, want, sizeof one) == 0);
    for (int i = 0; i < 3; i++)
        free(loc[i]);
    harness_stop(&h);
}
END_TEST

/* What envd's step_batch must do to each row in `mode`, computed with local
 * environments as Gymnasium's vector autoreset modes describe. */
typedef struct batch_expect {
    float obs[16 * 4], final[16 * 4];
    double rewards[16];
    uint8_t terminated[16], truncated[16], autoreset[16];
} batch_expect_t;

static void mirror_step_batch(env_t **loc, size_t n, const int64_t *actions, int mode,
                              batch_expect_t *x)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < n; i++) {
        batch_row_t row;
        mirror_batch_row(loc[i], mode, actions[i], &row);
        memcpy(x->obs + 4 * i, row.obs, sizeof row.obs);
        memcpy(x->final + 4 * i, row.final_obs, sizeof row.final_obs);
        x->rewards[i] = row.reward;
        x->terminated[i] = row.terminated;
        x->truncated[i] = row.truncated;
        x->autoreset[i] = row.autoreset;
    }
}

static void ck_batch_reply(const wire_reply_t *rep, size_t n, int mode, const batch_expect_t *x,
                           int t)
{
    char what[64];
    snprintf(what, sizeof what, "t %d observations", t);
    ck_assert_uint_eq(rep->step_batch.n, n);
    ck_obs_eq(x->obs, &rep->step_batch.obs, (uint32_t)n, what);
    for (size_t i = 0; i < n; i++) {
        double r;
        memcpy(&r, (const char *)rep->step_batch.rewards + 8 * i, 8);
        ck_assert_msg(f64_bits(r) == f64_bits(x->rewards[i]), "t %d row %zu: reward %g, want %g",
                      t, i, r, x->rewards[i]);
        ck_assert_msg(rep->step_batch.terminated[i] == x->terminated[i] &&
                          rep->step_batch.truncated[i] == x->truncated[i] &&
                          rep->step_batch.autoreset[i] == x->autoreset[i],
                      "t %d row %zu: flags %d%d%d, want %d%d%d", t, i,
                      rep->step_batch.terminated[i], rep->step_batch.truncated[i],
                      rep->step_batch.autoreset[i], x->terminated[i], x->truncated[i],
                      x->autoreset[i]);
    }
    ck_assert_int_eq(rep->step_batch.has_final_obs, mode == WIRE_AUTORESET_SAME_STEP);
    if (mode == WIRE_AUTORESET_SAME_STEP) {
        snprintf(what, sizeof what, "t %d final observations", t);
        ck_obs_eq(x->final, &rep->step_batch.final_obs, (uint32_t)n, what);
    }
}

/* Runs 40 batch steps of 4 sessions (max_episode_steps 12) in `mode` with
 * actions of `dtype`, against local twins. Row 0 pushes right and falls
 * within a dozen steps, row 1 balances into the truncation, rows 2 and 3
 * mix. Returns how many rows ended and how many were autoreset. */
static void run_batch_mode(int mode, int dtype, int *ended, int *resets)
{
    enum { N = 4, T = 40 };
    harness_t *h = harness_start(NULL);
    const option_t steps = {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 12};
    const uint64_t seeds[N] = {5, 6, 7, 8};
    uint64_t ids[N];
    env_t *loc[N];
    float cur[N * 4];
    batch_expect_t x;
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 99);
    make_n(h->c, "CartPole-v1", &steps, 1, N, ids);
    for (int i = 0; i < N; i++)
        loc[i] = local_env("CartPole-v1", &steps, 1);
    reset_batch_call(h->c, ids, N, seeds, N, NULL, 0, &rep);
    for (int i = 0; i < N; i++)
        local_reset(loc[i], &seeds[i], cur + 4 * i);
    ck_obs_eq(cur, &rep.reset_batch.obs, N, "reset_batch");
    *ended = *resets = 0;
    for (int t = 0; t < T; t++) {
        int64_t a[N] = {1, balance(cur + 4), t % 2, balance(cur + 12) ^ (t % 5 == 0)};
        int32_t a32[N];
        uint8_t a8[N];
        wire_request_t req = {.op = WIRE_OP_STEP_BATCH,
                              .step_batch = {.sessions = ids, .n = N, .autoreset = mode,
                                             .actions = {.dtype = dtype, .ndim = 1, .shape = {N}}}};
        for (int i = 0; i < N; i++) {
            a32[i] = (int32_t)a[i];
            a8[i] = (uint8_t)a[i];
        }
        req.step_batch.actions.data = dtype == WIRE_DTYPE_INT64   ? (const void *)a
                                      : dtype == WIRE_DTYPE_INT32 ? (const void *)a32
                                                                  : (const void *)a8;
        req.step_batch.actions.len = N * wire_dtype_size(dtype);
        call_ok(h->c, &req, &rep);
        mirror_step_batch(loc, N, a, mode, &x);
        ck_batch_reply(&rep, N, mode, &x, t);
        memcpy(cur, x.obs, sizeof cur);
        for (int i = 0; i < N; i++) {
            *ended += x.terminated[i] || x.truncated[i];
            *resets += x.autoreset[i];
        }
    }
    /* The streams the autoresets drew from are the same too. */
    reset_batch_call(h->c, ids, N, NULL, 0, NULL, 0, &rep);
    for (int i = 0; i < N; i++)
        local_reset(loc[i], NULL, cur + 4 * i);
    ck_obs_eq(cur, &rep.reset_batch.obs, N, "reset_batch after the run");
    for (int i = 0; i < N; i++)
        free(loc[i]);
    witness_end(h->c, &w);
    harness_stop(&h);
}

START_TEST(test_step_batch_next_step_resets_finished_rows_on_the_next_call)
{
    int ended, resets;
    run_batch_mode(WIRE_AUTORESET_NEXT_STEP, WIRE_DTYPE_INT64, &ended, &resets);
    ck_assert_int_gt(ended, 3);
    ck_assert_int_gt(resets, 3);
}
END_TEST

START_TEST(test_step_batch_same_step_returns_final_observations)
{
    int ended, resets;
    run_batch_mode(WIRE_AUTORESET_SAME_STEP, WIRE_DTYPE_INT32, &ended, &resets);
    ck_assert_int_gt(ended, 3);
    ck_assert_int_eq(resets, ended); /* every ending row reset in the same call */
}
END_TEST

START_TEST(test_step_batch_disabled_keeps_stepping_finished_rows)
{
    int ended, resets;
    run_batch_mode(WIRE_AUTORESET_DISABLED, WIRE_DTYPE_UINT8, &ended, &resets);
    ck_assert_int_gt(ended, 3);
    ck_assert_int_eq(resets, 0);
}
END_TEST

/* ----------------------------------------------------------------- close, ping, stats */

START_TEST(test_close_is_idempotent)
{
    harness_t *h = harness_start(NULL);
    uint64_t ids[3];
    wire_request_t step = {.op = WIRE_OP_STEP};

    make_n(h->c, "CartPole-v1", NULL, 0, 3, ids);
    close_ids(h->c, ids, 2, 2);
    close_ids(h->c, ids, 2, 0);
    const uint64_t mixed[3] = {ids[0], ids[2], 12345};
    close_ids(h->c, mixed, 3, 1);
    close_ids(h->c, NULL, 0, 0);
    step.step.session = ids[0];
    ck_message_has(call_err(h->c, &step, ERR_NOT_FOUND), "not found");
    ck_assert_uint_eq(stats(h->c).active_sessions, 0);
    harness_stop(&h);
}
END_TEST

START_TEST(test_ping_echoes_its_payload)
{
    harness_t *h = harness_start(NULL);
    uint8_t payload[1000];
    wire_request_t req = {.op = WIRE_OP_PING, .ping = {.payload = payload, .len = sizeof payload}};
    wire_reply_t rep;

    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7); /* zero bytes included */
    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.ping.len, sizeof payload);
    ck_assert(memcmp(rep.ping.payload, payload, sizeof payload) == 0);
    req.ping.len = 0;
    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.ping.len, 0);
    harness_stop(&h);
}
END_TEST

START_TEST(test_stats_count_sessions_steps_requests_and_errors)
{
    harness_t *h = harness_start(NULL);
    uint64_t ids[2], seed = 1;
    const int64_t actions[2] = {0, 1};
    float obs[4];
    step_result_t r;
    wire_reply_t rep;

    make_n(h->c, "CartPole-v1", NULL, 0, 2, ids);       /* request 1 */
    remote_reset(h->c, ids[0], &seed, obs);             /* 2 */
    remote_reset(h->c, ids[1], &seed, obs);             /* 3 */
    for (int i = 0; i < 3; i++)
        remote_step(h->c, ids[0], 1, &r);               /* 4-6: 3 env steps */
    wire_request_t sb = {.op = WIRE_OP_STEP_BATCH,
                         .step_batch = {.sessions = ids, .n = 2,
                                        .autoreset = WIRE_AUTORESET_DISABLED,
                                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                    .shape = {2}, .data = actions, .len = 16}}};
    call_ok(h->c, &sb, &rep);                           /* 7: 2 env steps */
    wire_request_t bad = {.op = WIRE_OP_STEP, .step = {.session = ids[0] + 1}};
    call_err(h->c, &bad, ERR_NOT_FOUND);                /* 8: error 1 */
    call_raw(h->c, "\xff\xff", 2, &rep);                /* 9: error 2, undecodable */
    ck_assert_int_eq(rep.code, ERR_INVALID_ARGUMENT);

    wire_stats_t st = stats(h->c);                      /* 10 */
    ck_assert_uint_eq(st.requests, 9);                  /* counted after it is answered */
    ck_assert_uint_eq(st.errors, 2);
    ck_assert_uint_eq(st.env_steps, 5);
    ck_assert_uint_eq(st.active_sessions, 2);
    ck_assert_uint_eq(st.sessions_created, 2);
    ck_assert_uint_eq(st.sessions_reclaimed, 0);
    close_ids(h->c, ids, 1, 1);                         /* 11 */
    wire_stats_t st2 = stats(h->c);
    ck_assert_uint_eq(st2.requests, 11);
    ck_assert_uint_eq(st2.active_sessions, 1);
    ck_assert_uint_eq(st2.sessions_created, 2);
    ck_assert_uint_ge(st2.uptime_ms, st.uptime_ms);
    harness_stop(&h);
}
END_TEST

/* ---------------------------------------------------------------- bad input */

START_TEST(test_garbage_bytes_are_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    static const char garbage[] = "\x0f\x01 this is not protobuf \xff\xff\xff";
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 21);
    call_raw(h->c, garbage, sizeof garbage - 1, &rep);
    ck_assert_int_eq(rep.code, ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(rep.id, 0); /* nothing could be read, not even the id */
    ck_assert_int_eq(rep.op, WIRE_OP_NONE);
    ck_message_has(rep.message, "envd.v1.Request");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_truncated_protobuf_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    wire_buf_t buf = {0};
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 22);
    /* A step for the bystander itself, cut short: it must not step it. */
    wire_request_t req = {.major = 1, .id = 5, .op = WIRE_OP_STEP,
                          .step = {.session = w.id, .action = 1}};
    ck_assert_int_eq(wire_encode_request(&req, &buf), 0);
    for (size_t cut = 1; cut <= 3; cut++) {
        call_raw(h->c, buf.data, buf.len - cut, &rep);
        ck_assert_int_eq(rep.code, ERR_INVALID_ARGUMENT);
        ck_assert_msg(rep.message[0], "no message");
    }
    wire_buf_deinit(&buf);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_empty_message_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 23);
    call_raw(h->c, "", 0, &rep);
    ck_assert_int_eq(rep.code, ERR_INVALID_ARGUMENT);
    ck_message_has(rep.message, "empty");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_request_without_op_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    wire_request_t req = {.op = WIRE_OP_NONE};
    witness_t w;

    witness_start(h->c, &w, 25);
    ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), "operation"); /* id echoed */
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* A step for the bystander under major 2 or 0 must be refused before it
 * touches the session. */
START_TEST(test_major_2_and_major_0_are_version_mismatch)
{
    harness_t *h = harness_start(NULL);
    static const uint32_t majors[] = {2, 0, UINT32_MAX};
    wire_buf_t buf = {0};
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 26);
    for (size_t k = 0; k < NELEM(majors); k++) {
        wire_request_t req = {.major = majors[k], .id = 40 + k, .op = WIRE_OP_STEP,
                              .step = {.session = w.id, .action = 1}};
        ck_assert_int_eq(wire_encode_request(&req, &buf), 0);
        call_raw(h->c, buf.data, buf.len, &rep);
        ck_assert_msg(rep.code == ERR_VERSION_MISMATCH, "major %u: %s", majors[k],
                      err_name(rep.code));
        ck_assert_uint_eq(rep.id, 40 + k);
        ck_message_has(rep.message, "speaks 1.");
    }
    wire_buf_deinit(&buf);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_unknown_session_is_not_found_in_every_op)
{
    harness_t *h = harness_start(NULL);
    const int64_t act = 0;
    witness_t w;

    witness_start(h->c, &w, 27);
    const uint64_t bogus = w.id ^ 0x5555;
    const uint64_t batch[2] = {w.id, bogus};
    wire_request_t reqs[] = {
        {.op = WIRE_OP_RESET, .reset = {.session = bogus}},
        {.op = WIRE_OP_STEP, .step = {.session = bogus}},
        {.op = WIRE_OP_STEP, .step = {.session = 0}},
        {.op = WIRE_OP_DESCRIBE, .describe = {.by_session = true, .session = bogus}},
        {.op = WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = batch, .n = 2}},
        {.op = WIRE_OP_STEP_BATCH,
         .step_batch = {.sessions = batch + 1, .n = 1,
                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1, .shape = {1},
                                    .data = &act, .len = 8}}},
    };
    for (size_t k = 0; k < NELEM(reqs); k++)
        ck_message_has(call_err(h->c, &reqs[k], ERR_NOT_FOUND), "not found");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_action_out_of_range_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    static const int64_t bad[] = {2, -1, INT64_MAX, INT64_MIN};
    witness_t w;

    witness_start(h->c, &w, 28);
    for (size_t k = 0; k < NELEM(bad); k++) {
        /* aimed at the bystander itself */
        wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = w.id, .action = bad[k]}};
        ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), "action");
    }
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_step_before_reset_is_failed_precondition)
{
    harness_t *h = harness_start(NULL);
    const int64_t acts[2] = {0, 0};
    witness_t w;

    witness_start(h->c, &w, 29);
    uint64_t fresh[2] = {w.id, make_one(h->c)};
    wire_request_t step = {.op = WIRE_OP_STEP, .step = {.session = fresh[1]}};
    ck_message_has(call_err(h->c, &step, ERR_FAILED_PRECONDITION), "reset");
    /* in a batch, the row is named and the bystander in row 0 stays put */
    wire_request_t sb = {.op = WIRE_OP_STEP_BATCH,
                         .step_batch = {.sessions = fresh, .n = 2,
                                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                    .shape = {2}, .data = acts, .len = 16}}};
    ck_message_has(call_err(h->c, &sb, ERR_FAILED_PRECONDITION), "row 1");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* Sets up 4 seeded sessions on the server and their local twins. */
static void batch_fixture(client_t *c, uint64_t *ids, env_t **loc)
{
    const uint64_t seeds[4] = {31, 32, 33, 34};
    float want[16];
    wire_reply_t rep;

    make_n(c, "CartPole-v1", NULL, 0, 4, ids);
    reset_batch_call(c, ids, 4, seeds, 4, NULL, 0, &rep);
    for (int i = 0; i < 4; i++) {
        loc[i] = local_env("CartPole-v1", NULL, 0);
        local_reset(loc[i], &seeds[i], want + 4 * i);
    }
    ck_obs_eq(want, &rep.reset_batch.obs, 4, "fixture reset");
}

/* Steps the 4 sessions 20 times (NEXT_STEP) and compares with the twins:
 * if a refused batch had moved any session or its stream, this differs. */
static void ck_batch_untouched(client_t *c, const uint64_t *ids, env_t **loc)
{
    batch_expect_t x;
    wire_reply_t rep;
    for (int t = 0; t < 20; t++) {
        int64_t a[4] = {t % 2, 1, 0, (t / 3) % 2};
        wire_request_t req = {.op = WIRE_OP_STEP_BATCH,
                              .step_batch = {.sessions = ids, .n = 4,
                                             .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                         .shape = {4}, .data = a, .len = 32}}};
        call_ok(c, &req, &rep);
        mirror_step_batch(loc, 4, a, WIRE_AUTORESET_NEXT_STEP, &x);
        ck_batch_reply(&rep, 4, WIRE_AUTORESET_NEXT_STEP, &x, t);
    }
    reset_batch_call(c, ids, 4, NULL, 0, NULL, 0, &rep);
    float want[16];
    for (int i = 0; i < 4; i++)
        local_reset(loc[i], NULL, want + 4 * i);
    ck_obs_eq(want, &rep.reset_batch.obs, 4, "streams after refused batches");
}

/* Every refused batch leaves all of its sessions (and their random
 * streams) exactly as they were, whichever row is wrong. */
START_TEST(test_failed_batches_move_no_session)
{
    server_config_t cfg;
    harness_config(&cfg);
    cfg.service.max_batch = 5;
    harness_t *h = harness_start(&cfg);
    uint64_t ids[4], fresh = make_one(h->c), v0;
    env_t *loc[4];
    const int64_t good[5] = {1, 1, 1, 1, 1}, bad_last[4] = {1, 0, 1, 2};
    const int32_t good32[4] = {1, 1, 1, 1};
    const float f32[4] = {1, 1, 1, 1};
    const uint64_t seeds3[3] = {1, 2, 3}, seeds4[4] = {1, 2, 3, 4};
    const uint8_t mask3[3] = {1, 1, 1};
    const option_t bad_bounds[2] = {{.key = "low", .type = OPTION_DOUBLE, .v.d = 1},
                                         {.key = "high", .type = OPTION_DOUBLE, .v.d = 0}};

    make_n(h->c, "CartPole-v0", NULL, 0, 1, &v0);
    batch_fixture(h->c, ids, loc);
    uint64_t with_unknown[4] = {ids[0], ids[1], ids[2], ids[3] ^ 1};
    uint64_t with_fresh[4] = {ids[0], ids[1], ids[2], fresh};
    uint64_t with_dup[4] = {ids[0], ids[1], ids[2], ids[0]};
    uint64_t with_v0[4] = {ids[0], ids[1], ids[2], v0};
    uint64_t five[5] = {ids[0], ids[1], ids[2], ids[3], fresh};
    uint64_t six[6] = {ids[0], ids[1], ids[2], ids[3], fresh, v0};
#define STEP_BATCH(ids_, n_, dtype_, shape0_, data_, len_) \
    (wire_request_t){.op = WIRE_OP_STEP_BATCH, \
                     .step_batch = {.sessions = ids_, .n = n_, \
                                    .actions = {.dtype = dtype_, .ndim = 1, .shape = {shape0_}, \
                                                .data = data_, .len = len_}}}
    struct { wire_request_t req; int code; const char *word; } cases[] = {
        {STEP_BATCH(ids, 4, WIRE_DTYPE_INT64, 4, bad_last, 32), ERR_INVALID_ARGUMENT, "row 3"},
        {STEP_BATCH(with_unknown, 4, WIRE_DTYPE_INT64, 4, good, 32), ERR_NOT_FOUND, "not found"},
        {STEP_BATCH(with_fresh, 4, WIRE_DTYPE_INT64, 4, good, 32), ERR_FAILED_PRECONDITION, "row 3"},
        {STEP_BATCH(with_dup, 4, WIRE_DTYPE_INT64, 4, good, 32), ERR_INVALID_ARGUMENT, "twice"},
        {STEP_BATCH(with_v0, 4, WIRE_DTYPE_INT64, 4, good, 32), ERR_INVALID_ARGUMENT, "CartPole-v0"},
        {STEP_BATCH(ids, 4, WIRE_DTYPE_INT64, 3, good, 24), ERR_INVALID_ARGUMENT, "shape [4]"},
        {STEP_BATCH(ids, 4, WIRE_DTYPE_INT64, 5, good, 40), ERR_INVALID_ARGUMENT, "shape [4]"},
        {STEP_BATCH(ids, 4, WIRE_DTYPE_INT32, 4, good32, 12), ERR_INVALID_ARGUMENT, "bytes"},
        {STEP_BATCH(ids, 4, WIRE_DTYPE_FLOAT32, 4, f32, 16), ERR_INVALID_ARGUMENT, "INT64"},
        {STEP_BATCH(six, 6, WIRE_DTYPE_INT64, 5, good, 40), ERR_RESOURCE_EXHAUSTED, "limit"},
        {.req = {.op = WIRE_OP_STEP_BATCH,
                 .step_batch = {.sessions = ids, .n = 4, .autoreset = 3,
                                .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1, .shape = {4},
                                            .data = good, .len = 32}}},
         .code = ERR_INVALID_ARGUMENT, .word = "autoreset"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = ids, .n = 4, .seeds = seeds3, .nseeds = 3}},
         .code = ERR_INVALID_ARGUMENT, .word = "3 seeds for 4"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = ids, .n = 4, .seeds = seeds4, .nseeds = 4,
                                 .seeded = mask3, .nseeded = 3}},
         .code = ERR_INVALID_ARGUMENT, .word = "mask"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = with_unknown, .n = 4, .seeds = seeds4, .nseeds = 4}},
         .code = ERR_NOT_FOUND, .word = "not found"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = with_dup, .n = 4, .seeds = seeds4, .nseeds = 4}},
         .code = ERR_INVALID_ARGUMENT, .word = "twice"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = ids, .n = 4, .seeds = seeds4, .nseeds = 4,
                                 .options = bad_bounds, .noptions = 2}},
         .code = ERR_INVALID_ARGUMENT, .word = "low"},
        {.req = {.op = WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = six, .n = 6}},
         .code = ERR_RESOURCE_EXHAUSTED, .word = "limit"},
    };
#undef STEP_BATCH
    for (size_t k = 0; k < NELEM(cases); k++) {
        const char *msg = call_err(h->c, &cases[k].req, cases[k].code);
        ck_assert_msg(strstr(msg, cases[k].word), "case %zu: message lacks '%s': %s", k,
                      cases[k].word, msg);
    }
    /* A batch of exactly max_batch is fine. */
    wire_request_t ok = {.op = WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = five, .n = 5}};
    wire_reply_t rep;
    float want[16];
    call_ok(h->c, &ok, &rep);
    for (int i = 0; i < 4; i++)
        local_reset(loc[i], NULL, want + 4 * i);
    ck_assert_uint_eq(rep.reset_batch.obs.shape[0], 5);
    ck_assert(memcmp(rep.reset_batch.obs.data, want, sizeof want) == 0);
    ck_batch_untouched(h->c, ids, loc);
    for (int i = 0; i < 4; i++)
        free(loc[i]);
    harness_stop(&h);
}
END_TEST

START_TEST(test_batch_and_make_over_max_batch_are_resource_exhausted)
{
    harness_t *h = harness_start(NULL); /* max_batch 16 */
    uint64_t ids[17];
    int64_t acts[17] = {0};
    witness_t w;

    witness_start(h->c, &w, 30);
    make_n(h->c, "CartPole-v1", NULL, 0, 16, ids);
    ids[16] = w.id;
    wire_request_t make = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 17}};
    ck_message_has(call_err(h->c, &make, ERR_RESOURCE_EXHAUSTED), "17");
    wire_request_t rb = {.op = WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = ids, .n = 17}};
    call_err(h->c, &rb, ERR_RESOURCE_EXHAUSTED);
    wire_request_t sb = {.op = WIRE_OP_STEP_BATCH,
                         .step_batch = {.sessions = ids, .n = 17,
                                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                    .shape = {17}, .data = acts,
                                                    .len = sizeof acts}}};
    ck_message_has(call_err(h->c, &sb, ERR_RESOURCE_EXHAUSTED), "16");
    rb.reset_batch.n = 16;
    wire_reply_t rep;
    call_ok(h->c, &rb, &rep);
    ck_assert_uint_eq(stats(h->c).active_sessions, 17);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* An unknown env id quoted in an error reply comes back whole characters
 * only, however long; and an id that is not UTF-8 is refused. */
START_TEST(test_error_messages_stay_valid_utf8)
{
    harness_t *h = harness_start(NULL);
    char id[601];
    wire_request_t make = {.op = WIRE_OP_MAKE, .make = {.env_id = id}};
    witness_t w;

    witness_start(h->c, &w, 32);
    for (int shift = 0; shift < 3; shift++) {
        size_t n = 0;
        for (; n < (size_t)shift; n++)
            id[n] = 'x';
        while (n + 3 < sizeof id) {
            memcpy(id + n, "\xe2\x82\xac", 3); /* the euro sign */
            n += 3;
        }
        id[n] = '\0';
        const char *msg = call_err(h->c, &make, ERR_NOT_FOUND);
        ck_assert_msg(utf8_valid(msg), "shift %d: reply message is not UTF-8", shift);
    }
    make.make.env_id = "CartPole-\xff";
    ck_message_has(call_err(h->c, &make, ERR_INVALID_ARGUMENT), "UTF-8");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* ------------------------------------------------------------- TTL and limits */

/* One use of each busy session: a step for the first, a one-row batch
 * step for the second, and nothing else (no reset when an episode ends,
 * since stepping on is allowed), so that only steps count as use. */
static void keep_busy(client_t *c, const uint64_t *busy)
{
    const int64_t zero = 0;
    wire_request_t sb = {.op = WIRE_OP_STEP_BATCH,
                         .step_batch = {.sessions = busy + 1, .n = 1,
                                        .autoreset = WIRE_AUTORESET_DISABLED,
                                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                    .shape = {1}, .data = &zero, .len = 8}}};
    wire_reply_t rep;
    step_result_t r;
    remote_step(c, busy[0], 0, &r);
    call_ok(c, &sb, &rep);
}

/* With a 500 ms TTL (generous, so that a loaded machine's slow round
 * trip cannot look idle), an idle session is reclaimed while ones kept busy
 * (a step every round trip) are not, even long after the idle one went.
 * Loops end on what they wait for or fail after 10 s; no duration is
 * asserted. */
START_TEST(test_idle_session_is_reclaimed_and_busy_ones_are_not)
{
    server_config_t cfg;
    harness_config(&cfg);
    cfg.service.session_ttl_ms = 500;
    harness_t *h = harness_start(&cfg);
    const uint64_t seeds[3] = {4, 5, 6};
    uint64_t ids[3]; /* ids[0] idle, ids[1] and ids[2] busy */
    wire_reply_t rep;

    make_n(h->c, "CartPole-v1", NULL, 0, 3, ids);
    reset_batch_call(h->c, ids, 3, seeds, 3, NULL, 0, &rep);
    uint64_t deadline = clock_ms() + 10000;
    wire_stats_t st;
    do {
        keep_busy(h->c, ids + 1);
        st = stats(h->c);
    } while (st.sessions_reclaimed == 0 && clock_ms() < deadline);
    ck_assert_msg(st.sessions_reclaimed > 0, "nothing reclaimed in 10 s");
    /* Three more TTLs of use: a busy session that was not being touched
     * would be gone by now. */
    for (uint64_t until = clock_ms() + 3 * 500; clock_ms() < until;)
        keep_busy(h->c, ids + 1);
    st = stats(h->c);
    ck_assert_msg(st.sessions_reclaimed == 1, "%llu sessions reclaimed",
                  (unsigned long long)st.sessions_reclaimed);
    ck_assert_uint_eq(st.active_sessions, 2);
    wire_request_t step = {.op = WIRE_OP_STEP, .step = {.session = ids[0]}};
    const char *msg = call_err(h->c, &step, ERR_NOT_FOUND);
    ck_message_has(msg, "reclaimed");
    ck_message_has(msg, "0.5 s");
    keep_busy(h->c, ids + 1);
    close_ids(h->c, ids, 3, 2);
    harness_stop(&h);
}
END_TEST

/* make is all or nothing: a request that does not fit creates nothing. */
START_TEST(test_make_past_max_sessions_is_resource_exhausted_and_creates_nothing)
{
    server_config_t cfg;
    harness_config(&cfg);
    cfg.service.max_sessions = 4;
    harness_t *h = harness_start(&cfg);
    uint64_t ids[4];
    wire_request_t make = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 2}};

    make_n(h->c, "CartPole-v1", NULL, 0, 3, ids);
    ck_message_has(call_err(h->c, &make, ERR_RESOURCE_EXHAUSTED), "limit");
    wire_stats_t st = stats(h->c);
    ck_assert_uint_eq(st.active_sessions, 3);
    ck_assert_uint_eq(st.sessions_created, 3);
    make_n(h->c, "CartPole-v1", NULL, 0, 1, ids + 3);
    make.make.count = 1;
    call_err(h->c, &make, ERR_RESOURCE_EXHAUSTED);
    close_ids(h->c, ids, 1, 1);
    make_n(h->c, "CartPole-v1", NULL, 0, 1, ids);
    st = stats(h->c);
    ck_assert_uint_eq(st.active_sessions, 4);
    ck_assert_uint_eq(st.sessions_created, 5);
    harness_stop(&h);
}
END_TEST

Suite *service_suite(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, test_hello_reports_versions_env_ids_and_limits);
    tcase_add_test(tc, test_make_returns_sessions_spaces_and_exact_bounds);
    tcase_add_test(tc, test_make_options_max_episode_steps_and_sutton_barto_reward);
    tcase_add_test(tc, test_make_refusals_create_nothing);
    tcase_add_test(tc, test_describe_by_session_and_by_env_id);
    tcase_add_test(tc, test_box_actions_step_as_env_step_does_in_either_dtype);
    tcase_add_test(tc, test_golden_cases_replay_bit_exact_over_the_socket);
    tcase_add_test(tc, test_reset_without_seed_continues_the_stream);
    tcase_add_test(tc, test_reset_options_reach_the_environment);
    tcase_add_test(tc, test_reset_batch_with_seeds_with_a_mask_and_without);
    tcase_add_test(tc, test_step_batch_next_step_resets_finished_rows_on_the_next_call);
    tcase_add_test(tc, test_step_batch_same_step_returns_final_observations);
    tcase_add_test(tc, test_step_batch_disabled_keeps_stepping_finished_rows);
    tcase_add_test(tc, test_close_is_idempotent);
    tcase_add_test(tc, test_ping_echoes_its_payload);
    tcase_add_test(tc, test_stats_count_sessions_steps_requests_and_errors);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_add_test(tc, test_garbage_bytes_are_invalid_argument);
    tcase_add_test(tc, test_truncated_protobuf_is_invalid_argument);
    tcase_add_test(tc, test_empty_message_is_invalid_argument);
    tcase_add_test(tc, test_request_without_op_is_invalid_argument);
    tcase_add_test(tc, test_major_2_and_major_0_are_version_mismatch);
    tcase_add_test(tc, test_unknown_session_is_not_found_in_every_op);
    tcase_add_test(tc, test_action_out_of_range_is_invalid_argument);
    tcase_add_test(tc, test_step_before_reset_is_failed_precondition);
    tcase_add_test(tc, test_failed_batches_move_no_session);
    tcase_add_test(tc, test_batch_and_make_over_max_batch_are_resource_exhausted);
    tcase_add_test(tc, test_error_messages_stay_valid_utf8);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_idle_session_is_reclaimed_and_busy_ones_are_not);
    tcase_add_test(tc, test_make_past_max_sessions_is_resource_exhausted_and_creates_nothing);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
