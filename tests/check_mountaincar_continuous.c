/*
 * check_mountaincar_continuous.c — MountainCarContinuous-v0
 * (mountaincar_continuous.c) against Gymnasium's recordings.
 *
 * The main test replays all 80 public cases of the golden file (format in
 * ../shared/golden/README.md, second part), float32-action and
 * float64-action cases alike (each through its own step function), and
 * compares float32 observations, the state, reward bits and flags step by
 * step, with TimeLimit played by classic_golden.h's golden_wrap_t as env.c
 * plays it (env_t holds no continuous action yet). No case is skipped. The
 * other tests pin down what the recordings cannot show: the note's test
 * vectors and intermediates, the switch of the state from float64 to
 * float32, clipping, options refused without a change, the spaces.
 */
#include <check.h>
#include <cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "classic_golden.h"
#include "env.h"
#include "mountaincar_continuous.h"

#define GOLDEN_PATH "tests/data/mountain_car_continuous_v0_public.jsonl"
#define GOLDEN_CASES 80
#define GOLDEN_STEPS 7689

typedef mountaincar_continuous_t mcc_t;

/* ---------------------------------------------------------------- golden */

typedef struct mcc_inst {
    mcc_t s;
    golden_wrap_t w;
} mcc_inst_t;

static void *mcc_open(const cJSON *c, const char *line, char *why, size_t n)
{
    golden_run_t r = {0};
    option_t opts[GOLDEN_MAX_OPTS];
    size_t nopts;
    errbuf_t e;
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(c, "unwrapped_attrs");
    mcc_inst_t *in = calloc(1, sizeof *in);

    if (!in)
        return NULL;
    in->w.max_steps = MOUNTAINCAR_CONTINUOUS_MAX_EPISODE_STEPS;
    if (golden_options(&r, cJSON_GetObjectItemCaseSensitive(c, "make_kwargs"), line, true, opts,
                       &nopts) < 0)
        snprintf(why, n, "%s", r.why);
    else if (attrs && attrs->child)
        snprintf(why, n, "no unwrapped attributes to set");
    else if (mountaincar_continuous_init(&in->s, opts, nopts, &e) < 0)
        snprintf(why, n, "init: %s", e.msg);
    else
        return in;
    free(in);
    return NULL;
}

static void mcc_close(void *inst)
{
    free(inst);
}

static int mcc_reset(void *inst, const uint64_t *seed, const option_t *opts, size_t nopts,
                     float *obs, errbuf_t *e)
{
    mcc_inst_t *in = inst;
    rng_t rng;
    int rc = golden_wrap_reset(&in->w, seed, &rng, e);
    if (rc == 0)
        rc = mountaincar_continuous_reset(&in->s, &rng, opts, nopts, obs, e);
    if (rc == 0)
        golden_wrap_commit(&in->w, &rng);
    return rc;
}

static int mcc_step(void *inst, const cJSON *rec, const char *dtype, float *obs, double *reward,
                    bool *terminated, bool *truncated, char *why, size_t n)
{
    mcc_inst_t *in = inst;
    float f;
    double d;

    if (strcmp(dtype, "float32") == 0 && golden_action_f32(rec, &f) == 0) {
        mountaincar_continuous_step_f32(&in->s, f, obs, reward, terminated);
    } else if (strcmp(dtype, "float64") == 0 && golden_action_f64(rec, &d) == 0) {
        mountaincar_continuous_step_f64(&in->s, d, obs, reward, terminated);
    } else {
        snprintf(why, n, "no %s action_hex", dtype);
        return -1;
    }
    *truncated = golden_wrap_tick(&in->w);
    return 0;
}

static void mcc_state(const void *inst, double *out)
{
    const mcc_t *s = &((const mcc_inst_t *)inst)->s;
    out[0] = s->position;
    out[1] = s->velocity;
}

static const golden_ops_t mcc_ops = {
    .path = GOLDEN_PATH, .env_id = "MountainCarContinuous-v0",
    .obs_dim = MOUNTAINCAR_CONTINUOUS_OBS_DIM, .state_dim = 2,
    .max_episode_steps = MOUNTAINCAR_CONTINUOUS_MAX_EPISODE_STEPS, .open = mcc_open,
    .close = mcc_close, .reset = mcc_reset, .step = mcc_step, .state = mcc_state,
};

START_TEST(test_golden_public_cases_replay_bit_exact)
{
    golden_run_t r;
    golden_replay_file(&mcc_ops, &r);
    ck_assert_int_eq(r.ncases, GOLDEN_CASES);
    ck_assert_int_eq(r.nsteps, GOLDEN_STEPS);
    ck_assert_int_eq(r.nskipped, 0);
}
END_TEST

/* ---------------------------------------------------------------- golden: through env_t */

static void mcc_env_state(const void *inst, double *out)
{
    const mountaincar_continuous_t *s =
        (const mountaincar_continuous_t *)((const env_t *)inst)->state;
    out[0] = s->position;
    out[1] = s->velocity;
}

/* Every case again through the registered class and env.c's wrappers, the
 * Box action as env_step takes it (float32 or float64 values). */
START_TEST(test_golden_cases_replay_through_env_t)
{
    golden_ops_t ops = golden_env_ops(&mcc_ops, mcc_env_state);
    golden_run_t r;

    golden_replay_file(&ops, &r);
    ck_assert_int_eq(r.ncases, GOLDEN_CASES);
    ck_assert_int_eq(r.nsteps, GOLDEN_STEPS);
}
END_TEST

/* ---------------------------------------------------------------- the note's vectors */

static void mcc_make_reset(mcc_t *s, rng_t *rng, uint64_t seed, float *obs)
{
    errbuf_t e;
    ck_assert_int_eq(mountaincar_continuous_init(s, NULL, 0, &e), 0);
    rng_seed(rng, seed);
    ck_assert_msg(mountaincar_continuous_reset(s, rng, NULL, 0, obs, &e) == 0, "reset: %s",
                  e.msg);
}

static float f32_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* Section 9: reset(seed=0), then float32 actions 0.5, 1.5 (clipped for the
 * force, not for the reward) and -0.25. */
START_TEST(test_note_vectors_reset_and_three_steps)
{
    static const struct {
        uint32_t a;
        uint32_t obs[2];
        uint64_t reward;
    } steps[] = {
        {0x3f000000, {0xbef1c942, 0x39c17deb}, 0xbf9999999999999a},
        {0x3fc00000, {0xbef10691, 0x3ac2b101}, 0xbfcccccccccccccd},
        {0xbe800000, {0xbef0a8c2, 0x3a3b9d6e}, 0xbf7999999999999a},
    };
    mcc_t s;
    rng_t rng;
    float obs[2];
    double reward;
    bool term;

    mcc_make_reset(&s, &rng, 0, obs);
    ck_assert_uint_eq(f32_bits(obs[0]), 0xbef1f9a2);
    ck_assert_uint_eq(f32_bits(obs[1]), 0);
    ck_assert_uint_eq(f64_bits(s.position), 0xbfde3f34359b8314);
    ck_assert_int_eq(s.state_f32, 0);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        mountaincar_continuous_step_f32(&s, f32_of(steps[i].a), obs, &reward, &term);
        ck_assert_msg(f32_bits(obs[0]) == steps[i].obs[0] && f32_bits(obs[1]) == steps[i].obs[1],
                      "t %zu: obs %08x %08x", i + 1, f32_bits(obs[0]), f32_bits(obs[1]));
        ck_assert_msg(f64_bits(reward) == steps[i].reward, "t %zu: reward %a", i + 1, reward);
        /* The state is the float32 observation, widened. */
        ck_assert(s.position == (double)obs[0] && s.velocity == (double)obs[1]);
        ck_assert_int_eq(s.state_f32, 1);
        ck_assert(!term);
    }
}
END_TEST

/* A reset in the middle of an episode gives back a float64 state, so the
 * first step after it computes in double again: the same action from the
 * same reset state gives the same bits as the first step of the episode. */
START_TEST(test_reset_returns_to_a_float64_state)
{
    mcc_t s;
    rng_t rng;
    float obs[2], first[2];
    double reward, r1;
    bool term;
    errbuf_t e;

    mcc_make_reset(&s, &rng, 3, obs);
    mountaincar_continuous_step_f32(&s, 0.7f, first, &r1, &term);
    for (int t = 0; t < 5; t++)
        mountaincar_continuous_step_f32(&s, -0.3f, obs, &reward, &term);
    rng_seed(&rng, 3);
    ck_assert_int_eq(mountaincar_continuous_reset(&s, &rng, NULL, 0, obs, &e), 0);
    ck_assert_int_eq(s.state_f32, 0);
    mountaincar_continuous_step_f32(&s, 0.7f, obs, &reward, &term);
    ck_assert(memcmp(obs, first, sizeof obs) == 0 && f64_bits(reward) == f64_bits(r1));
}
END_TEST

/* ---------------------------------------------------------------- clipping, walls, reward */

START_TEST(test_out_of_bounds_action_clips_force_not_reward)
{
    mcc_t a, b;
    rng_t rng;
    float oa[2], ob[2];
    double ra, rb;
    bool ta, tb;
    int differ = 0;

    mcc_make_reset(&a, &rng, 1, oa);
    mcc_make_reset(&b, &rng, 1, ob);
    for (int t = 0; t < 60; t++) {
        mountaincar_continuous_step_f32(&a, 1.0f, oa, &ra, &ta);
        mountaincar_continuous_step_f32(&b, 1.5f, ob, &rb, &tb);
        /* 0.0 - 0.1 * a^2 with the action as sent. */
        ck_assert(ra == 0.0 - 1.0 * 0.1 && rb == 0.0 - 2.25 * 0.1);
        /* Same push, but 1.5 clips to the Python float 1.0 and runs in
         * double where 1.0f runs in float32: the bits part (5.1). */
        ck_assert(fabs(oa[0] - ob[0]) < 1e-4f);
        differ += memcmp(oa, ob, sizeof oa) != 0;
    }
    ck_assert_int_gt(differ, 0);
}
END_TEST

START_TEST(test_zero_action_pays_plus_zero)
{
    mcc_t s;
    rng_t rng;
    float obs[2];
    double reward;
    bool term;

    mcc_make_reset(&s, &rng, 0, obs);
    mountaincar_continuous_step_f32(&s, 0.0f, obs, &reward, &term);
    ck_assert_uint_eq(f64_bits(reward), 0);
    mountaincar_continuous_step_f32(&s, -0.0f, obs, &reward, &term);
    ck_assert_uint_eq(f64_bits(reward), 0);
    mountaincar_continuous_step_f64(&s, 0.0, obs, &reward, &term);
    ck_assert_uint_eq(f64_bits(reward), 0);
}
END_TEST

START_TEST(test_left_wall_and_flag)
{
    const option_t goal = {.key = "goal_velocity", .type = OPTION_DOUBLE, .v.d = 0.02};
    mcc_t s;
    rng_t rng;
    float obs[2];
    double reward;
    bool term;
    errbuf_t e;

    mcc_make_reset(&s, &rng, 0, obs);
    s.state_f32 = 1;
    s.position = (float)-1.19;
    s.velocity = (float)-0.06;
    mountaincar_continuous_step_f32(&s, -1.0f, obs, &reward, &term);
    ck_assert_uint_eq(f32_bits(obs[0]), 0xbf99999a);
    ck_assert_uint_eq(f32_bits(obs[1]), 0);
    ck_assert(!term);

    /* At the right end the car is held at 0.6 with its velocity, and every
     * step there is terminal and pays 100 - 0.1 a^2 again. */
    ck_assert_int_eq(mountaincar_continuous_init(&s, &goal, 1, &e), 0);
    s.state_f32 = 1;
    s.position = (float)0.59;
    s.velocity = (float)0.05;
    for (int t = 0; t < 3; t++) {
        mountaincar_continuous_step_f32(&s, 1.0f, obs, &reward, &term);
        ck_assert_uint_eq(f32_bits(obs[0]), 0x3f19999a);
        ck_assert(obs[1] > 0.02f && term);
        ck_assert(reward == 100.0 - 1.0 * 0.1);
    }
    /* Slower than goal_velocity at the flag: not terminal. */
    s.velocity = (float)-0.07;
    mountaincar_continuous_step_f32(&s, 0.0f, obs, &reward, &term);
    ck_assert(!term && obs[0] < 0.6f);
}
END_TEST

/* ---------------------------------------------------------------- options, spaces */

START_TEST(test_make_rejects_unknown_and_wrongly_typed_options)
{
    const option_t bad[] = {
        {.key = "power", .type = OPTION_DOUBLE, .v.d = 0.002},
        {.key = "goal_velocity", .type = OPTION_BOOL, .v.b = true},
        {.key = "goal_velocity", .type = OPTION_STRING, .v.s = "0"},
    };
    const option_t ok = {.key = "goal_velocity", .type = OPTION_INT, .v.i = -1};
    mcc_t s;
    errbuf_t e;

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(mountaincar_continuous_init(&s, &bad[k], 1, &e), ERR_INVALID_ARGUMENT);
        ck_assert_msg(strstr(e.msg, bad[k].key) != NULL, "message names no key: %s", e.msg);
    }
    ck_assert_int_eq(mountaincar_continuous_init(&s, &ok, 1, &e), 0);
    ck_assert(s.goal_velocity == -1.0);
}
END_TEST

START_TEST(test_reset_rejects_bad_options_and_changes_nothing)
{
    const option_t bad[][2] = {
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.5},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.25}},
        {{.key = "high", .type = OPTION_STRING, .v.s = "0"}, {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = NAN}, {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = -DBL_MAX},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = DBL_MAX}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.0},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = -0.0}},
    };
    const option_t same[] = {{.key = "low", .type = OPTION_INT, .v.i = 0},
                                 {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.0},
                                 {.key = "colour", .type = OPTION_BOOL}};
    mcc_t s, before;
    rng_t rng, rng_before;
    float obs[2];
    double reward;
    bool term;
    errbuf_t e;

    mcc_make_reset(&s, &rng, 5, obs);
    mountaincar_continuous_step_f32(&s, 0.5f, obs, &reward, &term);
    before = s;
    rng_before = rng;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(mountaincar_continuous_reset(&s, &rng, bad[k], 2, obs, &e) ==
                          ERR_INVALID_ARGUMENT,
                      "#%zu", k);
        ck_assert_msg(memcmp(&s, &before, sizeof s) == 0, "#%zu changed the state", k);
        ck_assert_msg(memcmp(&rng, &rng_before, sizeof rng) == 0, "#%zu drew", k);
    }
    ck_assert_int_eq(mountaincar_continuous_reset(&s, &rng, same, 3, obs, &e), 0);
    ck_assert(s.position == 0.0 && s.state_f32 == 0);
    (void)rng_next_double(&rng_before);
    ck_assert(memcmp(&rng, &rng_before, sizeof rng) == 0);
}
END_TEST

START_TEST(test_spaces_are_gymnasiums)
{
    ck_assert_uint_eq(f32_bits(mountaincar_continuous_obs_low[0]), 0xbf99999a);
    ck_assert_uint_eq(f32_bits(mountaincar_continuous_obs_low[1]), 0xbd8f5c29);
    ck_assert_uint_eq(f32_bits(mountaincar_continuous_obs_high[0]), 0x3f19999a);
    ck_assert_uint_eq(f32_bits(mountaincar_continuous_obs_high[1]), 0x3d8f5c29);
    ck_assert_uint_eq(f32_bits(mountaincar_continuous_action_low[0]), 0xbf800000);
    ck_assert_uint_eq(f32_bits(mountaincar_continuous_action_high[0]), 0x3f800000);
    ck_assert_int_eq(MOUNTAINCAR_CONTINUOUS_ACTION_DIM, 1);
    ck_assert_int_eq(MOUNTAINCAR_CONTINUOUS_MAX_EPISODE_STEPS, 999);
    ck_assert(MOUNTAINCAR_CONTINUOUS_REWARD_THRESHOLD == 90.0);
    ck_assert_uint_le(sizeof(mcc_t), 32);
}
END_TEST

Suite *mountaincar_continuous_suite(void)
{
    Suite *s = suite_create("mountaincar_continuous");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_golden_public_cases_replay_bit_exact);
    tcase_add_test(tc, test_golden_cases_replay_through_env_t);
    tcase_add_test(tc, test_note_vectors_reset_and_three_steps);
    tcase_add_test(tc, test_reset_returns_to_a_float64_state);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("dynamics");
    tcase_add_test(tc, test_out_of_bounds_action_clips_force_not_reward);
    tcase_add_test(tc, test_zero_action_pays_plus_zero);
    tcase_add_test(tc, test_left_wall_and_flag);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_test(tc, test_make_rejects_unknown_and_wrongly_typed_options);
    tcase_add_test(tc, test_reset_rejects_bad_options_and_changes_nothing);
    tcase_add_test(tc, test_spaces_are_gymnasiums);
    suite_add_tcase(s, tc);
    return s;
}
