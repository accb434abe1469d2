/*
 * pendulum.h — Gymnasium's Pendulum-v1 raw dynamics, bit for bit.
 *
 * PendulumEnv as ../shared/docs/pendulum-v1-semantics.md describes it: a
 * pendulum swung by a torque in [-2, 2] (Box(1,), float32), paying minus
 * the squared angle, speed and torque. It never terminates; TimeLimit(200)
 * and OrderEnforcing are env.c's. The torque's terms depend on numpy 2's
 * promotion rules and on the dtype of the action array (float32 and float64
 * give different rewards for the same value), hence two step functions.
 */
#ifndef PENDULUM_H
#define PENDULUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"

/* Spaces and registration (note sections 1-2); no reward threshold. */
#define PENDULUM_OBS_DIM 3
#define PENDULUM_ACTION_DIM 1         /* Box(-2, 2, (1,), float32) */
#define PENDULUM_MAX_EPISODE_STEPS 200
#define PENDULUM_HAS_REWARD_THRESHOLD 0

/* Box bounds: (-1, -1, -8) and (1, 1, 8); action c0000000 and 40000000. */
extern const float pendulum_obs_low[PENDULUM_OBS_DIM];
extern const float pendulum_obs_high[PENDULUM_OBS_DIM];
extern const float pendulum_action_low[PENDULUM_ACTION_DIM];
extern const float pendulum_action_high[PENDULUM_ACTION_DIM];

typedef struct pendulum {
    double theta, theta_dot;  /* theta is never wrapped */
    /* 3 * g / (2 * l) for make option g (default 10.0: 15.0), as Python
     * evaluates it from an int or a float g. */
    double gravity_term;
} pendulum_t;

/* make("Pendulum-v1", g=x): x an int or a double, any value (Gymnasium
 * takes any); any other key or type is INVALID_ARGUMENT. */
int pendulum_init(pendulum_t *s, const option_t *opts, size_t nopts, errbuf_t *e);

/* reset with reset options x_init/y_init (numbers, default pi and 1.0;
 * the state is drawn from [-x, x] x [-y, y], so each must be >= +0 and 2x,
 * 2y finite); other keys are ignored. Draws 2 numbers from rng. On failure
 * changes neither s nor rng. obs: PENDULUM_OBS_DIM floats. */
int pendulum_reset(pendulum_t *s, rng_t *rng, const option_t *opts, size_t nopts,
                   float *obs, errbuf_t *e);

/* One step with the torque sent as a float32 array (the normal case) or a
 * float64 array (or a Python list). u must be finite; it is clipped to
 * [-2, 2] as Gymnasium clips it. terminated is always false. */
void pendulum_step_f32(pendulum_t *s, float u, float *obs, double *reward, bool *terminated);
void pendulum_step_f64(pendulum_t *s, double u, float *obs, double *reward, bool *terminated);

/* Pendulum-v1 in the registry: 200 steps, no reward threshold. */
extern const env_class_t pendulum_v1_class;

#endif
