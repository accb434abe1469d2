/*
 * check_pendulum.c — Pendulum-v1 (pendulum.c) against Gymnasium's
 * recordings.
 *
 * The main test replays all 81 public cases of the golden file (format in
 * ../shared/golden/README.md, second part), float32-action and
 * float64-action cases alike (each through its own step function), and
 * compares float32 observations, the double state, reward bits and flags
 * step by step, with TimeLimit played by classic_golden.h's golden_wrap_t
 * as env.c plays it (env_t holds no continuous action yet). No case is
 * skipped. The other tests pin down what the recordings cannot show: the
 * note's test vectors, the powf trap, an int g, the angle's modulo, the
 * speed clip, options refused without a change, the spaces.
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
#include "pendulum.h"

#define GOLDEN_PATH "tests/data/pendulum_v1_public.jsonl"
#define GOLDEN_CASES 81
#define GOLDEN_STEPS 6875

/* ---------------------------------------------------------------- golden */

typedef struct pend_inst {
    pendulum_t s;
    golden_wrap_t w;
} pend_inst_t;

static void *pend_open(const cJSON *c, const char *line, char *why, size_t n)
{
    golden_run_t r = {0};
    option_t opts[GOLDEN_MAX_OPTS];
    size_t nopts;
    errbuf_t e;
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(c, "unwrapped_attrs");
    pend_inst_t *in = calloc(1, sizeof *in);

    if (!in)
        return NULL;
    in->w.max_steps = PENDULUM_MAX_EPISODE_STEPS;
    if (golden_options(&r, cJSON_GetObjectItemCaseSensitive(c, "make_kwargs"), line, true, opts,
                       &nopts) < 0)
        snprintf(why, n, "%s", r.why);
    else if (attrs && attrs->child)
        snprintf(why, n, "no unwrapped attributes to set");
    else if (pendulum_init(&in->s, opts, nopts, &e) < 0)
        snprintf(why, n, "init: %s", e.msg);
    else
        return in;
    free(in);
    return NULL;
}

static void pend_close(void *inst)
{
    free(inst);
}

static int pend_reset(void *inst, const uint64_t *seed, const option_t *opts, size_t nopts,
                      float *obs, errbuf_t *e)
{
    pend_inst_t *in = inst;
    rng_t rng;
    int rc = golden_wrap_reset(&in->w, seed, &rng, e);
    if (rc == 0)
        rc = pendulum_reset(&in->s, &rng, opts, nopts, obs, e);
    if (rc == 0)
        golden_wrap_commit(&in->w, &rng);
    return rc;
}

static int pend_step(void *inst, const cJSON *rec, const char *dtype, float *obs, double *reward,
                     bool *terminated, bool *truncated, char *why, size_t n)
{
    pend_inst_t *in = inst;
    float f;
    double d;

    if (strcmp(dtype, "float32") == 0 && golden_action_f32(rec, &f) == 0) {
        pendulum_step_f32(&in->s, f, obs, reward, terminated);
    } else if (strcmp(dtype, "float64") == 0 && golden_action_f64(rec, &d) == 0) {
        pendulum_step_f64(&in->s, d, obs, reward, terminated);
    } else {
        snprintf(why, n, "no %s action_hex", dtype);
        return -1;
    }
    *truncated = golden_wrap_tick(&in->w);
    return 0;
}

static void pend_state(const void *inst, double *out)
{
    const pendulum_t *s = &((const pend_inst_t *)inst)->s;
    out[0] = s->theta;
    out[1] = s->theta_dot;
}

static const golden_ops_t pend_ops = {
    .path = GOLDEN_PATH, .env_id = "Pendulum-v1", .obs_dim = PENDULUM_OBS_DIM, .state_dim = 2,
    .max_episode_steps = PENDULUM_MAX_EPISODE_STEPS, .open = pend_open, .close = pend_close,
    .reset = pend_reset, .step = pend_step, .state = pend_state,
};

START_TEST(test_golden_public_cases_replay_bit_exact)
{
    golden_run_t r;
    golden_replay_file(&pend_ops, &r);
    ck_assert_int_eq(r.ncases, GOLDEN_CASES);
    ck_assert_int_eq(r.nsteps, GOLDEN_STEPS);
    ck_assert_int_eq(r.nskipped, 0);
}
END_TEST

/* ---------------------------------------------------------------- golden: through env_t */

static void pend_env_state(const void *inst, double *out)
{
    const pendulum_t *s = (const pendulum_t *)((const env_t *)inst)->state;
    out[0] = s->theta;
    out[1] = s->theta_dot;
}

/* Every case again through the registered class and env.c's wrappers, the
 * Box action as env_step takes it (float32 or float64 values). */
START_TEST(test_golden_cases_replay_through_env_t)
{
    golden_ops_t ops = golden_env_ops(&pend_ops, pend_env_state);
    golden_run_t r;

    golden_replay_file(&ops, &r);
    ck_assert_int_eq(r.ncases, GOLDEN_CASES);
    ck_assert_int_eq(r.nsteps, GOLDEN_STEPS);
}
END_TEST

/* ---------------------------------------------------------------- the note's vectors */

static void pend_make_reset(pendulum_t *s, rng_t *rng, uint64_t seed, float *obs)
{
    errbuf_t e;
    ck_assert_int_eq(pendulum_init(s, NULL, 0, &e), 0);
    rng_seed(rng, seed);
    ck_assert_msg(pendulum_reset(s, rng, NULL, 0, obs, &e) == 0, "reset: %s", e.msg);
}

static void ck_pend(const pendulum_t *s, const float *obs, const uint32_t *wo,
                    const uint64_t *ws, const char *what)
{
    for (int k = 0; k < 3; k++)
        ck_assert_msg(f32_bits(obs[k]) == wo[k], "%s obs[%d] = %08x, want %08x", what, k,
                      f32_bits(obs[k]), wo[k]);
    ck_assert_msg(f64_bits(s->theta) == ws[0] && f64_bits(s->theta_dot) == ws[1],
                  "%s state = %016llx %016llx", what, (unsigned long long)f64_bits(s->theta),
                  (unsigned long long)f64_bits(s->theta_dot));
}

static float f32_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* Section 8 of the Pendulum note. */
START_TEST(test_note_vectors_reset_and_three_steps)
{
    static const struct {
        uint64_t seed;
        uint32_t obs[3];
        uint64_t state[2];
    } resets[] = {
        {0, {0x3f26ea8a, 0x3f4219b9, 0xbeebbd08}, {0x3feb89ac06c69d18, 0xbfdd77a103be9318}},
        {1, {0x3f7f4b4c, 0x3d97fafb, 0x3f66a32d}, {0x3fb303d8f79e5900, 0x3fecd465aef054aa}},
        {UINT64_MAX,
         {0x3ed9ebdd, 0x3f67a76c, 0x3f30ccb4},
         {0x3ff2192749e199a8, 0x3fe619967d7cce08}},
    };
    static const struct {
        uint32_t a;
        uint32_t obs[3];
        uint64_t state[2];
        uint64_t reward;
    } steps[] = {
        {0x3f800000, {0x3f24656f, 0x3f443d46, 0x3e84365a},
         {0x3febf3711b648290, 0x3fd086cb38abdac2}, 0xbfe8687dd28c596a},
        {0xc0400000, {0x3f1f1b72, 0x3f488d2e, 0x3f087c55},
         {0x3feccdd1a2dcf5ab, 0x3fe10f8a9568fe24}, 0xbfe8c16f8ca44002},
        {0x3e99999a, {0x3f13278d, 0x3f517ab0, 0x3f9535ab},
         {0x3feeab4a2c0dc1b8, 0x3ff2a6b55be7f87e}, 0xbfead6f214a07f2b},
    };
    pendulum_t s;
    rng_t rng;
    float obs[3];
    double reward;
    bool term;

    for (size_t i = 0; i < sizeof resets / sizeof resets[0]; i++) {
        pend_make_reset(&s, &rng, resets[i].seed, obs);
        ck_pend(&s, obs, resets[i].obs, resets[i].state, "reset");
    }
    pend_make_reset(&s, &rng, 0, obs);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        pendulum_step_f32(&s, f32_of(steps[i].a), obs, &reward, &term);
        ck_pend(&s, obs, steps[i].obs, steps[i].state, "step");
        ck_assert_msg(f64_bits(reward) == steps[i].reward, "t %zu: reward %a", i + 1, reward);
        ck_assert(!term);
    }
}
END_TEST

/* ---------------------------------------------------------------- the torque's terms */

/* From theta = 0, theta' = 0 the cost is the torque term alone. */
static double reward_from_rest_f32(float u)
{
    pendulum_t s;
    float obs[3];
    double reward;
    bool term;
    errbuf_t e;

    ck_assert_int_eq(pendulum_init(&s, NULL, 0, &e), 0);
    s.theta = 0.0;
    s.theta_dot = 0.0;
    pendulum_step_f32(&s, u, obs, &reward, &term);
    return reward;
}

/* glibc's powf(u, 2) is not u*u for u = 0x1.001p-2 = 0.25006103515625
 * (the golden powf-trap cases): 0x1.002002p-4 against 0x1.002p-4, a
 * difference that survives the product with R(0.001) (note 4.2). */
START_TEST(test_torque_square_is_powf)
{
    const float thousandth = (float)0.001;
    double with_powf = -(double)(thousandth * 0x1.002002p-4f);
    double with_mul = -(double)(thousandth * 0x1.002p-4f);

    ck_assert(with_powf != with_mul);
    ck_assert_msg(f64_bits(reward_from_rest_f32(0x1.001p-2f)) == f64_bits(with_powf),
                  "reward %a, want %a", reward_from_rest_f32(0x1.001p-2f), with_powf);
    ck_assert(f64_bits(reward_from_rest_f32(-0x1.001p-2f)) == f64_bits(with_powf));
    /* Clipped to 2 first: 3.0 as 2.0. */
    ck_assert(reward_from_rest_f32(3.0f) == -(double)(thousandth * 4.0f));
    ck_assert(reward_from_rest_f32(-1e30f) == -(double)(thousandth * 4.0f));
    /* An action of 0 costs nothing from rest: the reward is -0.0. */
    ck_assert_uint_eq(f64_bits(reward_from_rest_f32(0.0f)), f64_bits(-0.0));
}
END_TEST

/* The same value sent as float32 and as float64 pays differently (note 5). */
START_TEST(test_float32_and_float64_actions_differ)
{
    pendulum_t a, b;
    rng_t rng;
    float oa[3], ob[3];
    double ra, rb;
    bool ta, tb;

    pend_make_reset(&a, &rng, 4, oa);
    pend_make_reset(&b, &rng, 4, ob);
    pendulum_step_f32(&a, 0.5f, oa, &ra, &ta);
    pendulum_step_f64(&b, 0.5, ob, &rb, &tb);
    ck_assert(ra != rb);
    ck_assert(fabs(ra - rb) < 1e-9);
    /* 3 * 0.5 is exact either way, so the dynamics agree here. */
    ck_assert(memcmp(oa, ob, sizeof oa) == 0 && a.theta == b.theta && a.theta_dot == b.theta_dot);
    /* 0.001 * 0.25 in double is the float64 action's torque term. */
    pendulum_t c;
    errbuf_t e;
    ck_assert_int_eq(pendulum_init(&c, NULL, 0, &e), 0);
    pendulum_step_f64(&c, 0.5, oa, &rb, &tb);
    ck_assert(rb == -(0.001 * 0.25));
}
END_TEST

/* ---------------------------------------------------------------- dynamics */

START_TEST(test_gravity_term_from_int_and_float_g)
{
    const int64_t big = ((int64_t)1 << 62) + 683;
    const struct {
        option_t o;
        double want;
    } cases[] = {
        {{.key = "g", .type = OPTION_INT, .v.i = 9}, 13.5},
        {{.key = "g", .type = OPTION_DOUBLE, .v.d = 9.81}, 0x1.d6e147ae147aep+3},
        {{.key = "g", .type = OPTION_DOUBLE, .v.d = 0.0}, 0.0},
        {{.key = "g", .type = OPTION_INT, .v.i = -4}, -6.0},
        /* 3g = 3 * 2^62 + 2049 is rounded once (to + 2048); 3.0 * (double)g
         * would round twice and land elsewhere. */
        {{.key = "g", .type = OPTION_INT, .v.i = big}, (0x3p62 + 2048.0) / 2.0},
    };
    pendulum_t s;
    errbuf_t e;

    ck_assert_int_eq(pendulum_init(&s, NULL, 0, &e), 0);
    ck_assert(s.gravity_term == 15.0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ck_assert_int_eq(pendulum_init(&s, &cases[k].o, 1, &e), 0);
        ck_assert_msg(f64_bits(s.gravity_term) == f64_bits(cases[k].want), "#%zu: %a, want %a",
                      k, s.gravity_term, cases[k].want);
    }
    ck_assert((3.0 * (double)big) / 2.0 != (0x3p62 + 2048.0) / 2.0);
    ck_assert_uint_eq(f64_bits(0x1.d6e147ae147aep+3), 0x402d6e147ae147aeULL);
}
END_TEST

/* The cost uses ((th + pi) mod 2 pi) - pi with Python's modulo: a negative
 * angle goes up by 2 pi, not to fmod's negative remainder. */
START_TEST(test_angle_cost_uses_python_modulo)
{
    const double th[] = {-4.0, 4.0, -M_PI, M_PI, 100.0, -100.0};
    pendulum_t s;
    float obs[3];
    double reward;
    bool term;
    errbuf_t e;

    for (size_t k = 0; k < sizeof th / sizeof th[0]; k++) {
        double r = fmod(th[k] + M_PI, 2 * M_PI);
        if (r < 0)
            r = r + 2 * M_PI;
        else if (r == 0)
            r = 0.0;
        double an = r - M_PI;
        ck_assert(an >= -M_PI && an <= M_PI);
        ck_assert_int_eq(pendulum_init(&s, NULL, 0, &e), 0);
        s.theta = th[k];
        s.theta_dot = 0.0;
        pendulum_step_f64(&s, 0.0, obs, &reward, &term);
        ck_assert_msg(reward == -pow(an, 2.0) - 0.0, "theta %g: reward %a", th[k], reward);
    }
    /* -4 + pi is negative: fmod alone would give -0.858..., squared 0.74. */
    ck_assert_int_eq(pendulum_init(&s, NULL, 0, &e), 0);
    s.theta = -4.0;
    pendulum_step_f64(&s, 0.0, obs, &reward, &term);
    ck_assert(reward < -5.0);
}
END_TEST

START_TEST(test_speed_is_clipped_angle_never_wrapped_never_terminates)
{
    pendulum_t s;
    rng_t rng;
    float obs[3];
    double reward;
    bool term;
    int at_max = 0;

    pend_make_reset(&s, &rng, 2, obs);
    for (int t = 0; t < 300; t++) {
        pendulum_step_f32(&s, s.theta_dot >= 0 ? 2.0f : -2.0f, obs, &reward, &term);
        ck_assert(!term);
        ck_assert(fabs(s.theta_dot) <= 8.0);
        at_max += fabs(s.theta_dot) == 8.0;
        ck_assert(obs[2] == (float)s.theta_dot);
    }
    ck_assert_int_gt(at_max, 0);
    ck_assert(fabs(s.theta) > 20.0);
}
END_TEST

/* ---------------------------------------------------------------- options, spaces */

START_TEST(test_make_rejects_unknown_and_wrongly_typed_options)
{
    const option_t bad[] = {
        {.key = "gravity", .type = OPTION_DOUBLE, .v.d = 9.8},
        {.key = "g", .type = OPTION_BOOL, .v.b = true},
        {.key = "g", .type = OPTION_STRING, .v.s = "10"},
    };
    pendulum_t s;
    errbuf_t e;

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(pendulum_init(&s, &bad[k], 1, &e), ERR_INVALID_ARGUMENT);
        ck_assert_msg(strstr(e.msg, bad[k].key) != NULL, "message names no key: %s", e.msg);
    }
}
END_TEST

START_TEST(test_reset_options_bounds_ints_and_unknown_keys)
{
    const option_t opts[] = {
        {.key = "x_init", .type = OPTION_INT, .v.i = 2},
        {.key = "low", .type = OPTION_STRING, .v.s = "ignored, as in Gymnasium"},
    };
    const option_t zero[] = {
        {.key = "x_init", .type = OPTION_DOUBLE, .v.d = 0.0},
        {.key = "y_init", .type = OPTION_INT, .v.i = 0},
    };
    pendulum_t s;
    rng_t rng, ref;
    float obs[3];
    errbuf_t e;

    ck_assert_int_eq(pendulum_init(&s, NULL, 0, &e), 0);
    rng_seed(&rng, 42);
    ref = rng;
    ck_assert_int_eq(pendulum_reset(&s, &rng, opts, 2, obs, &e), 0);
    double th = -2.0 + 4.0 * rng_next_double(&ref);
    double thdot = -1.0 + 2.0 * rng_next_double(&ref);
    ck_assert(f64_bits(s.theta) == f64_bits(th) && f64_bits(s.theta_dot) == f64_bits(thdot));
    ck_assert(memcmp(&rng, &ref, sizeof rng) == 0);
    /* Zero bounds are allowed and still draw twice: -0.0 + 0.0 * u = +0.0. */
    ck_assert_int_eq(pendulum_reset(&s, &rng, zero, 2, obs, &e), 0);
    (void)rng_next_double(&ref);
    (void)rng_next_double(&ref);
    ck_assert(memcmp(&rng, &ref, sizeof rng) == 0);
    ck_assert_uint_eq(f64_bits(s.theta), 0);
    ck_assert_uint_eq(f64_bits(s.theta_dot), 0);
    ck_assert(obs[0] == 1.0f && f32_bits(obs[1]) == 0 && f32_bits(obs[2]) == 0);
}
END_TEST

START_TEST(test_reset_rejects_bad_options_and_changes_nothing)
{
    const option_t bad[] = {
        {.key = "x_init", .type = OPTION_DOUBLE, .v.d = -0.5},
        {.key = "y_init", .type = OPTION_INT, .v.i = -1},
        {.key = "x_init", .type = OPTION_DOUBLE, .v.d = -0.0},
        {.key = "y_init", .type = OPTION_DOUBLE, .v.d = NAN},
        {.key = "x_init", .type = OPTION_DOUBLE, .v.d = INFINITY},
        {.key = "y_init", .type = OPTION_DOUBLE, .v.d = DBL_MAX},
        {.key = "x_init", .type = OPTION_STRING, .v.s = "1"},
        {.key = "y_init", .type = OPTION_BOOL, .v.b = true},
    };
    pendulum_t s, before;
    rng_t rng, rng_before;
    float obs[3];
    double reward;
    bool term;
    errbuf_t e;

    pend_make_reset(&s, &rng, 5, obs);
    pendulum_step_f32(&s, 1.0f, obs, &reward, &term);
    before = s;
    rng_before = rng;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(pendulum_reset(&s, &rng, &bad[k], 1, obs, &e) == ERR_INVALID_ARGUMENT,
                      "#%zu", k);
        ck_assert_msg(memcmp(&s, &before, sizeof s) == 0, "#%zu changed the state", k);
        ck_assert_msg(memcmp(&rng, &rng_before, sizeof rng) == 0, "#%zu drew", k);
    }
}
END_TEST

START_TEST(test_spaces_are_gymnasiums)
{
    static const uint32_t high[3] = {0x3f800000, 0x3f800000, 0x41000000};
    for (int k = 0; k < 3; k++) {
        ck_assert_uint_eq(f32_bits(pendulum_obs_high[k]), high[k]);
        ck_assert_uint_eq(f32_bits(pendulum_obs_low[k]), high[k] | 0x80000000u);
    }
    ck_assert_uint_eq(f32_bits(pendulum_action_low[0]), 0xc0000000);
    ck_assert_uint_eq(f32_bits(pendulum_action_high[0]), 0x40000000);
    ck_assert_int_eq(PENDULUM_ACTION_DIM, 1);
    ck_assert_int_eq(PENDULUM_MAX_EPISODE_STEPS, 200);
    ck_assert_int_eq(PENDULUM_HAS_REWARD_THRESHOLD, 0);
    ck_assert_uint_le(sizeof(pendulum_t), 24);
}
END_TEST

Suite *pendulum_suite(void)
{
    Suite *s = suite_create("pendulum");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_golden_public_cases_replay_bit_exact);
    tcase_add_test(tc, test_golden_cases_replay_through_env_t);
    tcase_add_test(tc, test_note_vectors_reset_and_three_steps);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("torque");
    tcase_add_test(tc, test_torque_square_is_powf);
    tcase_add_test(tc, test_float32_and_float64_actions_differ);
    suite_add_tcase(s, tc);

    tc = tcase_create("dynamics");
    tcase_add_test(tc, test_gravity_term_from_int_and_float_g);
    tcase_add_test(tc, test_angle_cost_uses_python_modulo);
    tcase_add_test(tc, test_speed_is_clipped_angle_never_wrapped_never_terminates);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_test(tc, test_make_rejects_unknown_and_wrongly_typed_options);
    tcase_add_test(tc, test_reset_options_bounds_ints_and_unknown_keys);
    tcase_add_test(tc, test_reset_rejects_bad_options_and_changes_nothing);
    tcase_add_test(tc, test_spaces_are_gymnasiums);
    suite_add_tcase(s, tc);
    return s;
}
