/*
 * env.h — environments behind one registry, and the Gymnasium wrappers.
 *
 * An environment class (env_class_t) is the raw dynamics: a state blob, its
 * reset and step, its spaces. Adding an environment means writing one class
 * and listing it in env.c's registry; no server code changes
 * (docs/environments.md). Actions are what the class's action space says:
 * an integer in [0, n) for Discrete(n), or dim float32 or float64 values
 * for a Box, which Gymnasium's arithmetic tells apart (Pendulum's reward,
 * MountainCarContinuous's state), so the dtype travels with the values.
 *
 * An env_t is one live instance as gymnasium.make() builds it: the raw
 * class state wrapped in TimeLimit (max_episode_steps, truncation) and
 * OrderEnforcing (no step before the first reset), with its own numpy-exact
 * random stream. It knows nothing of sockets: the server's sessions embed
 * one, tests drive one directly.
 */
#ifndef ENV_H
#define ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "option.h"
#include "rng.h"


typedef enum { ENV_DISCRETE, ENV_BOX } env_space_kind_t;

/* The dtype of a Box action's values. */
typedef enum { ENV_F32 = 1, ENV_F64 = 2 } env_dtype_t;

/* The most values one observation or Box action has. */
#define ENV_DIM_MAX 64

typedef struct env_class {
    const char *id;                /* "CartPole-v1" */
    unsigned max_episode_steps;    /* TimeLimit default; 0 = none */
    bool has_reward_threshold;
    double reward_threshold;
    size_t state_size;             /* bytes of the class's own state */
    unsigned obs_dim;              /* float32 values in one observation */
    const float *obs_low;          /* (obs_dim) bounds of the Box, +-inf allowed */
    const float *obs_high;         /* (obs_dim) */
    env_space_kind_t action_kind;
    unsigned n_actions;            /* Discrete(n_actions), start 0 */
    unsigned action_dim;           /* Box: shape (action_dim,), dtype float32 */
    const float *action_low;       /* Box: (action_dim) */
    const float *action_high;      /* Box: (action_dim) */
    /* Applies the class's make options (all but max_episode_steps, which
     * env_init handles). An unknown key or a wrong type is an error. */
    int (*init)(void *state, const option_t *opts, size_t nopts, errbuf_t *e);
    /* Draws a new initial state from rng; reset options as Gymnasium's.
     * On failure it has changed neither the state nor rng. */
    int (*reset)(void *state, rng_t *rng, const option_t *opts, size_t nopts, float *obs,
                 errbuf_t *e);
    /* Discrete: one raw step with an action in [0, n_actions); never fails. */
    void (*step)(void *state, int64_t action, float *obs, double *reward, bool *terminated);
    /* Optional, Discrete: raw steps of n independent instances, states[k]
     * with actions[k] into row k of obs (n, obs_dim), rewards and
     * terminated, the same results as n calls of step; a row whose state is
     * NULL is skipped. A class provides it when interleaving rows lets the
     * CPU overlap them. */
    void (*step_many)(void *const *states, const int64_t *actions, size_t n, float *obs,
                      double *rewards, bool *terminated);
    /* Box: one raw step with action_dim finite values of dtype, possibly out
     * of bounds (the class clips as Gymnasium does); never fails. */
    void (*step_box)(void *state, const void *action, env_dtype_t dtype, float *obs,
                     double *reward, bool *terminated);
} env_class_t;

/* One action: discrete for a Discrete space, or, for a Box, box pointing at
 * action_dim values of dtype (box NULL means a Discrete action was sent). */
typedef struct env_action {
    int64_t discrete;
    const void *box;
    env_dtype_t dtype;
} env_action_t;

/* A Discrete action, for a caller holding an integer. */
#define ENV_DISCRETE(i) (&(env_action_t){.discrete = (i)})

/* The registry. */
const env_class_t *env_find(const char *id);
size_t env_class_count(void);
const env_class_t *env_class_at(size_t i);

/* One instance: wrappers plus the class state in the trailing bytes. */
typedef struct env {
    const env_class_t *cls;
    rng_t rng;
    uint32_t elapsed;       /* TimeLimit's step counter */
    uint32_t max_steps;     /* 0: no limit */
    uint8_t seeded;         /* rng has been seeded (by a seed or from the OS) */
    uint8_t has_reset;      /* OrderEnforcing */
    uint8_t done;           /* the last step terminated or truncated */
    uint8_t pad_;
    _Alignas(16) unsigned char state[];
} env_t;

/* Bytes needed for an env_t of class cls. */
size_t env_size(const env_class_t *cls);

/* Initialises env (env_size(cls) bytes) with make options. */
int env_init(env_t *env, const env_class_t *cls, const option_t *opts, size_t nopts,
             errbuf_t *e);

/* reset(seed=*seed) or, with seed NULL, reset() continuing the stream.
 * obs receives cls->obs_dim floats. */
int env_reset(env_t *env, const uint64_t *seed, const option_t *opts, size_t nopts,
              float *obs, errbuf_t *e);

/* Checks what env_step would refuse, without changing anything:
 * ERR_FAILED_PRECONDITION before the first reset, then ERR_INVALID_ARGUMENT
 * for an action of the other kind than the space (a Box action for a
 * Discrete space or the reverse), a Discrete action outside [0, n), or a
 * Box value that is NaN or infinite (never let into a session's state). */
int env_check_step(const env_t *env, const env_action_t *a, errbuf_t *e);

/* step(action) through TimeLimit: fails (changing nothing) as
 * env_check_step says. Stepping after the end of an episode is allowed and
 * behaves as Gymnasium's does. */
int env_step(env_t *env, const env_action_t *a, float *obs, double *reward, bool *terminated,
             bool *truncated, errbuf_t *e);

/* env_step for an action env_check_step has accepted on this env: a batch
 * is checked whole first and then stepped without checking each row twice. */
void env_step_unchecked(env_t *env, const env_action_t *a, float *obs, double *reward,
                        bool *terminated, bool *truncated);

/* env_step_unchecked on n instances of one class, envs[k] with row k of the
 * actions into row k of obs (n, obs_dim), rewards, terminated and
 * truncated. Discrete classes take actions as n int64 values; Box classes
 * as (n, action_dim) values of dtype. A row whose env is NULL is skipped
 * and its outputs are left as they are. */
void env_step_many_unchecked(env_t *const *envs, const void *actions, env_dtype_t dtype,
                             size_t n, float *obs, double *rewards, bool *terminated,
                             bool *truncated);

/* "float32" or "float64". */
const char *env_dtype_name(env_dtype_t dtype);

#endif
