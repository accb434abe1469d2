/*
 * mountaincar.c — MountainCar-v0's dynamics, reset and reward, bit-exact
 * with Gymnasium.
 *
 * Section numbers are those of ../shared/docs/mountaincar-v0-semantics.md.
 * Everything is double (numpy float64 scalars and Python floats meet only
 * doubles here, so numpy 1 and 2 agree); each line is one correctly
 * rounded operation in Python's order, cos is the C library's.
 */
#include "mountaincar.h"

#include <math.h>
#include <string.h>

#include "classic.h"

#define FORCE 0.001
#define GRAVITY 0.0025
#define MAX_SPEED 0.07
#define MIN_POSITION (-1.2)
#define MAX_POSITION 0.6
#define GOAL_POSITION 0.5

#define RESET_LOW (-0.6)
#define RESET_HIGH (-0.4)

/* bf99999a bd8f5c29 and 3f19999a 3d8f5c29. */
const float mountaincar_obs_low[MOUNTAINCAR_OBS_DIM] = {-0x1.333334p+0f, -0x1.1eb852p-4f};
const float mountaincar_obs_high[MOUNTAINCAR_OBS_DIM] = {0x1.333334p-1f, 0x1.1eb852p-4f};

int mountaincar_init(mountaincar_t *s, const option_t *opts, size_t nopts, errbuf_t *e)
{
    memset(s, 0, sizeof *s);
    /* goal_velocity is the Python int 0 by default and only ever compared
     * with a velocity; for that an int and its double are the same (the
     * velocity is within +-0.07, so no int but 0 is near it). */
    for (size_t i = 0; i < nopts; i++) {
        if (strcmp(opts[i].key, "goal_velocity") != 0)
            return err_set(e, ERR_INVALID_ARGUMENT, "MountainCar-v0 has no make option '%s'",
                           opts[i].key);
        int rc = classic_float_option(&opts[i], "make option", &s->goal_velocity, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int mountaincar_draw_position(rng_t *rng, const option_t *opts, size_t nopts, double *position,
                              errbuf_t *e)
{
    double low = RESET_LOW, high = RESET_HIGH;

    int rc = classic_reset_bounds(opts, nopts, &low, &high, e);
    if (rc < 0)
        return rc;
    /* The default range is -0.4 - -0.6 = 0.19999999999999996, not 0.2
     * (4.3): it is computed, as numpy computes it. */
    double range = high - low;
    *position = low + range * rng_next_double(rng);
    return 0;
}

int mountaincar_reset(mountaincar_t *s, rng_t *rng, const option_t *opts, size_t nopts,
                      float *obs, errbuf_t *e)
{
    int rc = mountaincar_draw_position(rng, opts, nopts, &s->position, e);
    if (rc < 0)
        return rc;
    s->velocity = 0.0;
    obs[0] = (float)s->position;
    obs[1] = (float)s->velocity;
    return 0;
}

void mountaincar_step(mountaincar_t *s, int64_t action, float *obs, double *reward,
                      bool *terminated)
{
    double p = s->position, v = s->velocity;

    /* 5.1-5.3: (action - 1) * force is exact; F + G first, then v + that.
     * The velocity update reads the old position. */
    double f = (double)(action - 1) * FORCE;
    double g = cos(3 * p) * (-GRAVITY);
    v = v + (f + g);
    /* np.clip of a float64 scalar; no NaN can reach it. */
    if (v < -MAX_SPEED)
        v = -MAX_SPEED;
    if (v > MAX_SPEED)
        v = MAX_SPEED;
    p = p + v;
    if (p < MIN_POSITION)
        p = MIN_POSITION;
    if (p > MAX_POSITION)
        p = MAX_POSITION;
    /* 5.7: the left wall stops the car (Gymnasium stores the int 0); there
     * is no such rule at the right end. */
    if (p == MIN_POSITION && v < 0)
        v = 0.0;

    s->position = p;
    s->velocity = v;
    *terminated = p >= GOAL_POSITION && v >= s->goal_velocity;
    *reward = -1.0;
    obs[0] = (float)p;
    obs[1] = (float)v;
}

/* ---------------------------------------------------------------- class */

static int mountaincar_class_init(void *state, const option_t *opts, size_t nopts, errbuf_t *e)
{
    return mountaincar_init(state, opts, nopts, e);
}

static int mountaincar_class_reset(void *state, rng_t *rng, const option_t *opts, size_t nopts,
                                   float *obs, errbuf_t *e)
{
    return mountaincar_reset(state, rng, opts, nopts, obs, e);
}

static void mountaincar_class_step(void *state, int64_t action, float *obs, double *reward,
                                   bool *terminated)
{
    mountaincar_step(state, action, obs, reward, terminated);
}

const env_class_t mountaincar_v0_class = {
    .id = "MountainCar-v0", .max_episode_steps = MOUNTAINCAR_MAX_EPISODE_STEPS,
    .has_reward_threshold = true, .reward_threshold = MOUNTAINCAR_REWARD_THRESHOLD,
    .state_size = sizeof(mountaincar_t), .obs_dim = MOUNTAINCAR_OBS_DIM,
    .obs_low = mountaincar_obs_low, .obs_high = mountaincar_obs_high,
    .action_kind = ENV_DISCRETE, .n_actions = MOUNTAINCAR_N_ACTIONS,
    .init = mountaincar_class_init, .reset = mountaincar_class_reset,
    .step = mountaincar_class_step,
};
