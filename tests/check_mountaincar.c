/*
 * check_mountaincar.c — MountainCar-v0 (mountaincar.c) against Gymnasium's
 * recordings.
 *
 * The main test replays all 69 public cases of the golden file (format in
 * ../shared/golden/README.md, second part): float32 observations, the
 * double state, reward bits and flags step by step, with TimeLimit played
 * by classic_golden.h's golden_wrap_t as env.c plays it. No case is
 * skipped. A second replay drives the same cases through env.c's env_t
 * with the registered class. The other tests pin down what the
 * recordings cannot show: the note's test vectors, the walls, make and
 * reset options that are refused and change nothing, the spaces.
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
#include "mountaincar.h"

#define GOLDEN_PATH "tests/data/mountain_car_v0_public.jsonl"
#define GOLDEN_CASES 69
#define GOLDEN_STEPS 9540

/* ---------------------------------------------------------------- golden: raw + TimeLimit */

typedef struct mc_inst {
    mountaincar_t s;
    golden_wrap_t w;
} mc_inst_t;

static int mc_kwargs(const cJSON *c, const char *line, option_t *opts, size_t *nopts,
                     char *why, size_t n)
{
    golden_run_t r = {0};
    if (golden_options(&r, cJSON_GetObjectItemCaseSensitive(c, "make_kwargs"), line, true, opts,
                       nopts) < 0) {
        snprintf(why, n, "%s", r.why);
        return -1;
    }
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(c, "unwrapped_attrs");
    if (attrs && attrs->child) {
        snprintf(why, n, "MountainCar has no unwrapped attributes to set");
        return -1;
    }
    return 0;
}

static void *mc_open(const cJSON *c, const char *line, char *why, size_t n)
{
    option_t opts[GOLDEN_MAX_OPTS];
    size_t nopts;
    errbuf_t e;
    mc_inst_t *in = calloc(1, sizeof *in);

    if (!in)
        return NULL;
    in->w.max_steps = MOUNTAINCAR_MAX_EPISODE_STEPS;
    if (mc_kwargs(c, line, opts, &nopts, why, n) < 0) {
        free(in);
        return NULL;
    }
    if (mountaincar_init(&in->s, opts, nopts, &e) < 0) {
        snprintf(why, n, "init: %s", e.msg);
        free(in);
        return NULL;
    }
    return in;
}

static void mc_close(void *inst)
{
    free(inst);
}

static int mc_reset(void *inst, const uint64_t *seed, const option_t *opts, size_t nopts,
                    float *obs, errbuf_t *e)
{
    mc_inst_t *in = inst;
    rng_t rng;
    int rc = golden_wrap_reset(&in->w, seed, &rng, e);
    if (rc == 0)
        rc = mountaincar_reset(&in->s, &rng, opts, nopts, obs, e);
    if (rc == 0)
        golden_wrap_commit(&in->w, &rng);
    return rc;
}

static int mc_action(const cJSON *rec, const char *dtype, int64_t *a, char *why, size_t n)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(rec, "action");
    if (strcmp(dtype, "int64") != 0 || !cJSON_IsNumber(j) || j->valuedouble < 0 ||
        j->valuedouble >= MOUNTAINCAR_N_ACTIONS || j->valuedouble != (int64_t)j->valuedouble) {
        snprintf(why, n, "no action in [0, 3)");
        return -1;
    }
    *a = (int64_t)j->valuedouble;
    return 0;
}

static int mc_step(void *inst, const cJSON *rec, const char *dtype, float *obs, double *reward,
                   bool *terminated, bool *truncated, char *why, size_t n)
{
    mc_inst_t *in = inst;
    int64_t a;
    if (mc_action(rec, dtype, &a, why, n) < 0)
        return -1;
    mountaincar_step(&in->s, a, obs, reward, terminated);
    *truncated = golden_wrap_tick(&in->w);
    return 0;
}

static void mc_state(const void *inst, double *out)
{
    const mountaincar_t *s = &((const mc_inst_t *)inst)->s;
    out[0] = s->position;
    out[1] = s->velocity;
}

static const golden_ops_t mc_ops = {
    .path = GOLDEN_PATH, .env_id = "MountainCar-v0", .obs_dim = MOUNTAINCAR_OBS_DIM,
    .state_dim = 2, .max_episode_steps = MOUNTAINCAR_MAX_EPISODE_STEPS, .open = mc_open,
    .close = mc_close, .reset = mc_reset, .step = mc_step, .state = mc_state,
};

START_TEST(test_golden_public_cases_replay_bit_exact)
{
    golden_run_t r;
    golden_replay_file(&mc_ops, &r);
    ck_assert_int_eq(r.ncases, GOLDEN_CASES);
    ck_assert_int_eq(r.nsteps, GOLDEN_STEPS);
    ck_assert_int_eq(r.nskipped, 0);
}
END_TEST

/* ---------------------------------------------------------------- golden: through env_t */

static void mc_env_state(const void *inst, double *out)
{
    const mountaincar_t *s = (const mountaincar_t *)((const env_t *)inst)->state;
    out[0] = s->position;
    out[1] = s->velocity;
}

START_TEST(test_golden_cases_replay_through_env_t)
{
    golden_ops_t ops = golden_env_ops(&mc_ops, mc_env_state);
    golden_run_t r;

    golden_replay_file(&ops, &r);
    ck_assert_int_eq(r.ncases, GOLDEN_CASES);
    ck_assert_int_eq(r.nsteps, GOLDEN_STEPS);
}
END_TEST

/* ---------------------------------------------------------------- the note's vectors */

static void mc_make_reset(mountaincar_t *s, rng_t *rng, uint64_t seed, float *obs)
{
    errbuf_t e;
    ck_assert_int_eq(mountaincar_init(s, NULL, 0, &e), 0);
    rng_seed(rng, seed);
    ck_assert_msg(mountaincar_reset(s, rng, NULL, 0, obs, &e) == 0, "reset: %s", e.msg);
}

static void ck_mc(const mountaincar_t *s, const float *obs, const uint32_t *wo,
                  const uint64_t *ws, const char *what)
{
    ck_assert_msg(f32_bits(obs[0]) == wo[0] && f32_bits(obs[1]) == wo[1],
                  "%s obs = %08x %08x, want %08x %08x", what, f32_bits(obs[0]), f32_bits(obs[1]),
                  wo[0], wo[1]);
    ck_assert_msg(f64_bits(s->position) == ws[0] && f64_bits(s->velocity) == ws[1],
                  "%s state = %016llx %016llx", what, (unsigned long long)f64_bits(s->position),
                  (unsigned long long)f64_bits(s->velocity));
}

/* Section 8 of the MountainCar note. */
START_TEST(test_note_vectors_reset_and_three_steps)
{
    static const struct {
        uint64_t seed;
        uint32_t obs[2];
        uint64_t state[2];
    } resets[] = {
        {0, {0xbef1f9a2, 0}, {0xbfde3f34359b8314, 0}},
        {1, {0xbefeca1a, 0}, {0xbfdfd9434d6d24a8, 0}},
        {UINT64_MAX, {0xbeed90b5, 0}, {0xbfddb216ad129609, 0}},
    };
    static const struct {
        int64_t a;
        uint32_t obs[2];
        uint64_t state[2];
    } steps[] = {
        {2, {0xbef1a87e, 0x3a22482d}, {0xbfde350fb2cdd18d, 0x3f4449059b630dac}},
        {2, {0xbef106cf, 0x3aa1ae3a}, {0xbfde20d9eb92c5f1, 0x3f5435c73b0b9c06}},
        {0, {0xbef11bee, 0xb928f8fd}, {0xbfde237dcf880964, 0xbf251f1faa1b9a90}},
    };
    mountaincar_t s;
    rng_t rng;
    float obs[2];
    double reward;
    bool term;

    for (size_t i = 0; i < sizeof resets / sizeof resets[0]; i++) {
        mc_make_reset(&s, &rng, resets[i].seed, obs);
        ck_mc(&s, obs, resets[i].obs, resets[i].state, "reset");
    }
    mc_make_reset(&s, &rng, 0, obs);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        mountaincar_step(&s, steps[i].a, obs, &reward, &term);
        ck_mc(&s, obs, steps[i].obs, steps[i].state, "step");
        ck_assert(reward == -1.0 && !term);
    }
}
END_TEST

/* ---------------------------------------------------------------- walls and the flag */

START_TEST(test_left_wall_stops_the_car_right_edge_does_not)
{
    mountaincar_t s;
    rng_t rng;
    float obs[2];
    double reward;
    bool term;

    mc_make_reset(&s, &rng, 0, obs);
    s.position = -1.19;
    s.velocity = -0.06;
    mountaincar_step(&s, 0, obs, &reward, &term);
    ck_assert(s.position == -1.2);
    ck_assert_uint_eq(f64_bits(s.velocity), 0);
    ck_assert(!term && reward == -1.0);

    s.position = 0.59;
    s.velocity = 0.069;
    mountaincar_step(&s, 2, obs, &reward, &term);
    ck_assert(s.position == 0.6);
    ck_assert(s.velocity > 0.069 && s.velocity <= 0.07);
    ck_assert(term && reward == -1.0);
    /* Held at the edge, still terminated, still -1 (stepping on). */
    mountaincar_step(&s, 2, obs, &reward, &term);
    ck_assert(s.position == 0.6 && term && reward == -1.0);
    ck_assert(s.velocity == 0.07);
}
END_TEST

START_TEST(test_goal_velocity_decides_termination)
{
    const option_t fast = {.key = "goal_velocity", .type = OPTION_DOUBLE, .v.d = 0.05};
    const option_t one = {.key = "goal_velocity", .type = OPTION_INT, .v.i = 1};
    const option_t zero = {.key = "goal_velocity", .type = OPTION_INT, .v.i = 0};
    const option_t *opts[] = {NULL, &zero, &fast, &one};
    const bool want[] = {true, true, false, false};
    mountaincar_t s;
    float obs[2];
    double reward;
    bool term;
    errbuf_t e;

    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(mountaincar_init(&s, opts[k], opts[k] ? 1 : 0, &e), 0);
        s.position = 0.49;
        s.velocity = 0.03;
        mountaincar_step(&s, 2, obs, &reward, &term);
        ck_assert(s.position > 0.5 && s.velocity < 0.05);
        ck_assert_msg(term == want[k], "goal #%d: terminated %d", k, term);
    }
}
END_TEST

/* ---------------------------------------------------------------- options */

START_TEST(test_make_rejects_unknown_and_wrongly_typed_options)
{
    const option_t bad[] = {
        {.key = "goal_position", .type = OPTION_DOUBLE, .v.d = 0.4},
        {.key = "goal_velocity", .type = OPTION_BOOL, .v.b = true},
        {.key = "goal_velocity", .type = OPTION_STRING, .v.s = "0.1"},
    };
    mountaincar_t s;
    errbuf_t e;

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(mountaincar_init(&s, &bad[k], 1, &e), ERR_INVALID_ARGUMENT);
        ck_assert_msg(strstr(e.msg, bad[k].key) != NULL, "message names no key: %s", e.msg);
    }
}
END_TEST

START_TEST(test_reset_options_bounds_ints_and_unknown_keys)
{
    const option_t opts[] = {
        {.key = "high", .type = OPTION_INT, .v.i = 0},
        {.key = "low", .type = OPTION_DOUBLE, .v.d = -1.0},
        {.key = "x_init", .type = OPTION_STRING, .v.s = "ignored, as in Gymnasium"},
    };
    const option_t same[] = {
        {.key = "high", .type = OPTION_INT, .v.i = -1},
        {.key = "low", .type = OPTION_INT, .v.i = -1},
    };
    mountaincar_t s;
    rng_t rng, ref;
    float obs[2];
    errbuf_t e;

    ck_assert_int_eq(mountaincar_init(&s, NULL, 0, &e), 0);
    rng_seed(&rng, 42);
    ref = rng;
    ck_assert_int_eq(mountaincar_reset(&s, &rng, opts, 3, obs, &e), 0);
    double want = -1.0 + 1.0 * rng_next_double(&ref);
    ck_assert(f64_bits(s.position) == f64_bits(want) && s.velocity == 0.0);
    ck_assert(memcmp(&rng, &ref, sizeof rng) == 0);
    /* low == high still draws once. */
    ck_assert_int_eq(mountaincar_reset(&s, &rng, same, 2, obs, &e), 0);
    (void)rng_next_double(&ref);
    ck_assert(s.position == -1.0 && obs[0] == -1.0f);
    ck_assert(memcmp(&rng, &ref, sizeof rng) == 0);
}
END_TEST

START_TEST(test_reset_rejects_bad_options_and_changes_nothing)
{
    const option_t bad[][2] = {
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.5},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.25}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = -0.3}, /* above the default high */
         {.key = "x", .type = OPTION_BOOL}},
        {{.key = "high", .type = OPTION_STRING, .v.s = "0"}, {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_BOOL, .v.b = false}, {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = -INFINITY},
         {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = NAN}, {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = -DBL_MAX},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = DBL_MAX}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.0},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = -0.0}},
    };
    mountaincar_t s, before;
    rng_t rng, rng_before;
    float obs[2];
    double reward;
    bool term;
    errbuf_t e;

    mc_make_reset(&s, &rng, 5, obs);
    mountaincar_step(&s, 2, obs, &reward, &term);
    before = s;
    rng_before = rng;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(mountaincar_reset(&s, &rng, bad[k], 2, obs, &e) == ERR_INVALID_ARGUMENT,
                      "#%zu", k);
        ck_assert_msg(memcmp(&s, &before, sizeof s) == 0, "#%zu changed the state", k);
        ck_assert_msg(memcmp(&rng, &rng_before, sizeof rng) == 0, "#%zu drew", k);
    }
}
END_TEST

/* ---------------------------------------------------------------- spaces */

START_TEST(test_spaces_are_gymnasiums)
{
    ck_assert_uint_eq(f32_bits(mountaincar_obs_low[0]), 0xbf99999a);
    ck_assert_uint_eq(f32_bits(mountaincar_obs_low[1]), 0xbd8f5c29);
    ck_assert_uint_eq(f32_bits(mountaincar_obs_high[0]), 0x3f19999a);
    ck_assert_uint_eq(f32_bits(mountaincar_obs_high[1]), 0x3d8f5c29);
    ck_assert_int_eq(MOUNTAINCAR_N_ACTIONS, 3);
    ck_assert_int_eq(MOUNTAINCAR_MAX_EPISODE_STEPS, 200);
    ck_assert(MOUNTAINCAR_REWARD_THRESHOLD == -110.0);
    ck_assert_uint_le(sizeof(mountaincar_t), 24);
}
END_TEST

Suite *mountaincar_suite(void)
{
    Suite *s = suite_create("mountaincar");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_golden_public_cases_replay_bit_exact);
    tcase_add_test(tc, test_golden_cases_replay_through_env_t);
    tcase_add_test(tc, test_note_vectors_reset_and_three_steps);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("dynamics");
    tcase_add_test(tc, test_left_wall_stops_the_car_right_edge_does_not);
    tcase_add_test(tc, test_goal_velocity_decides_termination);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_test(tc, test_make_rejects_unknown_and_wrongly_typed_options);
    tcase_add_test(tc, test_reset_options_bounds_ints_and_unknown_keys);
    tcase_add_test(tc, test_reset_rejects_bad_options_and_changes_nothing);
    tcase_add_test(tc, test_spaces_are_gymnasiums);
    suite_add_tcase(s, tc);
    return s;
}
