/*
 * check_acrobot.c — Acrobot-v1 (acrobot.c) against Gymnasium's recordings.
 *
 * The main test replays all 79 public cases of the golden file (format in
 * ../shared/golden/README.md, second part) and compares float32
 * observations, the double state, reward bits and flags step by step,
 * TimeLimit played by classic_golden.h's golden_wrap_t as env.c plays it.
 * No case is skipped: the two optional ones (book_or_nips = "nips",
 * torque_noise_max = 0.2, unwrapped attributes) replay through
 * acrobot_set_attr and acrobot_step_rng. A second replay drives the same
 * cases through env.c's env_t with the registered class, all but the
 * torque-noise case (env_class_t's step has no stream to draw from).
 * The other tests pin down what the recordings cannot show: the note's
 * test vectors, refused options that change nothing, the wrap loop on
 * angles no recording reaches, the spaces.
 */
#include <check.h>
#include <cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acrobot.h"
#include "bits.h"
#include "classic_golden.h"
#include "env.h"
#include "npymath.h"

#define GOLDEN_PATH "tests/data/acrobot_v1_public.jsonl"
#define GOLDEN_CASES 79
#define GOLDEN_STEPS 6889

/* ---------------------------------------------------------------- golden: raw + TimeLimit */

typedef struct acro_inst {
    acrobot_t s;
    golden_wrap_t w;
} acro_inst_t;

/* make_kwargs through acrobot_init, unwrapped_attrs through acrobot_set_attr. */
static int acro_configure(acrobot_t *s, const cJSON *c, const char *line,
                          int (*init)(void *, const option_t *, size_t, errbuf_t *),
                          void *init_arg, char *why, size_t n)
{
    golden_run_t r = {0};
    option_t opts[GOLDEN_MAX_OPTS];
    size_t nopts;
    errbuf_t e;

    if (golden_options(&r, cJSON_GetObjectItemCaseSensitive(c, "make_kwargs"), line, true, opts,
                       &nopts) < 0) {
        snprintf(why, n, "%s", r.why);
        return -1;
    }
    if (init(init_arg, opts, nopts, &e) < 0) {
        snprintf(why, n, "init: %s", e.msg);
        return -1;
    }
    if (golden_options(&r, cJSON_GetObjectItemCaseSensitive(c, "unwrapped_attrs"), line, false,
                       opts, &nopts) < 0) {
        snprintf(why, n, "%s", r.why);
        return -1;
    }
    for (size_t i = 0; i < nopts; i++)
        if (acrobot_set_attr(s, &opts[i], &e) < 0) {
            snprintf(why, n, "set_attr: %s", e.msg);
            return -1;
        }
    return 0;
}

static int acro_init_raw(void *s, const option_t *opts, size_t nopts, errbuf_t *e)
{
    return acrobot_init(s, opts, nopts, e);
}

static void *acro_open(const cJSON *c, const char *line, char *why, size_t n)
{
    acro_inst_t *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->w.max_steps = ACROBOT_MAX_EPISODE_STEPS;
    if (acro_configure(&in->s, c, line, acro_init_raw, &in->s, why, n) < 0) {
        free(in);
        return NULL;
    }
    return in;
}

static void acro_close(void *inst)
{
    free(inst);
}

static int acro_reset(void *inst, const uint64_t *seed, const option_t *opts, size_t nopts,
                      float *obs, errbuf_t *e)
{
    acro_inst_t *in = inst;
    rng_t rng;
    int rc = golden_wrap_reset(&in->w, seed, &rng, e);
    if (rc == 0)
        rc = acrobot_reset(&in->s, &rng, opts, nopts, obs, e);
    if (rc == 0)
        golden_wrap_commit(&in->w, &rng);
    return rc;
}

static int acro_action(const cJSON *rec, const char *dtype, int64_t *a, char *why, size_t n)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(rec, "action");
    if (strcmp(dtype, "int64") != 0 || !cJSON_IsNumber(j) || j->valuedouble < 0 ||
        j->valuedouble >= ACROBOT_N_ACTIONS || j->valuedouble != (int64_t)j->valuedouble) {
        snprintf(why, n, "no action in [0, 3)");
        return -1;
    }
    *a = (int64_t)j->valuedouble;
    return 0;
}

static int acro_step(void *inst, const cJSON *rec, const char *dtype, float *obs, double *reward,
                     bool *terminated, bool *truncated, char *why, size_t n)
{
    acro_inst_t *in = inst;
    int64_t a;
    if (acro_action(rec, dtype, &a, why, n) < 0)
        return -1;
    acrobot_step_rng(&in->s, &in->w.rng, a, obs, reward, terminated);
    *truncated = golden_wrap_tick(&in->w);
    return 0;
}

static void acro_state(const void *inst, double *out)
{
    memcpy(out, ((const acro_inst_t *)inst)->s.s, sizeof(double) * 4);
}

static const golden_ops_t acro_ops = {
    .path = GOLDEN_PATH, .env_id = "Acrobot-v1", .obs_dim = ACROBOT_OBS_DIM, .state_dim = 4,
    .max_episode_steps = ACROBOT_MAX_EPISODE_STEPS, .open = acro_open, .close = acro_close,
    .reset = acro_reset, .step = acro_step, .state = acro_state,
};

START_TEST(test_golden_public_cases_replay_bit_exact)
{
    golden_run_t r;
    golden_replay_file(&acro_ops, &r);
    ck_assert_int_eq(r.ncases, GOLDEN_CASES);
    ck_assert_int_eq(r.nsteps, GOLDEN_STEPS);
    ck_assert_int_eq(r.nskipped, 0);
}
END_TEST

/* ---------------------------------------------------------------- golden: through env_t */

static int acro_env_init(void *env, const option_t *opts, size_t nopts, errbuf_t *e)
{
    return env_init(env, &acrobot_v1_class, opts, nopts, e);
}

static void *acro_env_open(const cJSON *c, const char *line, char *why, size_t n)
{
    env_t *env = calloc(1, env_size(&acrobot_v1_class));
    if (!env)
        return NULL;
    if (acro_configure((acrobot_t *)env->state, c, line, acro_env_init, env, why, n) < 0) {
        free(env);
        return NULL;
    }
    return env;
}

static bool acro_env_skip(const cJSON *c)
{
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(c, "unwrapped_attrs");
    return cJSON_GetObjectItemCaseSensitive(attrs, "torque_noise_max") != NULL;
}

static int acro_env_reset(void *inst, const uint64_t *seed, const option_t *opts,
                          size_t nopts, float *obs, errbuf_t *e)
{
    return env_reset(inst, seed, opts, nopts, obs, e);
}

static int acro_env_step(void *inst, const cJSON *rec, const char *dtype, float *obs,
                         double *reward, bool *terminated, bool *truncated, char *why, size_t n)
{
    int64_t a;
    errbuf_t e;
    if (acro_action(rec, dtype, &a, why, n) < 0)
        return -1;
    if (env_step(inst, ENV_DISCRETE(a), obs, reward, terminated, truncated, &e) < 0) {
        snprintf(why, n, "env_step: %s", e.msg);
        return -1;
    }
    return 0;
}

static void acro_env_state(const void *inst, double *out)
{
    memcpy(out, ((const acrobot_t *)((const env_t *)inst)->state)->s, sizeof(double) * 4);
}

START_TEST(test_golden_cases_replay_through_env_t)
{
    golden_ops_t ops = acro_ops;
    ops.open = acro_env_open;
    ops.skip = acro_env_skip;
    ops.reset = acro_env_reset;
    ops.step = acro_env_step;
    ops.state = acro_env_state;
    golden_run_t r;

    golden_replay_file(&ops, &r);
    ck_assert_int_eq(r.nskipped, 1);
    ck_assert_int_eq(r.ncases, GOLDEN_CASES - 1);
    ck_assert_int_gt(r.nsteps, GOLDEN_STEPS - 200);
}
END_TEST

/* ---------------------------------------------------------------- the note's vectors */

static void ck_obs_hex(const float *obs, const uint32_t *want, int n, const char *what)
{
    for (int k = 0; k < n; k++)
        ck_assert_msg(f32_bits(obs[k]) == want[k], "%s obs[%d] = %08x, want %08x", what, k,
                      f32_bits(obs[k]), want[k]);
}

static void ck_state_hex(const acrobot_t *s, const uint64_t *want, const char *what)
{
    for (int k = 0; k < 4; k++)
        ck_assert_msg(f64_bits(s->s[k]) == want[k], "%s state[%d] = %016llx, want %016llx", what,
                      k, (unsigned long long)f64_bits(s->s[k]), (unsigned long long)want[k]);
}

static void acro_make_reset(acrobot_t *s, rng_t *rng, uint64_t seed, float *obs)
{
    errbuf_t e;
    ck_assert_int_eq(acrobot_init(s, NULL, 0, &e), 0);
    rng_seed(rng, seed);
    ck_assert_msg(acrobot_reset(s, rng, NULL, 0, obs, &e) == 0, "reset: %s", e.msg);
}

/* Section 9 of the acrobot note. */
START_TEST(test_note_vectors_reset_and_three_steps)
{
    static const struct {
        uint64_t seed;
        uint32_t obs[6];
        uint64_t state[4];
    } resets[] = {
        {0,
         {0x3f7fe76a, 0x3ce05eb6, 0x3f7fba8c, 0xbd3c862c, 0xbdbc046a, 0xbdc607c0},
         {0x3f9c0cbca0000000, 0xbfa792e740000000, 0xbfb7808d40000000, 0xbfb8c0f800000000}},
        {1,
         {0x3f7fffd1, 0x3b1af2c1, 0x3f7ef636, 0x3db842ac, 0xbd91c092, 0x3db7c44e},
         {0x3f635e5940000000, 0x3fb7105160000000, 0xbfb2381240000000, 0x3fb6f889c0000000}},
        {UINT64_MAX,
         {0x3f7fd586, 0x3d13722d, 0x3f7f63c6, 0x3d8d53c9, 0xbdc9c488, 0x3da19d77},
         {0x3fa26f4aa0000000, 0x3fb1ae1200000000, 0xbfb9389100000000, 0x3fb433aee0000000}},
    };
    static const struct {
        int64_t a;
        uint32_t obs[6];
        uint64_t state[4];
    } steps[] = {
        {2,
         {0x3f7ffe06, 0xbbfe6ad9, 0x3f7fed88, 0xbcc277f0, 0xbe80de66, 0x3e9eb943},
         {0xbf7fcd7012237598, 0xbf984f93b3072411, 0xbfd01bccbfaa43c0, 0x3fd3d728625ace4d}},
        {2,
         {0x3f7f66db, 0xbd8bed7c, 0x3f7f5d3c, 0x3d904042, 0xbead92d3, 0x3f1b3331},
         {0xbfb1812d4037cca6, 0x3fb20bdb893b11a9, 0xbfd5b25a6bb6e23a, 0x3fe366661511598e}},
        {0,
         {0x3f7e757d, 0xbde060bf, 0x3f7d94d9, 0x3e0c6cea, 0xbd856d61, 0x3d43dc58},
         {0xbfbc1a891ff652db, 0x3fc19bd1a3adf564, 0xbfb0adac243f16e8, 0x3fa87b8af7985e10}},
    };
    acrobot_t s;
    rng_t rng;
    float obs[6];
    double reward;
    bool term;

    for (size_t i = 0; i < sizeof resets / sizeof resets[0]; i++) {
        acro_make_reset(&s, &rng, resets[i].seed, obs);
        ck_obs_hex(obs, resets[i].obs, 6, "reset");
        ck_state_hex(&s, resets[i].state, "reset");
    }
    acro_make_reset(&s, &rng, 0, obs);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        acrobot_step(&s, steps[i].a, obs, &reward, &term);
        ck_obs_hex(obs, steps[i].obs, 6, "step");
        ck_state_hex(&s, steps[i].state, "step");
        ck_assert(reward == -1.0 && !term);
    }
}
END_TEST

/* Seed 835's theta1 (3d919d66) is one where numpy's float32 cos (3f7f5a6a)
 * is neither glibc's cosf nor the correctly rounded value (3f7f5a6b). */
START_TEST(test_reset_observation_uses_numpys_float32_kernel)
{
    acrobot_t s;
    rng_t rng;
    float obs[6];

    acro_make_reset(&s, &rng, 835, obs);
    ck_assert_uint_eq(f32_bits((float)s.s[0]), 0x3d919d66);
    ck_assert_uint_eq(f32_bits(obs[0]), 0x3f7f5a6a);
    ck_assert_uint_eq(f32_bits(cosf((float)s.s[0])), 0x3f7f5a6b);
}
END_TEST

/* ---------------------------------------------------------------- options */

START_TEST(test_make_takes_no_options)
{
    const option_t bad[] = {
        {.key = "book_or_nips", .type = OPTION_STRING, .v.s = "nips"},
        {.key = "torque_noise_max", .type = OPTION_DOUBLE, .v.d = 0.1},
        {.key = "render_mode", .type = OPTION_STRING, .v.s = "rgb_array"},
    };
    acrobot_t s;
    errbuf_t e;

    ck_assert_int_eq(acrobot_init(&s, NULL, 0, &e), 0);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(acrobot_init(&s, &bad[k], 1, &e), ERR_INVALID_ARGUMENT);
        ck_assert_msg(strstr(e.msg, bad[k].key) != NULL, "message names no key: %s", e.msg);
    }
}
END_TEST

START_TEST(test_set_attr_checks_names_types_and_values)
{
    const option_t bad[] = {
        {.key = "book_or_nips", .type = OPTION_STRING, .v.s = "paper"},
        {.key = "book_or_nips", .type = OPTION_BOOL, .v.b = true},
        {.key = "torque_noise_max", .type = OPTION_DOUBLE, .v.d = -0.1},
        {.key = "torque_noise_max", .type = OPTION_DOUBLE, .v.d = NAN},
        {.key = "torque_noise_max", .type = OPTION_DOUBLE, .v.d = DBL_MAX},
        {.key = "torque_noise_max", .type = OPTION_STRING, .v.s = "0.1"},
        {.key = "dt", .type = OPTION_DOUBLE, .v.d = 0.1},
    };
    const option_t nips = {.key = "book_or_nips", .type = OPTION_STRING, .v.s = "nips"};
    const option_t book = {.key = "book_or_nips", .type = OPTION_STRING, .v.s = "book"};
    const option_t noise = {.key = "torque_noise_max", .type = OPTION_INT, .v.i = 1};
    acrobot_t s, before;
    errbuf_t e;

    ck_assert_int_eq(acrobot_init(&s, NULL, 0, &e), 0);
    before = s;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(acrobot_set_attr(&s, &bad[k], &e) == ERR_INVALID_ARGUMENT, "#%zu", k);
        ck_assert_msg(strstr(e.msg, bad[k].key) != NULL, "message names no key: %s", e.msg);
        ck_assert(memcmp(&s, &before, sizeof s) == 0);
    }
    ck_assert_int_eq(acrobot_set_attr(&s, &nips, &e), 0);
    ck_assert_int_eq(s.nips, 1);
    ck_assert_int_eq(acrobot_set_attr(&s, &book, &e), 0);
    ck_assert_int_eq(s.nips, 0);
    ck_assert_int_eq(acrobot_set_attr(&s, &noise, &e), 0);
    ck_assert(s.torque_noise_max == 1.0);
}
END_TEST

/* The noise is uniform(-m, m) drawn from the reset's stream before the
 * dynamics (the golden torque-noise case checks its value); acrobot_step
 * ignores it, and acrobot_step_rng without noise draws nothing. */
START_TEST(test_torque_noise_draws_one_number_per_step)
{
    const option_t noise = {.key = "torque_noise_max", .type = OPTION_DOUBLE, .v.d = 0.5};
    acrobot_t a, b;
    rng_t ra, rb, expect;
    float oa[6], ob[6];
    double rwa, rwb;
    bool ta, tb;
    errbuf_t e;

    acro_make_reset(&a, &ra, 7, oa);
    acro_make_reset(&b, &rb, 7, ob);
    acrobot_step_rng(&a, &ra, 1, oa, &rwa, &ta);
    acrobot_step(&b, 1, ob, &rwb, &tb);
    ck_assert(memcmp(&a, &b, sizeof a) == 0 && memcmp(oa, ob, sizeof oa) == 0);
    ck_assert(memcmp(&ra, &rb, sizeof ra) == 0);

    ck_assert_int_eq(acrobot_set_attr(&a, &noise, &e), 0);
    ck_assert_int_eq(acrobot_set_attr(&b, &noise, &e), 0);
    expect = ra;
    (void)rng_next_double(&expect);
    acrobot_step_rng(&a, &ra, 1, oa, &rwa, &ta);
    ck_assert(memcmp(&ra, &expect, sizeof ra) == 0);
    acrobot_step(&b, 1, ob, &rwb, &tb);
    ck_assert_msg(memcmp(a.s, b.s, sizeof a.s) != 0, "the noise changed nothing");
}
END_TEST

static int acro_try_reset(acrobot_t *s, rng_t *rng, const option_t *opts, size_t n)
{
    float obs[6];
    errbuf_t e;
    return acrobot_reset(s, rng, opts, n, obs, &e);
}

START_TEST(test_reset_options_bounds_ints_and_unknown_keys)
{
    const option_t opts[] = {
        {.key = "low", .type = OPTION_INT, .v.i = -2},
        {.key = "high", .type = OPTION_DOUBLE, .v.d = 3.5},
        {.key = "colour", .type = OPTION_STRING, .v.s = "ignored, as in Gymnasium"},
    };
    acrobot_t s;
    rng_t rng, ref;
    float obs[6];
    errbuf_t e;

    ck_assert_int_eq(acrobot_init(&s, NULL, 0, &e), 0);
    rng_seed(&rng, 42);
    ref = rng;
    ck_assert_int_eq(acrobot_reset(&s, &rng, opts, 3, obs, &e), 0);
    for (int k = 0; k < 4; k++) {
        float want = (float)(-2.0 + 5.5 * rng_next_double(&ref));
        ck_assert_msg(s.s[k] == (double)want, "state[%d] = %a, want %a", k, s.s[k], want);
    }
    ck_assert(obs[4] == (float)s.s[2] && obs[5] == (float)s.s[3]);
    ck_assert(memcmp(&rng, &ref, sizeof rng) == 0);
}
END_TEST

START_TEST(test_reset_rejects_bad_options_and_changes_nothing)
{
    const option_t bad[][2] = {
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.5},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.25}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.2}, /* above the default high */
         {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_STRING, .v.s = "0"}, {.key = "x", .type = OPTION_BOOL}},
        {{.key = "high", .type = OPTION_BOOL, .v.b = true}, {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = -INFINITY},
         {.key = "x", .type = OPTION_BOOL}},
        {{.key = "high", .type = OPTION_DOUBLE, .v.d = NAN}, {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = -DBL_MAX},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = DBL_MAX}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.0},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = -0.0}},
    };
    acrobot_t s, before;
    rng_t rng, rng_before;
    float obs[6];
    double reward;
    bool term;

    acro_make_reset(&s, &rng, 5, obs);
    acrobot_step(&s, 2, obs, &reward, &term);
    before = s;
    rng_before = rng;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(acro_try_reset(&s, &rng, bad[k], 2) == ERR_INVALID_ARGUMENT, "#%zu", k);
        ck_assert_msg(memcmp(&s, &before, sizeof s) == 0, "#%zu changed the state", k);
        ck_assert_msg(memcmp(&rng, &rng_before, sizeof rng) == 0, "#%zu drew", k);
    }
}
END_TEST

/* Wide reset options put the angles many turns out (velocity-bounds in
 * the golden file goes to 30 rad); extreme ones must still step in bounded
 * time, and the angles that come out are wrapped or, where Gymnasium would
 * loop for ever, left as they are. */
START_TEST(test_extreme_reset_options_step_in_bounded_time)
{
    static const double bounds[] = {1e4, 1e9, 1e15, 1e30, 3e38, 1e300};
    acrobot_t s;
    rng_t rng;
    float obs[6];
    double reward;
    bool term;
    errbuf_t e;

    for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
        const option_t o[] = {{.key = "low", .type = OPTION_DOUBLE, .v.d = bounds[k]},
                                  {.key = "high", .type = OPTION_DOUBLE, .v.d = bounds[k]}};
        ck_assert_int_eq(acrobot_init(&s, NULL, 0, &e), 0);
        rng_seed(&rng, k);
        ck_assert_int_eq(acrobot_reset(&s, &rng, o, 2, obs, &e), 0);
        for (int t = 0; t < 5; t++)
            acrobot_step(&s, t % 3, obs, &reward, &term);
        for (int i = 0; i < 2; i++)
            ck_assert(isnan(s.s[i]) || fabs(s.s[i]) <= M_PI || fabs(s.s[i]) >= 0x1p56);
        ck_assert(isnan(s.s[2]) || fabs(s.s[2]) <= 4 * M_PI);
    }
}
END_TEST

/* ---------------------------------------------------------------- wrap */

/* Gymnasium's loop as written. */
static double wrap_plain(double x)
{
    while (x > M_PI)
        x = x - 2 * M_PI;
    while (x < -M_PI)
        x = x + 2 * M_PI;
    return x;
}

START_TEST(test_wrap_equals_the_plain_loop)
{
    /* Every binade the jump handles up to 2^24 (a few million turns each),
     * at its edges and at random points, both signs. */
    uint64_t lcg = 99;
    int n = 0;
    for (int b = 0; b <= 24; b++) {
        double lo = ldexp(1.0, b);
        double xs[] = {lo, nextafter(lo, 0), nextafter(lo, INFINITY), 2 * lo - 2 * M_PI,
                       lo + 8 * 2 * M_PI, lo + 9 * 2 * M_PI, lo * 1.5, 0};
        for (int j = 0; j < 8; j++) {
            double x = xs[j];
            if (j == 7) {
                lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
                x = lo * (1.0 + (double)(lcg >> 11) * 0x1p-53);
            }
            for (int sign = -1; sign <= 1; sign += 2) {
                double want = wrap_plain(sign * x), got = acrobot_wrap(sign * x);
                ck_assert_msg(f64_bits(got) == f64_bits(want), "wrap(%a) = %a, want %a",
                              sign * x, got, want);
                n++;
            }
        }
    }
    ck_assert_int_eq(n, 25 * 8 * 2);
}
END_TEST

START_TEST(test_wrap_edges)
{
    /* Exactly +-pi stays; the strict comparison lets it. */
    ck_assert(acrobot_wrap(M_PI) == M_PI);
    ck_assert(acrobot_wrap(-M_PI) == -M_PI);
    /* -2 pi + 2 pi is +0.0, as Python computes it, not -0.0. */
    ck_assert_uint_eq(f64_bits(acrobot_wrap(-2 * M_PI)), 0);
    ck_assert_uint_eq(f64_bits(acrobot_wrap(2 * M_PI)), 0);
    ck_assert_uint_eq(f64_bits(acrobot_wrap(-0.0)), f64_bits(-0.0));
    ck_assert(isnan(acrobot_wrap(NAN)));
    /* Where Gymnasium would never stop: left as it is. */
    ck_assert(acrobot_wrap(INFINITY) == INFINITY);
    ck_assert(acrobot_wrap(-INFINITY) == -INFINITY);
    ck_assert(acrobot_wrap(nextafter(0x1p56, INFINITY)) == nextafter(0x1p56, INFINITY));
    ck_assert(acrobot_wrap(-0x1p60) == -0x1p60);
    /* 2^56 itself steps down into the binade below, where every turn moves
     * it by 8: it ends in [-pi, pi] like any smaller angle. */
    ck_assert(fabs(acrobot_wrap(0x1p56)) <= M_PI);
    ck_assert(fabs(acrobot_wrap(-nextafter(0x1p56, 0))) <= M_PI);
}
END_TEST

/* ---------------------------------------------------------------- spaces, stepping on */

START_TEST(test_spaces_are_gymnasiums)
{
    static const uint32_t high[6] = {0x3f800000, 0x3f800000, 0x3f800000,
                                     0x3f800000, 0x41490fdb, 0x41e231d6};
    static const uint32_t low[6] = {0xbf800000, 0xbf800000, 0xbf800000,
                                    0xbf800000, 0xc1490fdb, 0xc1e231d6};

    for (int k = 0; k < 6; k++) {
        ck_assert_uint_eq(f32_bits(acrobot_obs_high[k]), high[k]);
        ck_assert_uint_eq(f32_bits(acrobot_obs_low[k]), low[k]);
    }
    ck_assert_int_eq(ACROBOT_N_ACTIONS, 3);
    ck_assert_int_eq(ACROBOT_MAX_EPISODE_STEPS, 500);
    ck_assert(ACROBOT_REWARD_THRESHOLD == -100.0);
    /* A million sessions must fit in memory. */
    ck_assert_uint_le(sizeof(acrobot_t), 48);
}
END_TEST

/* The velocity bounds are the doubles 4 pi and 9 pi, and they hold after
 * every step whatever the start. */
START_TEST(test_velocities_stay_within_their_bounds)
{
    const option_t o[] = {{.key = "low", .type = OPTION_DOUBLE, .v.d = -40.0},
                              {.key = "high", .type = OPTION_DOUBLE, .v.d = 40.0}};
    acrobot_t s;
    rng_t rng;
    float obs[6];
    double reward;
    bool term;
    errbuf_t e;
    int hit1 = 0, hit2 = 0;

    ck_assert_int_eq(acrobot_init(&s, NULL, 0, &e), 0);
    for (uint64_t seed = 0; seed < 50; seed++) {
        rng_seed(&rng, seed);
        ck_assert_int_eq(acrobot_reset(&s, &rng, o, 2, obs, &e), 0);
        for (int t = 0; t < 20; t++) {
            acrobot_step(&s, t % 3, obs, &reward, &term);
            ck_assert(fabs(s.s[2]) <= 0x1.921fb54442d18p+3);
            ck_assert(fabs(s.s[3]) <= 0x1.c463abeccb2bbp+4);
            ck_assert(fabs(s.s[0]) <= M_PI && fabs(s.s[1]) <= M_PI);
            hit1 += fabs(s.s[2]) == 0x1.921fb54442d18p+3;
            hit2 += fabs(s.s[3]) == 0x1.c463abeccb2bbp+4;
            ck_assert(reward == (term ? 0.0 : -1.0));
        }
    }
    ck_assert_int_gt(hit1, 0);
    ck_assert_int_gt(hit2, 0);
}
END_TEST

Suite *acrobot_suite(void)
{
    Suite *s = suite_create("acrobot");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_golden_public_cases_replay_bit_exact);
    tcase_add_test(tc, test_golden_cases_replay_through_env_t);
    tcase_add_test(tc, test_note_vectors_reset_and_three_steps);
    tcase_add_test(tc, test_reset_observation_uses_numpys_float32_kernel);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_test(tc, test_make_takes_no_options);
    tcase_add_test(tc, test_set_attr_checks_names_types_and_values);
    tcase_add_test(tc, test_torque_noise_draws_one_number_per_step);
    tcase_add_test(tc, test_reset_options_bounds_ints_and_unknown_keys);
    tcase_add_test(tc, test_reset_rejects_bad_options_and_changes_nothing);
    tcase_add_test(tc, test_extreme_reset_options_step_in_bounded_time);
    suite_add_tcase(s, tc);

    tc = tcase_create("wrap");
    tcase_add_test(tc, test_wrap_equals_the_plain_loop);
    tcase_add_test(tc, test_wrap_edges);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("spaces");
    tcase_add_test(tc, test_spaces_are_gymnasiums);
    tcase_add_test(tc, test_velocities_stay_within_their_bounds);
    suite_add_tcase(s, tc);
    return s;
}
