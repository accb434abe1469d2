/*
 * check_cartpole.c — CartPole through env_t against Gymnasium's recordings.
 *
 * The main test replays every case of the public golden file (format in
 * ../shared/golden/README.md) and compares float32 observations, the double
 * state, rewards and flags bit for bit; a difference names the case,
 * segment, step and field. The others pin down what the golden file cannot
 * show: refused calls that must change nothing, make and reset options,
 * CartPole-v0's shorter limit, the registry and the spaces.
 */
#include <check.h>
#include <cJSON.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "cartpole.h"
#include "env.h"

#define GOLDEN_PATH "tests/data/cartpole_v1_public.jsonl"

/* calloc, so that whole instances can be compared with memcmp. */
static env_t *env_make(const char *id, const option_t *opts, size_t nopts)
{
    const env_class_t *cls = env_find(id);
    ck_assert_ptr_nonnull(cls);
    env_t *env = calloc(1, env_size(cls));
    ck_assert_ptr_nonnull(env);
    errbuf_t e;
    ck_assert_msg(env_init(env, cls, opts, nopts, &e) == 0, "env_init: %s", e.msg);
    return env;
}

static void reset_ok(env_t *env, uint64_t seed, float *obs)
{
    errbuf_t e;
    ck_assert_msg(env_reset(env, &seed, NULL, 0, obs, &e) == 0, "env_reset: %s", e.msg);
}

/* The golden files' `balance` policy: it keeps the pole up for hundreds of steps. */
static int64_t balance(const float *obs)
{
    return obs[2] + obs[3] > 0;
}

/* ---------------------------------------------------------------- golden replay */

typedef struct replay {
    const char *case_id;
    int segment;    /* 0-based */
    int t;          /* the step, 0 for the reset */
    char why[512];  /* the first difference */
} replay_t;

static int replay_fail(replay_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int replay_fail(replay_t *r, const char *fmt, ...)
{
    int n = snprintf(r->why, sizeof r->why, "%s segment %d t %d: ",
                     r->case_id ? r->case_id : "?", r->segment, r->t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why + n, sizeof r->why - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Compares got with the k-th hex string of rec[field]. */
static int check_hex(replay_t *r, const cJSON *rec, const char *field, int k, uint64_t got,
                     int digits)
{
    const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, field), k);
    if (!cJSON_IsString(h))
        return replay_fail(r, "%s[%d] missing in the golden file", field, k);
    uint64_t want = strtoull(h->valuestring, NULL, 16);
    if (got != want)
        return replay_fail(r, "%s[%d] = %0*llx, want %0*llx", field, k, digits,
                           (unsigned long long)got, digits, (unsigned long long)want);
    return 0;
}

static int check_obs(replay_t *r, const cJSON *rec, const char *obs_field,
                     const char *state_field, const env_t *env, const float *obs)
{
    const cartpole_t *cp = (const cartpole_t *)env->state;
    const double s[4] = {cp->x, cp->x_dot, cp->theta, cp->theta_dot};

    for (int k = 0; k < 4; k++)
        if (check_hex(r, rec, obs_field, k, f32_bits(obs[k]), 8) < 0)
            return -1;
    for (int k = 0; k < 4; k++)
        if (check_hex(r, rec, state_field, k, f64_bits(s[k]), 16) < 0)
            return -1;
    return 0;
}

static int check_flag(replay_t *r, const cJSON *rec, const char *field, bool got)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(rec, field);
    if (!cJSON_IsBool(j))
        return replay_fail(r, "%s missing in the golden file", field);
    if (got != (bool)cJSON_IsTrue(j))
        return replay_fail(r, "%s = %d, want %d", field, got, !got);
    return 0;
}

static int replay_step(replay_t *r, env_t *env, const cJSON *rec)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec, "action");
    const cJSON *rw = cJSON_GetObjectItemCaseSensitive(rec, "reward");
    float obs[4];
    double reward;
    bool terminated, truncated;
    errbuf_t e;

    if (!cJSON_IsNumber(a) || !cJSON_IsNumber(rw))
        return replay_fail(r, "action or reward missing in the golden file");
    if (env_step(env, ENV_DISCRETE((int64_t)a->valuedouble), obs, &reward, &terminated, &truncated, &e) < 0)
        return replay_fail(r, "env_step: %s", e.msg);
    if (check_obs(r, rec, "obs_hex", "state_f64_hex", env, obs) < 0)
        return -1;
    if (reward != rw->valuedouble)
        return replay_fail(r, "reward = %.17g, want %.17g", reward, rw->valuedouble);
    if (check_flag(r, rec, "terminated", terminated) < 0 ||
        check_flag(r, rec, "truncated", truncated) < 0)
        return -1;
    if (env->done != (terminated || truncated))
        return replay_fail(r, "done = %d with terminated %d, truncated %d", env->done,
                           terminated, truncated);
    return 0;
}

static int replay_segment(replay_t *r, env_t *env, const cJSON *seg)
{
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(seg, "reset_seed");
    const cJSON *seed_str = cJSON_GetObjectItemCaseSensitive(seg, "reset_seed_str");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(seg, "steps");
    uint64_t s = 0;
    float obs[4];
    errbuf_t e;

    r->t = 0;
    if (!cJSON_IsNull(seed)) {
        if (!cJSON_IsString(seed_str))
            return replay_fail(r, "reset_seed_str missing in the golden file");
        s = strtoull(seed_str->valuestring, NULL, 10);
    }
    if (env_reset(env, cJSON_IsNull(seed) ? NULL : &s, NULL, 0, obs, &e) < 0)
        return replay_fail(r, "env_reset: %s", e.msg);
    if (check_obs(r, seg, "initial_obs_hex", "initial_state_f64_hex", env, obs) < 0)
        return -1;
    if (!cJSON_IsArray(steps))
        return replay_fail(r, "steps missing in the golden file");
    const cJSON *rec;
    cJSON_ArrayForEach(rec, steps) {
        r->t++;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "t");
        if (!cJSON_IsNumber(t) || t->valuedouble != r->t)
            return replay_fail(r, "step record out of order");
        if (replay_step(r, env, rec) < 0)
            return -1;
    }
    return 0;
}

/* The golden make_kwargs: only bools exist in the format (sutton_barto_reward). */
static int replay_options(replay_t *r, const cJSON *kw, option_t *opts, size_t *nopts)
{
    const cJSON *it;

    *nopts = 0;
    cJSON_ArrayForEach(it, kw) {
        if (*nopts == OPTIONS_MAX || !cJSON_IsBool(it))
            return replay_fail(r, "make_kwargs: cannot pass '%s'", it->string);
        opts[(*nopts)++] = (option_t){.key = it->string, .type = OPTION_BOOL,
                                          .v.b = cJSON_IsTrue(it)};
    }
    return 0;
}

static int replay_case(replay_t *r, const cJSON *c)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "case_id");
    const cJSON *env_id = cJSON_GetObjectItemCaseSensitive(c, "env_id");
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(c, "segments");
    option_t opts[OPTIONS_MAX];
    size_t nopts;
    errbuf_t e;

    r->case_id = cJSON_IsString(id) ? id->valuestring : NULL;
    if (!cJSON_IsString(env_id) || !cJSON_IsArray(segs) || cJSON_GetArraySize(segs) == 0)
        return replay_fail(r, "env_id or segments missing in the golden file");
    const env_class_t *cls = env_find(env_id->valuestring);
    if (!cls)
        return replay_fail(r, "no class %s", env_id->valuestring);
    if (replay_options(r, cJSON_GetObjectItemCaseSensitive(c, "make_kwargs"), opts, &nopts) < 0)
        return -1;
    env_t *env = calloc(1, env_size(cls));
    if (!env)
        return replay_fail(r, "out of memory");
    int rc = env_init(env, cls, opts, nopts, &e);
    if (rc < 0)
        rc = replay_fail(r, "env_init: %s", e.msg);
    for (const cJSON *seg = segs->child; rc == 0 && seg; seg = seg->next, r->segment++)
        rc = replay_segment(r, env, seg);
    free(env);
    return rc;
}

START_TEST(test_golden_public_cases_replay_bit_exact)
{
    FILE *f = fopen(GOLDEN_PATH, "r");
    ck_assert_msg(f != NULL, "cannot open %s (tests run from the repository root)", GOLDEN_PATH);
    char *line = NULL, first[512] = "";
    size_t cap = 0;
    int ncases = 0, nfailed = 0;

    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '\n')
            continue;
        replay_t r = {0};
        cJSON *c = cJSON_Parse(line);
        int rc = c ? replay_case(&r, c) : replay_fail(&r, "line %d is not JSON", ncases + 1);
        if (rc < 0) {
            fprintf(stderr, "golden: %s\n", r.why);
            if (nfailed++ == 0)
                snprintf(first, sizeof first, "%s", r.why);
        }
        cJSON_Delete(c);
        ncases++;
    }
    free(line);
    fclose(f);
    ck_assert_msg(ncases > 0, "%s has no cases", GOLDEN_PATH);
    ck_assert_msg(nfailed == 0, "%d of %d golden cases differ; first: %s", nfailed, ncases, first);
}
END_TEST

/* ---------------------------------------------------------------- limits */

/* With zero velocities a step leaves x and theta exactly where they were,
 * so a state placed on a limit tests the comparison and the limit's last
 * bit, which no recorded trajectory reaches. */
static bool terminates_from(double x, double theta)
{
    env_t *env = env_make("CartPole-v1", NULL, 0);
    cartpole_t *cp = (cartpole_t *)env->state;
    float obs[4];
    double reward;
    bool term, trunc;
    errbuf_t e;

    reset_ok(env, 0, obs);
    *cp = (cartpole_t){.x = x, .theta = theta};
    ck_assert_int_eq(env_step(env, ENV_DISCRETE(0), obs, &reward, &term, &trunc, &e), 0);
    ck_assert(cp->x == x && cp->theta == theta);
    free(env);
    return term;
}

START_TEST(test_limits_are_strict_at_exact_values)
{
    const double theta_limit = 0x1.acee9f37bebd5p-3; /* 3fcacee9f37bebd5 */

    ck_assert(!terminates_from(2.4, 0));
    ck_assert(!terminates_from(-2.4, 0));
    ck_assert(terminates_from(nextafter(2.4, 3), 0));
    ck_assert(terminates_from(nextafter(-2.4, -3), 0));
    ck_assert(!terminates_from(0, theta_limit));
    ck_assert(!terminates_from(0, -theta_limit));
    ck_assert(terminates_from(0, nextafter(theta_limit, 1)));
    ck_assert(terminates_from(0, nextafter(-theta_limit, -1)));
}
END_TEST

/* ---------------------------------------------------------------- refused calls */

START_TEST(test_step_before_reset_fails_and_changes_nothing)
{
    env_t *env = env_make("CartPole-v1", NULL, 0);
    size_t size = env_size(env->cls);
    unsigned char *before = malloc(size);
    float obs[4];
    double reward;
    bool term, trunc;
    errbuf_t e;

    memcpy(before, env, size);
    ck_assert_int_eq(env_check_step(env, ENV_DISCRETE(0), &e), ERR_FAILED_PRECONDITION);
    ck_assert_int_eq(env_step(env, ENV_DISCRETE(0), obs, &reward, &term, &trunc, &e), ERR_FAILED_PRECONDITION);
    ck_assert_int_eq(e.code, ERR_FAILED_PRECONDITION);
    /* OrderEnforcing is outside the action check, so it answers first. */
    ck_assert_int_eq(env_step(env, ENV_DISCRETE(2), obs, &reward, &term, &trunc, &e), ERR_FAILED_PRECONDITION);
    ck_assert_msg(memcmp(before, env, size) == 0, "a refused step changed the instance");
    free(before);
    free(env);
}
END_TEST

START_TEST(test_invalid_action_fails_and_changes_nothing)
{
    static const int64_t bad[] = {2, -1, INT64_MAX, INT64_MIN};
    env_t *a = env_make("CartPole-v1", NULL, 0);
    env_t *b = env_make("CartPole-v1", NULL, 0);
    size_t size = env_size(a->cls);
    float oa[4], ob[4];
    double ra, rb;
    bool ta, tb, ua, ub;
    errbuf_t e;

    reset_ok(a, 3, oa);
    reset_ok(b, 3, ob);
    for (int t = 1; t <= 30; t++) {
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            ck_assert_int_eq(env_check_step(a, ENV_DISCRETE(bad[k]), &e), ERR_INVALID_ARGUMENT);
            ck_assert_int_eq(env_step(a, ENV_DISCRETE(bad[k]), oa, &ra, &ta, &ua, &e), ERR_INVALID_ARGUMENT);
            ck_assert_msg(strstr(e.msg, "action") != NULL, "unhelpful message: %s", e.msg);
        }
        ck_assert_msg(memcmp(a, b, size) == 0, "t %d: a refused action changed the instance", t);
        int64_t action = t % 3 == 0;
        ck_assert_int_eq(env_step(a, ENV_DISCRETE(action), oa, &ra, &ta, &ua, &e), 0);
        ck_assert_int_eq(env_step(b, ENV_DISCRETE(action), ob, &rb, &tb, &ub, &e), 0);
        ck_assert_msg(memcmp(oa, ob, sizeof oa) == 0, "t %d: trajectories differ", t);
        ck_assert(ra == rb && ta == tb && ua == ub);
    }
    free(a);
    free(b);
}
END_TEST

/* ---------------------------------------------------------------- make options */

static int try_make(const char *id, const option_t *opts, size_t nopts, errbuf_t *e)
{
    const env_class_t *cls = env_find(id);
    env_t *env = calloc(1, env_size(cls));
    int rc = env_init(env, cls, opts, nopts, e);
    free(env);
    return rc;
}

START_TEST(test_make_rejects_unknown_option)
{
    option_t o = {.key = "sutton_barto", .type = OPTION_BOOL, .v.b = true};
    errbuf_t e;

    ck_assert_int_eq(try_make("CartPole-v1", &o, 1, &e), ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(e.msg, "'sutton_barto'") != NULL, "message names no key: %s", e.msg);
}
END_TEST

START_TEST(test_make_rejects_wrongly_typed_option)
{
    const option_t bad[] = {
        {.key = "sutton_barto_reward", .type = OPTION_INT, .v.i = 1},
        {.key = "sutton_barto_reward", .type = OPTION_STRING, .v.s = "true"},
        {.key = "max_episode_steps", .type = OPTION_DOUBLE, .v.d = 10.0},
        {.key = "max_episode_steps", .type = OPTION_BOOL, .v.b = true},
        {.key = "max_episode_steps", .type = OPTION_NONE},
        {.key = "sutton_barto_reward", .type = OPTION_NONE},
    };
    errbuf_t e;

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(try_make("CartPole-v1", &bad[k], 1, &e), ERR_INVALID_ARGUMENT);
        ck_assert_msg(strstr(e.msg, bad[k].key) && strstr(e.msg, option_type_name(bad[k].type)),
                      "message names neither key nor type: %s", e.msg);
    }
}
END_TEST

START_TEST(test_make_rejects_max_episode_steps_out_of_range)
{
    static const int64_t bad[] = {0, -1, (int64_t)UINT32_MAX + 1, INT64_MIN};
    errbuf_t e;

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        option_t o = {.key = "max_episode_steps", .type = OPTION_INT, .v.i = bad[k]};
        ck_assert_int_eq(try_make("CartPole-v1", &o, 1, &e), ERR_INVALID_ARGUMENT);
    }
}
END_TEST

START_TEST(test_make_rejects_too_many_options)
{
    option_t opts[OPTIONS_MAX + 1];
    errbuf_t e;

    for (size_t k = 0; k < OPTIONS_MAX + 1; k++)
        opts[k] = (option_t){.key = "sutton_barto_reward", .type = OPTION_BOOL};
    ck_assert_int_eq(try_make("CartPole-v1", opts, OPTIONS_MAX, &e), 0);
    ck_assert_int_eq(try_make("CartPole-v1", opts, OPTIONS_MAX + 1, &e),
                     ERR_INVALID_ARGUMENT);
}
END_TEST

/* Runs the balance policy from seed and checks that the episode is
 * truncated at exactly `limit`, stays truncated after it, and never
 * terminates on the way. */
static void ck_truncates_at(env_t *env, uint64_t seed, int limit)
{
    float obs[4];
    double reward;
    bool term, trunc;
    errbuf_t e;

    reset_ok(env, seed, obs);
    for (int t = 1; t <= limit + 2; t++) {
        ck_assert_int_eq(env_step(env, ENV_DISCRETE(balance(obs)), obs, &reward, &term, &trunc, &e), 0);
        ck_assert_msg(!term, "terminated at t %d", t);
        ck_assert_msg(trunc == (t >= limit), "t %d: truncated = %d with limit %d", t, trunc,
                      limit);
        ck_assert_int_eq(env->done, trunc);
    }
    reset_ok(env, seed, obs);
    ck_assert_int_eq(env->done, 0);
    ck_assert_int_eq(env->elapsed, 0);
}

START_TEST(test_max_episode_steps_option_truncates_there)
{
    option_t o = {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 10};
    env_t *env = env_make("CartPole-v1", &o, 1);

    ck_truncates_at(env, 0, 10);
    free(env);
}
END_TEST

START_TEST(test_v0_truncates_at_200_with_v1_dynamics)
{
    env_t *v0 = env_make("CartPole-v0", NULL, 0);
    env_t *v1 = env_make("CartPole-v1", NULL, 0);
    float o0[4], o1[4];
    double r0, r1;
    bool t0, t1, u0, u1;
    errbuf_t e;

    ck_truncates_at(v0, 1, 200);
    reset_ok(v0, 1, o0);
    reset_ok(v1, 1, o1);
    for (int t = 1; t <= 200; t++) {
        ck_assert_int_eq(env_step(v0, ENV_DISCRETE(balance(o0)), o0, &r0, &t0, &u0, &e), 0);
        ck_assert_int_eq(env_step(v1, ENV_DISCRETE(balance(o1)), o1, &r1, &t1, &u1, &e), 0);
        ck_assert_msg(memcmp(o0, o1, sizeof o0) == 0 && r0 == r1 && t0 == t1,
                      "t %d: v0 and v1 dynamics differ", t);
    }
    ck_assert(u0 && !u1);
    free(v0);
    free(v1);
}
END_TEST

/* ---------------------------------------------------------------- batched steps */

/* env_step_many_unchecked (what step_batch runs: the class's step_many,
 * which interleaves the rows' arithmetic) must leave every instance, observation,
 * reward and flag bit for bit where env_step (the path the golden replay
 * checks) leaves a twin. 61 rows (not a multiple of the group size), half
 * of them with sutton_barto_reward, wide reset bounds so that poles fall
 * early, stepped past termination and truncation, with rows left out of
 * some ticks (NULL, as NEXT_STEP autoreset leaves them). */
START_TEST(test_batched_steps_equal_single_steps_bit_for_bit)
{
    enum { ROWS = 61, TICKS = 700 };
    option_t sb = {.key = "sutton_barto_reward", .type = OPTION_BOOL, .v.b = true};
    option_t wide[] = {{.key = "low", .type = OPTION_DOUBLE, .v.d = -0.2},
                           {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.2}};
    env_t *many[ROWS], *one[ROWS], *rows[ROWS];
    int64_t act[ROWS];
    float obs_many[ROWS * 4], obs_one[4];
    double rew_many[ROWS], rew_one;
    bool term_many[ROWS], trunc_many[ROWS], term_one, trunc_one;
    errbuf_t e;
    uint64_t lcg = 12345;
    int falls = 0, truncations = 0;

    for (int i = 0; i < ROWS; i++) {
        const env_class_t *cls = env_find("CartPole-v1");
        many[i] = calloc(1, env_size(cls));
        one[i] = calloc(1, env_size(cls));
        ck_assert(many[i] && one[i]);
        ck_assert_int_eq(env_init(many[i], cls, &sb, i % 2, &e), 0);
        ck_assert_int_eq(env_init(one[i], cls, &sb, i % 2, &e), 0);
        uint64_t seed = 1000 + (uint64_t)i;
        const option_t *ro = i % 3 ? wide : NULL;
        ck_assert_int_eq(env_reset(many[i], &seed, ro, ro ? 2 : 0, obs_one, &e), 0);
        ck_assert_int_eq(env_reset(one[i], &seed, ro, ro ? 2 : 0, obs_one, &e), 0);
    }
    for (int t = 0; t < TICKS; t++) {
        for (int i = 0; i < ROWS; i++) {
            lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
            act[i] = (int64_t)(lcg >> 63);
            rows[i] = (lcg >> 40) % 7 == 0 ? NULL : many[i];
        }
        env_step_many_unchecked(rows, act, 0, ROWS, obs_many, rew_many, term_many, trunc_many);
        for (int i = 0; i < ROWS; i++) {
            if (!rows[i])
                continue;
            env_step_unchecked(one[i], ENV_DISCRETE(act[i]), obs_one, &rew_one, &term_one, &trunc_one);
            ck_assert_msg(memcmp(many[i], one[i], env_size(one[i]->cls)) == 0 &&
                              memcmp(obs_many + 4 * i, obs_one, sizeof obs_one) == 0 &&
                              f64_bits(rew_many[i]) == f64_bits(rew_one) &&
                              term_many[i] == term_one && trunc_many[i] == trunc_one,
                          "tick %d row %d: the batched step differs from the single step", t, i);
            falls += term_one;
            truncations += trunc_one;
        }
    }
    /* The comparison covered falls and time limits, not just upright poles. */
    ck_assert_int_gt(falls, ROWS);
    ck_assert_int_gt(truncations, 0);
    for (int i = 0; i < ROWS; i++) {
        free(many[i]);
        free(one[i]);
    }
}
END_TEST

/* ---------------------------------------------------------------- reset options */

static int try_reset(env_t *env, uint64_t seed, const option_t *opts, size_t nopts,
                     float *obs, errbuf_t *e)
{
    return env_reset(env, &seed, opts, nopts, obs, e);
}

START_TEST(test_reset_bounds_equal_give_that_value)
{
    env_t *env = env_make("CartPole-v1", NULL, 0);
    const option_t dbl[] = {
        {.key = "low", .type = OPTION_DOUBLE, .v.d = 0.25},
        {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.25},
    };
    const option_t ints[] = {
        {.key = "high", .type = OPTION_INT, .v.i = -3},
        {.key = "low", .type = OPTION_INT, .v.i = -3},
    };
    float obs[4];
    errbuf_t e;

    ck_assert_int_eq(try_reset(env, 0, dbl, 2, obs, &e), 0);
    for (int k = 0; k < 4; k++)
        ck_assert_msg(obs[k] == 0.25f, "obs[%d] = %a", k, obs[k]);
    ck_assert_int_eq(try_reset(env, 0, ints, 2, obs, &e), 0);
    for (int k = 0; k < 4; k++)
        ck_assert_msg(obs[k] == -3.0f, "obs[%d] = %a", k, obs[k]);
    free(env);
}
END_TEST

/* low + (high - low) * u, with u the seed's stream of doubles. */
START_TEST(test_reset_bounds_scale_the_draws)
{
    env_t *env = env_make("CartPole-v1", NULL, 0);
    const option_t opts[] = {
        {.key = "low", .type = OPTION_DOUBLE, .v.d = -1.0},
        {.key = "high", .type = OPTION_INT, .v.i = 2},
        {.key = "colour", .type = OPTION_STRING, .v.s = "ignored, as in Gymnasium"},
        {.key = "render", .type = OPTION_NONE}, /* no value: ignored too */
    };
    const cartpole_t *cp = (const cartpole_t *)env->state;
    float obs[4];
    rng_t r;
    errbuf_t e;

    ck_assert_int_eq(try_reset(env, 42, opts, 4, obs, &e), 0);
    rng_seed(&r, 42);
    const double s[4] = {cp->x, cp->x_dot, cp->theta, cp->theta_dot};
    for (int k = 0; k < 4; k++) {
        double want = -1.0 + 3.0 * rng_next_double(&r);
        ck_assert_msg(f64_bits(s[k]) == f64_bits(want), "state[%d] = %a, want %a", k, s[k], want);
        ck_assert_msg(obs[k] == (float)want, "obs[%d] = %a", k, obs[k]);
    }
    free(env);
}
END_TEST

START_TEST(test_reset_rejects_bad_bounds_and_changes_nothing)
{
    const option_t bad[][2] = {
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.5},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.25}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.1},   /* above the default high */
         {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_STRING, .v.s = "0"},
         {.key = "x", .type = OPTION_BOOL}},
        {{.key = "high", .type = OPTION_BOOL, .v.b = true},
         {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_NONE}, /* float(None) raises in Gymnasium */
         {.key = "x", .type = OPTION_NONE}},
        /* numpy's uniform refuses a range that is not finite or is -0.0 */
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = -INFINITY},
         {.key = "x", .type = OPTION_BOOL}},
        {{.key = "high", .type = OPTION_DOUBLE, .v.d = NAN},
         {.key = "x", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = -DBL_MAX},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = DBL_MAX}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.0},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = -0.0}},
    };
    env_t *env = env_make("CartPole-v1", NULL, 0);
    size_t size = env_size(env->cls);
    unsigned char *before = malloc(size);
    float obs[4], again[4];
    double reward;
    bool term, trunc;
    errbuf_t e;

    reset_ok(env, 5, obs);
    ck_assert_int_eq(env_step(env, ENV_DISCRETE(1), obs, &reward, &term, &trunc, &e), 0);
    memcpy(before, env, size);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(try_reset(env, 6, bad[k], 2, obs, &e) == ERR_INVALID_ARGUMENT,
                      "bad bounds #%zu accepted", k);
        ck_assert_msg(memcmp(before, env, size) == 0, "bad bounds #%zu changed the instance", k);
        ck_assert_int_eq(env_reset(env, NULL, bad[k], 2, obs, &e), ERR_INVALID_ARGUMENT);
        ck_assert_msg(memcmp(before, env, size) == 0, "bad bounds #%zu changed the stream", k);
    }
    /* The stream of seed 5 goes on as if nothing had been asked. */
    ck_assert_int_eq(env_reset(env, NULL, NULL, 0, obs, &e), 0);
    env_t *ref = env_make("CartPole-v1", NULL, 0);
    reset_ok(ref, 5, again);
    ck_assert_int_eq(env_reset(ref, NULL, NULL, 0, again, &e), 0);
    ck_assert(memcmp(obs, again, sizeof obs) == 0);
    free(ref);
    free(before);
    free(env);
}
END_TEST

START_TEST(test_unseeded_first_reset_draws_from_the_os)
{
    env_t *env = env_make("CartPole-v1", NULL, 0);
    float obs[4];
    errbuf_t e;

    ck_assert_int_eq(env_reset(env, NULL, NULL, 0, obs, &e), 0);
    ck_assert_int_eq(env->seeded, 1);
    for (int k = 0; k < 4; k++)
        ck_assert(obs[k] >= -0.05f && obs[k] <= 0.05f);
    free(env);
}
END_TEST

/* ---------------------------------------------------------------- registry and spaces */

START_TEST(test_both_cartpoles_are_registered_with_gymnasiums_limits)
{
    static const struct { const char *id; unsigned steps; double threshold; } want[] = {
        {"CartPole-v1", 500, 475.0},
        {"CartPole-v0", 200, 195.0},
    };
    for (size_t k = 0; k < 2; k++) {
        const env_class_t *cls = env_find(want[k].id);
        ck_assert_ptr_nonnull(cls);
        ck_assert_str_eq(cls->id, want[k].id);
        ck_assert_uint_eq(cls->max_episode_steps, want[k].steps);
        ck_assert(cls->has_reward_threshold && cls->reward_threshold == want[k].threshold);
        ck_assert_uint_eq(cls->obs_dim, 4);
        ck_assert_int_eq(cls->action_kind, ENV_DISCRETE);
        ck_assert_uint_eq(cls->n_actions, 2);
    }
}
END_TEST

START_TEST(test_spaces_bounds_are_gymnasiums_float32)
{
    static const uint32_t high[4] = {0x4099999a, 0x7f800000, 0x3ed67750, 0x7f800000};
    static const uint32_t low[4] = {0xc099999a, 0xff800000, 0xbed67750, 0xff800000};

    static const char *const ids[] = {"CartPole-v1", "CartPole-v0"};
    for (size_t i = 0; i < 2; i++) {
        const env_class_t *cls = env_find(ids[i]);
        for (int k = 0; k < 4; k++) {
            ck_assert_msg(f32_bits(cls->obs_high[k]) == high[k], "%s high[%d]", cls->id, k);
            ck_assert_msg(f32_bits(cls->obs_low[k]) == low[k], "%s low[%d]", cls->id, k);
        }
    }
}
END_TEST

Suite *cartpole_suite(void)
{
    Suite *s = suite_create("cartpole");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_golden_public_cases_replay_bit_exact);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_limits_are_strict_at_exact_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("refused");
    tcase_add_test(tc, test_step_before_reset_fails_and_changes_nothing);
    tcase_add_test(tc, test_invalid_action_fails_and_changes_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("make");
    tcase_add_test(tc, test_make_rejects_unknown_option);
    tcase_add_test(tc, test_make_rejects_wrongly_typed_option);
    tcase_add_test(tc, test_make_rejects_max_episode_steps_out_of_range);
    tcase_add_test(tc, test_make_rejects_too_many_options);
    tcase_add_test(tc, test_max_episode_steps_option_truncates_there);
    tcase_add_test(tc, test_v0_truncates_at_200_with_v1_dynamics);
    tcase_add_test(tc, test_batched_steps_equal_single_steps_bit_for_bit);
    suite_add_tcase(s, tc);

    tc = tcase_create("reset");
    tcase_add_test(tc, test_reset_bounds_equal_give_that_value);
    tcase_add_test(tc, test_reset_bounds_scale_the_draws);
    tcase_add_test(tc, test_reset_rejects_bad_bounds_and_changes_nothing);
    tcase_add_test(tc, test_unseeded_first_reset_draws_from_the_os);
    suite_add_tcase(s, tc);

    tc = tcase_create("registry");
    tcase_add_test(tc, test_both_cartpoles_are_registered_with_gymnasiums_limits);
    tcase_add_test(tc, test_spaces_bounds_are_gymnasiums_float32);
    suite_add_tcase(s, tc);
    return s;
}
