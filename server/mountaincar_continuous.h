/*
 * mountaincar_continuous.h — Gymnasium's MountainCarContinuous-v0 raw
 * dynamics, bit for bit.
 *
 * Continuous_MountainCarEnv as
 * ../shared/docs/mountaincarcontinuous-v0-semantics.md describes it: the
 * MountainCar valley with a force in [-1, 1] (Box(1,), float32), reward
 * 100 at the flag (0.45) minus 0.1 a^2 every step. The file is named after
 * the environment id with Gymnasium's word order, as mountaincar.h is
 * MountainCar-v0, and the prefix is the file name (STYLE.md).
 *
 * Unlike the other classic environments its arithmetic depends on numpy 2's
 * promotion rules: the state is float64 after a reset and float32 after a
 * step, and the dtype of the action array changes the operations too; hence
 * two step functions. The raw environment (like cartpole.c); TimeLimit(999)
 * and OrderEnforcing are env.c's.
 */
#ifndef MOUNTAINCAR_CONTINUOUS_H
#define MOUNTAINCAR_CONTINUOUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"

/* Spaces and registration (note sections 1-2). */
#define MOUNTAINCAR_CONTINUOUS_OBS_DIM 2
#define MOUNTAINCAR_CONTINUOUS_ACTION_DIM 1   /* Box(-1, 1, (1,), float32) */
#define MOUNTAINCAR_CONTINUOUS_MAX_EPISODE_STEPS 999
#define MOUNTAINCAR_CONTINUOUS_REWARD_THRESHOLD 90.0

/* Box bounds: float32 of (-1.2, -0.07) and (0.6, 0.07), as MountainCar-v0. */
extern const float mountaincar_continuous_obs_low[MOUNTAINCAR_CONTINUOUS_OBS_DIM];
extern const float mountaincar_continuous_obs_high[MOUNTAINCAR_CONTINUOUS_OBS_DIM];
/* bf800000 and 3f800000. */
extern const float mountaincar_continuous_action_low[MOUNTAINCAR_CONTINUOUS_ACTION_DIM];
extern const float mountaincar_continuous_action_high[MOUNTAINCAR_CONTINUOUS_ACTION_DIM];

typedef struct mountaincar_continuous {
    /* Gymnasium's state array: float64 after reset, float32 after a step
     * (state_f32); float32 values are held widened, which is exact. */
    double position, velocity;
    double goal_velocity;     /* make option goal_velocity, default 0 */
    uint8_t state_f32;
} mountaincar_continuous_t;

/* make("MountainCarContinuous-v0", goal_velocity=x): x an int or a double;
 * any other key or type is INVALID_ARGUMENT. */
int mountaincar_continuous_init(mountaincar_continuous_t *s, const option_t *opts,
                                size_t nopts, errbuf_t *e);

/* reset with reset options low/high (numbers, default -0.6/-0.4, low <=
 * high and high - low finite); other keys are ignored. Draws 1 number from
 * rng. On failure changes neither s nor rng. obs: OBS_DIM floats. */
int mountaincar_continuous_reset(mountaincar_continuous_t *s, rng_t *rng,
                                 const option_t *opts, size_t nopts, float *obs, errbuf_t *e);

/* One step with the action sent as a float32 array (the normal case) or a
 * float64 array: the same value gives other bits. a must be finite; out of
 * [-1, 1] it is clipped for the force but not for the reward, as Gymnasium
 * does (no wrapper clips it). */
void mountaincar_continuous_step_f32(mountaincar_continuous_t *s, float a, float *obs,
                                     double *reward, bool *terminated);
void mountaincar_continuous_step_f64(mountaincar_continuous_t *s, double a, float *obs,
                                     double *reward, bool *terminated);

/* MountainCarContinuous-v0 in the registry: 999 steps, threshold 90. */
extern const env_class_t mountaincar_continuous_v0_class;

#endif
