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

#include <string.h>

#include "cartpole.h"

/* ---------------------------------------------------------------- registry */

static const env_class_t *const env_classes[] = {
    &cartpole_v1_class,
    &cartpole_v0_class,
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

int env_check_step(const env_t *env, int64_t action, errbuf_t *e)
{
    /* OrderEnforcing wraps the action check, so it answers first. */
    if (!env->has_reset)
        return err_set(e, ERR_FAILED_PRECONDITION, "step before the first reset");
    if (action < 0 || action >= env->cls->n_actions)
        return err_set(e, ERR_INVALID_ARGUMENT, "action %lld is outside [0, %u)",
                       (long long)action, env->cls->n_actions);
    return 0;
}

int env_step(env_t *env, int64_t action, float *obs, double *reward, bool *terminated,
             bool *truncated, errbuf_t *e)
{
    int rc = env_check_step(env, action, e);
    if (rc < 0)
        return rc;
    env_step_unchecked(env, action, obs, reward, terminated, truncated);
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

void env_step_unchecked(env_t *env, int64_t action, float *obs, double *reward, bool *terminated,
                        bool *truncated)
{
    env->cls->step(env->state, action, obs, reward, terminated);
    *truncated = env_time_limit(env, *terminated);
}

#define ENV_STEP_CHUNK 64

void env_step_many_unchecked(env_t *const *envs, const int64_t *actions, size_t n, float *obs,
                             double *rewards, bool *terminated, bool *truncated)
{
    const env_class_t *cls = NULL;
    for (size_t k = 0; k < n && !cls; k++)
        if (envs[k])
            cls = envs[k]->cls;
    if (!cls)
        return;
    if (cls->step_many) {
        void *states[ENV_STEP_CHUNK];
        for (size_t k0 = 0; k0 < n; k0 += ENV_STEP_CHUNK) {
            size_t m = n - k0 < ENV_STEP_CHUNK ? n - k0 : ENV_STEP_CHUNK;
            for (size_t k = 0; k < m; k++)
                states[k] = envs[k0 + k] ? envs[k0 + k]->state : NULL;
            cls->step_many(states, actions + k0, m, obs + k0 * cls->obs_dim, rewards + k0,
                           terminated + k0);
        }
    } else {
        for (size_t k = 0; k < n; k++)
            if (envs[k])
                cls->step(envs[k]->state, actions[k], obs + k * cls->obs_dim, &rewards[k],
                          &terminated[k]);
    }
    for (size_t k = 0; k < n; k++)
        if (envs[k])
            truncated[k] = env_time_limit(envs[k], terminated[k]);
}
