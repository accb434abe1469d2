/*
 * classic_golden.h — replays a `classic-golden/1` file (the second part of
 * ../shared/golden/README.md) against one environment, bit for bit.
 *
 * Shared by check_acrobot.c, check_mountaincar.c,
 * check_mountaincar_continuous.c and check_pendulum.c: each supplies a
 * golden_ops_t that opens an instance for a case (make_kwargs,
 * unwrapped_attrs), resets it (seed or none, reset options) and steps it
 * with a recorded action; this file walks the cases and compares every
 * observation, state, reward (as bits: -0.0 is not 0.0) and flag, and names
 * the case, segment, step and field of the first difference.
 *
 * golden_wrap_t is TimeLimit and Env.reset's seeding as env.c's env_t plays
 * them (counter saturating at 2^32 - 1, truncated once it reaches the
 * limit and on every step after, a refused reset changing nothing), for the
 * continuous environments that env_t cannot hold yet.
 *
 * Header-only, as bits.h: every tests/check_*.c is linked into one runner.
 */
#ifndef CLASSIC_GOLDEN_H
#define CLASSIC_GOLDEN_H

#include <cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "env.h"
#include "rng.h"

#define GOLDEN_MAX_DIM 8
#define GOLDEN_MAX_OPTS 8

/* ---------------------------------------------------------------- TimeLimit */

typedef struct golden_wrap {
    rng_t rng;
    bool seeded;
    uint32_t elapsed;
    uint32_t max_steps;
} golden_wrap_t;

/* Env.reset's seeding around a raw reset: a copy of the stream is seeded or
 * continued, and kept only if the raw reset succeeds. The golden files
 * never reset unseeded first, so OS entropy is an error here. */
static inline int golden_wrap_reset(golden_wrap_t *w, const uint64_t *seed, rng_t *rng,
                                    errbuf_t *e)
{
    *rng = w->rng;
    if (seed)
        rng_seed(rng, *seed);
    else if (!w->seeded)
        return err_set(e, ERR_FAILED_PRECONDITION, "unseeded first reset");
    return 0;
}

static inline void golden_wrap_commit(golden_wrap_t *w, const rng_t *rng)
{
    w->rng = *rng;
    w->seeded = true;
    w->elapsed = 0;
}

/* TimeLimit's half of a step: returns truncated. */
static inline bool golden_wrap_tick(golden_wrap_t *w)
{
    if (w->elapsed < UINT32_MAX)
        w->elapsed++;
    return w->max_steps > 0 && w->elapsed >= w->max_steps;
}

/* ---------------------------------------------------------------- the file */

typedef struct golden_ops {
    const char *path;
    const char *env_id;
    unsigned obs_dim, state_dim;
    unsigned max_episode_steps;
    /* A fresh instance for case c (its whole JSON line in `line`, for the
     * literal types of make_kwargs), or NULL with why filled in. */
    void *(*open)(const cJSON *c, const char *line, char *why, size_t n);
    void (*close)(void *inst);
    /* Optional: true for a case this driver cannot replay; it is counted
     * in nskipped, and the test says how many it expects. */
    bool (*skip)(const cJSON *c);
    int (*reset)(void *inst, const uint64_t *seed, const option_t *opts, size_t nopts,
                 float *obs, errbuf_t *e);
    /* Steps with the action of record rec (action_dtype of the case);
     * returns -1 with why filled in if the record cannot be used. */
    int (*step)(void *inst, const cJSON *rec, const char *dtype, float *obs, double *reward,
                bool *terminated, bool *truncated, char *why, size_t n);
    void (*state)(const void *inst, double *out);
} golden_ops_t;

typedef struct golden_run {
    const char *case_id;
    int segment;  /* 0-based */
    int t;        /* the step, 0 for the reset */
    char why[512];
    int ncases, nsteps;  /* replayed bit-exact */
    int nskipped;        /* cases ops->skip refused */
} golden_run_t;

static int golden_fail(golden_run_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int golden_fail(golden_run_t *r, const char *fmt, ...)
{
    int n = snprintf(r->why, sizeof r->why, "%s segment %d t %d: ",
                     r->case_id ? r->case_id : "?", r->segment, r->t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why + n, sizeof r->why - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* The k-th hex string of rec[field] as bits, or -1. */
static int golden_hex(golden_run_t *r, const cJSON *rec, const char *field, int k, int digits,
                      uint64_t *out)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec, field);
    const cJSON *h = k < 0 ? a : cJSON_GetArrayItem(a, k);
    char *end;
    if (!cJSON_IsString(h) || strlen(h->valuestring) != (size_t)digits)
        return golden_fail(r, "%s[%d] missing or not %d hex digits", field, k, digits);
    *out = strtoull(h->valuestring, &end, 16);
    if (*end)
        return golden_fail(r, "%s[%d] = '%s' is not hex", field, k, h->valuestring);
    return 0;
}

static inline float golden_f32(uint64_t bits)
{
    uint32_t b = (uint32_t)bits;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline double golden_f64(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static int golden_check_vec(golden_run_t *r, const golden_ops_t *ops, const void *inst,
                            const cJSON *rec, const char *obs_field, const char *state_field,
                            const float *obs)
{
    double st[GOLDEN_MAX_DIM];
    uint64_t want;

    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rec, obs_field)) !=
        (int)ops->obs_dim)
        return golden_fail(r, "%s has not %u values", obs_field, ops->obs_dim);
    for (unsigned k = 0; k < ops->obs_dim; k++) {
        if (golden_hex(r, rec, obs_field, (int)k, 8, &want) < 0)
            return -1;
        if (f32_bits(obs[k]) != want)
            return golden_fail(r, "%s[%u] = %08x, want %08llx", obs_field, k, f32_bits(obs[k]),
                               (unsigned long long)want);
    }
    ops->state(inst, st);
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rec, state_field)) !=
        (int)ops->state_dim)
        return golden_fail(r, "%s has not %u values", state_field, ops->state_dim);
    for (unsigned k = 0; k < ops->state_dim; k++) {
        if (golden_hex(r, rec, state_field, (int)k, 16, &want) < 0)
            return -1;
        if (f64_bits(st[k]) != want)
            return golden_fail(r, "%s[%u] = %016llx, want %016llx", state_field, k,
                               (unsigned long long)f64_bits(st[k]), (unsigned long long)want);
    }
    return 0;
}

static int golden_check_flag(golden_run_t *r, const cJSON *rec, const char *field, bool got)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(rec, field);
    if (!cJSON_IsBool(j))
        return golden_fail(r, "%s missing", field);
    if (got != (bool)cJSON_IsTrue(j))
        return golden_fail(r, "%s = %d, want %d", field, got, !got);
    return 0;
}

/* Whether the literal of make_kwargs[key] in the raw line is an integer
 * (no '.', 'e' or 'E'): cJSON reads 9 and 9.0 alike, Gymnasium does not
 * (Pendulum's g). */
static bool golden_kwarg_is_int(const char *line, const char *key)
{
    const char *kw = strstr(line, "\"make_kwargs\":");
    char pat[64];
    if (!kw)
        return false;
    const char *close = strchr(kw, '}');
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(kw, pat);
    if (!p || (close && p > close))
        return false;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = strspn(p, "+-0123456789.eE");
    return n > 0 && !memchr(p, '.', n) && !memchr(p, 'e', n) && !memchr(p, 'E', n);
}

/* A JSON object of options as option_t rows (pointing into obj):
 * numbers as ints where line says so (for make_kwargs) else doubles,
 * bools, strings. */
static int golden_options(golden_run_t *r, const cJSON *obj, const char *line, bool kwargs,
                          option_t *opts, size_t *nopts)
{
    const cJSON *it;
    *nopts = 0;
    if (!obj || cJSON_IsNull(obj))
        return 0;
    cJSON_ArrayForEach(it, obj) {
        option_t *o = &opts[*nopts];
        if (*nopts == GOLDEN_MAX_OPTS)
            return golden_fail(r, "too many options");
        if (cJSON_IsBool(it)) {
            *o = (option_t){.key = it->string, .type = OPTION_BOOL, .v.b = cJSON_IsTrue(it)};
        } else if (cJSON_IsString(it)) {
            *o = (option_t){.key = it->string, .type = OPTION_STRING, .v.s = it->valuestring};
        } else if (cJSON_IsNumber(it)) {
            if (kwargs && golden_kwarg_is_int(line, it->string))
                *o = (option_t){.key = it->string, .type = OPTION_INT,
                                    .v.i = (int64_t)it->valuedouble};
            else
                *o = (option_t){.key = it->string, .type = OPTION_DOUBLE,
                                    .v.d = it->valuedouble};
        } else {
            return golden_fail(r, "option '%s' has a type no option has", it->string);
        }
        (*nopts)++;
    }
    return 0;
}

/* The recorded action as float32 or float64 bits (action_hex[0]). */
static inline int golden_action_f32(const cJSON *rec, float *out)
{
    const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "action_hex"), 0);
    if (!cJSON_IsString(h) || strlen(h->valuestring) != 8)
        return -1;
    *out = golden_f32(strtoull(h->valuestring, NULL, 16));
    return 0;
}

static inline int golden_action_f64(const cJSON *rec, double *out)
{
    const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "action_hex"), 0);
    if (!cJSON_IsString(h) || strlen(h->valuestring) != 16)
        return -1;
    *out = golden_f64(strtoull(h->valuestring, NULL, 16));
    return 0;
}

static int golden_step(golden_run_t *r, const golden_ops_t *ops, void *inst, const cJSON *rec,
                       const char *dtype)
{
    float obs[GOLDEN_MAX_DIM];
    double reward;
    bool term, trunc;
    uint64_t want;
    char why[256] = "";

    if (ops->step(inst, rec, dtype, obs, &reward, &term, &trunc, why, sizeof why) < 0)
        return golden_fail(r, "step: %s", why);
    if (golden_check_vec(r, ops, inst, rec, "obs_hex", "state_hex", obs) < 0)
        return -1;
    if (golden_hex(r, rec, "reward_hex", -1, 16, &want) < 0)
        return -1;
    if (f64_bits(reward) != want)
        return golden_fail(r, "reward = %016llx (%.17g), want %016llx",
                           (unsigned long long)f64_bits(reward), reward, (unsigned long long)want);
    if (golden_check_flag(r, rec, "terminated", term) < 0 ||
        golden_check_flag(r, rec, "truncated", trunc) < 0)
        return -1;
    return 0;
}

static int golden_segment(golden_run_t *r, const golden_ops_t *ops, void *inst, const cJSON *seg,
                          const char *line, const char *dtype)
{
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(seg, "reset_seed");
    const cJSON *seed_str = cJSON_GetObjectItemCaseSensitive(seg, "reset_seed_str");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(seg, "steps");
    option_t opts[GOLDEN_MAX_OPTS];
    size_t nopts;
    uint64_t s = 0;
    float obs[GOLDEN_MAX_DIM];
    errbuf_t e;

    r->t = 0;
    if (!cJSON_IsNull(seed)) {
        if (!cJSON_IsString(seed_str))
            return golden_fail(r, "reset_seed_str missing");
        s = strtoull(seed_str->valuestring, NULL, 10);
    }
    if (golden_options(r, cJSON_GetObjectItemCaseSensitive(seg, "reset_options"), line, false,
                       opts, &nopts) < 0)
        return -1;
    if (ops->reset(inst, cJSON_IsNull(seed) ? NULL : &s, opts, nopts, obs, &e) < 0)
        return golden_fail(r, "reset: %s", e.msg);
    if (golden_check_vec(r, ops, inst, seg, "initial_obs_hex", "initial_state_hex", obs) < 0)
        return -1;
    if (!cJSON_IsArray(steps))
        return golden_fail(r, "steps missing");
    const cJSON *rec;
    cJSON_ArrayForEach(rec, steps) {
        r->t++;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "t");
        if (!cJSON_IsNumber(t) || t->valuedouble != r->t)
            return golden_fail(r, "step record out of order");
        if (golden_step(r, ops, inst, rec, dtype) < 0)
            return -1;
        r->nsteps++;
    }
    return 0;
}

static int golden_case(golden_run_t *r, const golden_ops_t *ops, const cJSON *c, const char *line)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "case_id");
    const cJSON *env_id = cJSON_GetObjectItemCaseSensitive(c, "env_id");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(c, "format");
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(c, "max_episode_steps");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(c, "action_dtype");
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(c, "segments");
    char why[256] = "";

    r->case_id = cJSON_IsString(id) ? id->valuestring : NULL;
    r->segment = 0;
    r->t = 0;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "classic-golden/1") != 0)
        return golden_fail(r, "not a classic-golden/1 case");
    if (!cJSON_IsString(env_id) || strcmp(env_id->valuestring, ops->env_id) != 0)
        return golden_fail(r, "env_id is not %s", ops->env_id);
    if (!cJSON_IsNumber(limit) || limit->valuedouble != ops->max_episode_steps)
        return golden_fail(r, "max_episode_steps is not the default %u", ops->max_episode_steps);
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(segs) || cJSON_GetArraySize(segs) == 0)
        return golden_fail(r, "action_dtype or segments missing");
    if (ops->skip && ops->skip(c)) {
        r->nskipped++;
        return 0;
    }
    void *inst = ops->open(c, line, why, sizeof why);
    if (!inst)
        return golden_fail(r, "open: %s", why);
    int rc = 0;
    for (const cJSON *seg = segs->child; rc == 0 && seg; seg = seg->next, r->segment++)
        rc = golden_segment(r, ops, inst, seg, line, dtype->valuestring);
    ops->close(inst);
    if (rc == 0)
        r->ncases++;
    return rc;
}

/* Replays every case of ops->path; fails the test on the first difference
 * of any case (all cases are tried, each difference printed) and returns
 * the cases and steps replayed bit-exact in *r. */
static void golden_replay_file(const golden_ops_t *ops, golden_run_t *r)
{
    FILE *f = fopen(ops->path, "r");
    ck_assert_msg(f != NULL, "cannot open %s (tests run from the repository root)", ops->path);
    char *line = NULL, first[512] = "";
    size_t cap = 0;
    int nlines = 0, nfailed = 0;

    memset(r, 0, sizeof *r);
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '\n')
            continue;
        cJSON *c = cJSON_Parse(line);
        nlines++;
        int rc = c ? golden_case(r, ops, c, line)
                   : golden_fail(r, "line %d is not JSON", nlines);
        if (rc < 0) {
            fprintf(stderr, "golden %s: %s\n", ops->env_id, r->why);
            if (nfailed++ == 0)
                snprintf(first, sizeof first, "%s", r->why);
        }
        cJSON_Delete(c);
    }
    free(line);
    fclose(f);
    ck_assert_msg(nlines > 0, "%s has no cases", ops->path);
    ck_assert_msg(nfailed == 0, "%d of %d golden cases differ; first: %s", nfailed, nlines,
                  first);
}

/* ------------------------------------------------------------ through env_t */

/* The same cases driven through envd's own path: env_find(env_id) from the
 * registry, env_init with the make options, env_reset and env_step with the
 * recorded action as the action space takes it (an int, or one float32 or
 * float64 value), TimeLimit and all played by env.c. A suite gives the
 * state accessor (its class's layout) through golden_env_ops. */

static void *golden_env_open(const cJSON *c, const char *line, char *why, size_t n)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "env_id");
    const env_class_t *cls = cJSON_IsString(id) ? env_find(id->valuestring) : NULL;
    golden_run_t r = {0};
    option_t opts[GOLDEN_MAX_OPTS];
    size_t nopts;
    errbuf_t e;
    if (!cls) {
        snprintf(why, n, "env id not in the registry");
        return NULL;
    }
    env_t *env = calloc(1, env_size(cls));
    if (!env)
        return NULL;
    if (golden_options(&r, cJSON_GetObjectItemCaseSensitive(c, "make_kwargs"), line, true, opts,
                       &nopts) < 0)
        snprintf(why, n, "%s", r.why);
    else if (env_init(env, cls, opts, nopts, &e) < 0)
        snprintf(why, n, "env_init: %s", e.msg);
    else
        return env;
    free(env);
    return NULL;
}

static void golden_env_close(void *inst) { free(inst); }

static int golden_env_reset(void *inst, const uint64_t *seed, const option_t *opts, size_t nopts,
                            float *obs, errbuf_t *e)
{
    return env_reset(inst, seed, opts, nopts, obs, e);
}

static int golden_env_step(void *inst, const cJSON *rec, const char *dtype, float *obs,
                           double *reward, bool *terminated, bool *truncated, char *why, size_t n)
{
    env_t *env = inst;
    env_action_t a = {0};
    float f;
    double d;
    errbuf_t e;
    if (env->cls->action_kind == ENV_DISCRETE) {
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(rec, "action");
        if (!cJSON_IsNumber(act)) {
            snprintf(why, n, "no integer action");
            return -1;
        }
        a.discrete = (int64_t)act->valuedouble;
    } else if (strcmp(dtype, "float32") == 0 && golden_action_f32(rec, &f) == 0) {
        a.box = &f;
        a.dtype = ENV_F32;
    } else if (strcmp(dtype, "float64") == 0 && golden_action_f64(rec, &d) == 0) {
        a.box = &d;
        a.dtype = ENV_F64;
    } else {
        snprintf(why, n, "no %s action_hex", dtype);
        return -1;
    }
    if (env_step(env, &a, obs, reward, terminated, truncated, &e) < 0) {
        snprintf(why, n, "env_step: %s", e.msg);
        return -1;
    }
    return 0;
}

/* base's file and sizes, stepped through env_t; state reads the class
 * state (env->state) into doubles. */
static inline golden_ops_t golden_env_ops(const golden_ops_t *base,
                                          void (*state)(const void *inst, double *out))
{
    golden_ops_t ops = *base;
    ops.open = golden_env_open;
    ops.close = golden_env_close;
    ops.skip = NULL;
    ops.reset = golden_env_reset;
    ops.step = golden_env_step;
    ops.state = state;
    return ops;
}

#endif
