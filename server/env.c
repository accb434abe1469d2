/*
 * env.c — the environment registry and the wrappers gymnasium.make() adds.
 *
 * The registry is one static table of classes. An env_t plays TimeLimit
 * (max_episode_steps, truncation), OrderEnforcing (no step before the first
 * reset) and Env.reset's seeding around a class's raw dynamics, as section 1
 * and 5 of ../shared/docs/cartpole-v1-semantics.md describe. Sessions will
 * number in the millions, so an instance is a small header plus the class
 * state and owns no other memory.
 */
#include "env.h"

#include <math.h>
#include <string.h>

#include "acrobot.h"
#include "cartpole.h"
#include "mountaincar.h"
#include "mountaincar_continuous.h"
#include "pendulum.h"

/* ---------------------------------------------------------------- registry */

static const env_class_t *const env_classes[] = {
    &cartpole_v1_class,
    &cartpole_v0_class,
    &acrobot_v1_class,
    &mountaincar_v0_class,
    &mountaincar_continuous_v0_class,
    &pendulum_v1_class,
};

#define ENV_NCLASSES (sizeof env_classes / sizeof env_classes[0])

const env_class_t *env_find(const char *id)
{
    for (size_t i = 0; i < ENV_NCLASSES; i++)
        if (strcmp(env_classes[i]->id, id) == 0)
            return env_classes[i];
    return NULL;
}

size_t env_class_count(void)
{
    return ENV_NCLASSES;
}

const env_class_t *env_class_at(size_t i)
{
    return i < ENV_NCLASSES ? env_classes[i] : NULL;
}

/* ---------------------------------------------------------------- instances */

size_t env_size(const env_class_t *cls)
{
    /* Rounded up so that instances laid out back to back stay aligned. */
    size_t align = _Alignof(env_t);
    return (sizeof(env_t) + cls->state_size + align - 1) / align * align;
}

int env_init(env_t *env, const env_class_t *cls, const option_t *opts, size_t nopts,
             errbuf_t *e)
{
    /* The class sees only its own options, gathered here because the
     * caller's array is const and the generic ones can sit anywhere in it. */
    option_t rest[OPTIONS_MAX];
    size_t nrest = 0;

    if (nopts > OPTIONS_MAX)
        return err_set(e, ERR_INVALID_ARGUMENT, "%zu make options, at most %d allowed", nopts,
                       OPTIONS_MAX);
    memset(env, 0, sizeof *env);
    env->cls = cls;
    env->max_steps = cls->max_episode_steps;
    for (size_t i = 0; i < nopts; i++) {
        const option_t *o = &opts[i];
        if (strcmp(o->key, "max_episode_steps") != 0) {
            rest[nrest++] = *o;
            continue;
        }
        if (o->type != OPTION_INT)
            return err_set(e, ERR_INVALID_ARGUMENT, "max_episode_steps must be an int, not %s",
                           option_type_name(o->type));
        if (o->v.i <= 0 || o->v.i > UINT32_MAX)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "max_episode_steps must be in [1, %u], not %lld", UINT32_MAX,
                           (long long)o->v.i);
        env->max_steps = (uint32_t)o->v.i;
    }
    return cls->init(env->state, rest, nrest, e);
}

int env_reset(env_t *env, const uint64_t *seed, const option_t *opts, size_t nopts,
              float *obs, errbuf_t *e)
{
    /* Work on a copy of the stream so that a refused reset leaves the
     * instance as it was. (Gymnasium reseeds before it parses the options,
     * so a failed reset(seed=s) there still replaces the stream.) */
    rng_t rng = env->rng;

    if (seed)
        rng_seed(&rng, *seed);
    else if (!env->seeded && rng_seed_os(&rng) < 0)
        return err_set(e, ERR_INTERNAL, "no OS entropy to seed an unseeded reset");
    int rc = env->cls->reset(env->state, &rng, opts, nopts, obs, e);
    if (rc < 0)
        return rc;
    env->rng = rng;
    env->seeded = 1;
    env->has_reset = 1;
    env->elapsed = 0;
    env->done = 0;
    return 0;
}

const char *env_dtype_name(env_dtype_t dtype)
{
    return dtype == ENV_F32 ? "float32" : dtype == ENV_F64 ? "float64" : "unknown";
}

static double box_value(const env_action_t *a, unsigned i)
{
    if (a->dtype == ENV_F32)
        return ((const float *)a->box)[i];
    return ((const double *)a->box)[i];
}

int env_check_step(const env_t *env, const env_action_t *a, errbuf_t *e)
{
    const env_class_t *cls = env->cls;
    /* OrderEnforcing wraps the action check, so it answers first. */
    if (!env->has_reset)
        return err_set(e, ERR_FAILED_PRECONDITION, "step before the first reset");
    if (cls->action_kind == ENV_DISCRETE) {
        if (a->box)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "%s has a Discrete(%u) action space: send an integer action, not a "
                           "Box action (a tensor)",
                           cls->id, cls->n_actions);
        /* Gymnasium's Acrobot takes -1..-3 through list indexing: refused. */
        if (a->discrete < 0 || a->discrete >= cls->n_actions)
            return err_set(e, ERR_INVALID_ARGUMENT, "action %lld is outside [0, %u)",
                           (long long)a->discrete, cls->n_actions);
        return 0;
    }
    if (!a->box)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "%s has a Box action space of shape [%u]: send the action as a float32 "
                       "or float64 tensor of that shape, not an integer",
                       cls->id, cls->action_dim);
    if (a->dtype != ENV_F32 && a->dtype != ENV_F64)
        return err_set(e, ERR_INVALID_ARGUMENT, "%s: a Box action must be float32 or float64",
                       cls->id);
    for (unsigned i = 0; i < cls->action_dim; i++) {
        double v = box_value(a, i);
        if (!isfinite(v))
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "action[%u] is %s: a Box action must be finite", i,
                           isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf");
    }
    return 0;
}

int env_step(env_t *env, const env_action_t *a, float *obs, double *reward, bool *terminated,
             bool *truncated, errbuf_t *e)
{
    int rc = env_check_step(env, a, e);
    if (rc < 0)
        return rc;
    env_step_unchecked(env, a, obs, reward, terminated, truncated);
    return 0;
}

/* TimeLimit's half of a step, after the class has moved. */
static inline bool env_time_limit(env_t *env, bool terminated)
{
    /* TimeLimit counts every step, after the end too; saturating keeps a
     * session stepped 2^32 times truncated instead of wrapping to 0. */
    if (env->elapsed < UINT32_MAX)
        env->elapsed++;
    bool truncated = env->max_steps > 0 && env->elapsed >= env->max_steps;
    env->done = terminated || truncated;
    return truncated;
}

void env_step_unchecked(env_t *env, const env_action_t *a, float *obs, double *reward,
                        bool *terminated, bool *truncated)
{
    if (env->cls->action_kind == ENV_BOX)
        env->cls->step_box(env->state, a->box, a->dtype, obs, reward, terminated);
    else
        env->cls->step(env->state, a->discrete, obs, reward, terminated);
    *truncated = env_time_limit(env, *terminated);
}

#define ENV_STEP_CHUNK 64

void env_step_many_unchecked(env_t *const *envs, const void *actions, env_dtype_t dtype,
                             size_t n, float *obs, double *rewards, bool *terminated,
                             bool *truncated)
{
    const env_class_t *cls = NULL;
    for (size_t k = 0; k < n && !cls; k++)
        if (envs[k])
            cls = envs[k]->cls;
    if (!cls)
        return;
    if (cls->action_kind == ENV_BOX) {
        size_t row = cls->action_dim * (dtype == ENV_F32 ? sizeof(float) : sizeof(double));
        for (size_t k = 0; k < n; k++)
            if (envs[k])
                cls->step_box(envs[k]->state, (const unsigned char *)actions + k * row, dtype,
                              obs + k * cls->obs_dim, &rewards[k], &terminated[k]);
    } else if (cls->step_many) {
        const int64_t *acts = actions;
        void *states[ENV_STEP_CHUNK];
        for (size_t k0 = 0; k0 < n; k0 += ENV_STEP_CHUNK) {
            size_t m = n - k0 < ENV_STEP_CHUNK ? n - k0 : ENV_STEP_CHUNK;
            for (size_t k = 0; k < m; k++)
                states[k] = envs[k0 + k] ? envs[k0 + k]->state : NULL;
            cls->step_many(states, acts + k0, m, obs + k0 * cls->obs_dim, rewards + k0,
                           terminated + k0);
        }
    } else {
        const int64_t *acts = actions;
        for (size_t k = 0; k < n; k++)
            if (envs[k])
                cls->step(envs[k]->state, acts[k], obs + k * cls->obs_dim, &rewards[k],
                          &terminated[k]);
    }
    for (size_t k = 0; k < n; k++)
        if (envs[k])
            truncated[k] = env_time_limit(envs[k], terminated[k]);
}
