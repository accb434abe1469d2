/*
 * mountaincar.h — Gymnasium's MountainCar-v0 raw dynamics, bit for bit.
 *
 * MountainCarEnv as ../shared/docs/mountaincar-v0-semantics.md describes
 * it: a car in a valley pushed left, not at all or right (Discrete(3)),
 * reward -1 every step until it reaches the flag at 0.5 with at least
 * goal_velocity. The raw environment (like cartpole.c); TimeLimit(200) and
 * OrderEnforcing are env.c's. The state is public so that tests and
 * checkpoints can read the doubles the float32 observation hides.
 */
#ifndef MOUNTAINCAR_H
#define MOUNTAINCAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"

/* Spaces and registration (note sections 1-2). */
#define MOUNTAINCAR_OBS_DIM 2
#define MOUNTAINCAR_N_ACTIONS 3       /* Discrete(3): left, none, right */
#define MOUNTAINCAR_MAX_EPISODE_STEPS 200
#define MOUNTAINCAR_REWARD_THRESHOLD (-110.0)

/* Box bounds: float32 of (-1.2, -0.07) and (0.6, 0.07). */
extern const float mountaincar_obs_low[MOUNTAINCAR_OBS_DIM];
extern const float mountaincar_obs_high[MOUNTAINCAR_OBS_DIM];

typedef struct mountaincar {
    double position, velocity;
    double goal_velocity;     /* make option goal_velocity, default 0 */
} mountaincar_t;

/* make("MountainCar-v0", goal_velocity=x): x an int or a double (any
 * value, as Gymnasium takes any); any other key or type is
 * INVALID_ARGUMENT. */
int mountaincar_init(mountaincar_t *s, const option_t *opts, size_t nopts, errbuf_t *e);

/* reset with reset options low/high (numbers, default -0.6/-0.4, low <=
 * high and high - low finite); other keys are ignored. Draws 1 number from
 * rng. On failure changes neither s nor rng. obs: MOUNTAINCAR_OBS_DIM. */
int mountaincar_reset(mountaincar_t *s, rng_t *rng, const option_t *opts, size_t nopts,
                      float *obs, errbuf_t *e);

/* One step with action in [0, 3). */
/* Both MountainCars' reset draw: the position from uniform(low, high)
 * (reset options low/high, default -0.6, -0.4), one number from rng; on
 * failure nothing is drawn. */
int mountaincar_draw_position(rng_t *rng, const option_t *opts, size_t nopts, double *position,
                              errbuf_t *e);

void mountaincar_step(mountaincar_t *s, int64_t action, float *obs, double *reward,
                      bool *terminated);

/* MountainCar-v0 in the registry: 200 steps, threshold -110. */
extern const env_class_t mountaincar_v0_class;

#endif
