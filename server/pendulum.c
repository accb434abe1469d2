/*
 * pendulum.c — Pendulum-v1's dynamics, reset and reward, bit-exact with
 * Gymnasium on numpy 2.
 *
 * Section numbers are those of ../shared/docs/pendulum-v1-semantics.md.
 * The state and most of the arithmetic are double; with a float32 action,
 * numpy 2 runs 0.001 * u**2 and 3.0 * u in float32 (powf included), and
 * only there (4.2, 4.3). Each line is one correctly rounded operation in
 * Python's order; sin, cos, pow and powf are the C library's, the squares
 * through npymath so that the compiler cannot turn them into x*x.
 */
#include "pendulum.h"

#include <math.h>
#include <string.h>

#include "classic.h"
#include "npymath.h"

#define PI 0x1.921fb54442d18p+1      /* np.pi */
#define TWO_PI 0x1.921fb54442d18p+2  /* 2 * np.pi, exact */
#define MAX_SPEED 8.0                /* the int 8 */
#define MAX_TORQUE 2.0
#define DT 0.05
#define DEFAULT_G 10.0

const float pendulum_obs_low[PENDULUM_OBS_DIM] = {-1.0f, -1.0f, -8.0f};
const float pendulum_obs_high[PENDULUM_OBS_DIM] = {1.0f, 1.0f, 8.0f};
const float pendulum_action_low[PENDULUM_ACTION_DIM] = {-2.0f};
const float pendulum_action_high[PENDULUM_ACTION_DIM] = {2.0f};

int pendulum_init(pendulum_t *s, const option_t *opts, size_t nopts, errbuf_t *e)
{
    memset(s, 0, sizeof *s);
    /* 3 * g / (2 * l) with l = 1.0: (3 * g) / 2.0. */
    s->gravity_term = (3 * DEFAULT_G) / 2.0;
    for (size_t i = 0; i < nopts; i++) {
        const option_t *o = &opts[i];
        if (strcmp(o->key, "g") != 0)
            return err_set(e, ERR_INVALID_ARGUMENT, "Pendulum-v1 has no make option '%s'",
                           o->key);
        if (o->type == OPTION_INT) {
            /* An int g stays an int until the division (1): 3 * g is an
             * exact integer, which float() then rounds once. */
            s->gravity_term = (double)((__int128)3 * o->v.i) / 2.0;
        } else if (o->type == OPTION_DOUBLE) {
            s->gravity_term = (3 * o->v.d) / 2.0;
        } else {
            return err_set(e, ERR_INVALID_ARGUMENT, "make option g must be a number, not %s",
                           option_type_name(o->type));
        }
    }
    return 0;
}

static void pendulum_obs(const pendulum_t *s, float *obs)
{
    obs[0] = (float)cos(s->theta);
    obs[1] = (float)sin(s->theta);
    obs[2] = (float)s->theta_dot;
}

int pendulum_reset(pendulum_t *s, rng_t *rng, const option_t *opts, size_t nopts,
                   float *obs, errbuf_t *e)
{
    double high[2] = {PI, 1.0};
    double range[2];

    /* Each of x_init, y_init that is present goes through float(); other
     * keys are ignored (3.2). */
    for (size_t i = 0; i < nopts; i++) {
        int rc = 0;
        if (strcmp(opts[i].key, "x_init") == 0)
            rc = classic_float_option(&opts[i], "reset option", &high[0], e);
        else if (strcmp(opts[i].key, "y_init") == 0)
            rc = classic_float_option(&opts[i], "reset option", &high[1], e);
        if (rc < 0)
            return rc;
    }
    /* low = -high; uniform(low, high) refuses a negative (x_init < 0, or
     * -0.0) or infinite range before drawing either number. */
    for (int i = 0; i < 2; i++) {
        int rc = classic_uniform_range(-high[i], high[i], &range[i], e);
        if (rc < 0)
            return rc;
    }
    s->theta = -high[0] + range[0] * rng_next_double(rng);
    s->theta_dot = -high[1] + range[1] * rng_next_double(rng);
    pendulum_obs(s, obs);
    return 0;
}

/* angle_normalize(th) = ((th + pi) % (2 pi)) - pi with numpy's modulo. */
static double pendulum_angle_normalize(double th)
{
    return npymath_mod(th + PI, TWO_PI) - PI;
}

/* The part of a step after the torque's two terms: c3 = 0.001 * u**2 as a
 * double and b = 3.0 * u (4.3), each computed in the action's dtype. */
static void pendulum_advance(pendulum_t *s, double c3, double b, float *obs, double *reward,
                             bool *terminated)
{
    double th = s->theta, thdot = s->theta_dot;

    /* 4.2, from the old state: (c1 + c2) + c3. */
    double an = pendulum_angle_normalize(th);
    double costs = (npymath_pow2(an) + 0.1 * npymath_pow2(thdot)) + c3;

    /* 4.3: (K * sin(th) + b) * dt, then clip, then th + thdot' * dt. */
    double nthdot = thdot + (s->gravity_term * sin(th) + b) * DT;
    if (nthdot < -MAX_SPEED)
        nthdot = -MAX_SPEED;
    if (nthdot > MAX_SPEED)
        nthdot = MAX_SPEED;
    double nth = th + nthdot * DT;

    s->theta = nth;
    s->theta_dot = nthdot;
    *reward = -costs;
    *terminated = false;
    pendulum_obs(s, obs);
}

void pendulum_step_f32(pendulum_t *s, float u, float *obs, double *reward, bool *terminated)
{
    /* np.clip on a float32 array: the bounds are exact in float32. */
    if (u < -2.0f)
        u = -2.0f;
    if (u > 2.0f)
        u = 2.0f;
    /* Under NEP 50 the Python floats 0.001 and 3.0 meet a float32 scalar:
     * both sides in float32, u**2 is powf (not u*u), and 0.001 rounds to
     * 3a83126f first. */
    float c3 = (float)0.001 * npymath_pow2f(u);
    float b = 3.0f * u;
    pendulum_advance(s, c3, b, obs, reward, terminated);
}

void pendulum_step_f64(pendulum_t *s, double u, float *obs, double *reward, bool *terminated)
{
    if (u < -MAX_TORQUE)
        u = -MAX_TORQUE;
    if (u > MAX_TORQUE)
        u = MAX_TORQUE;
    double c3 = 0.001 * npymath_pow2(u);
    double b = 3.0 * u;
    pendulum_advance(s, c3, b, obs, reward, terminated);
}

/* ---------------------------------------------------------------- class */

static int pendulum_class_init(void *state, const option_t *opts, size_t nopts, errbuf_t *e)
{
    return pendulum_init(state, opts, nopts, e);
}

static int pendulum_class_reset(void *state, rng_t *rng, const option_t *opts, size_t nopts,
                                float *obs, errbuf_t *e)
{
    return pendulum_reset(state, rng, opts, nopts, obs, e);
}

static void pendulum_class_step(void *state, const void *action, env_dtype_t dtype, float *obs,
                                double *reward, bool *terminated)
{
    if (dtype == ENV_F32)
        pendulum_step_f32(state, *(const float *)action, obs, reward, terminated);
    else
        pendulum_step_f64(state, *(const double *)action, obs, reward, terminated);
}

const env_class_t pendulum_v1_class = {
    .id = "Pendulum-v1", .max_episode_steps = PENDULUM_MAX_EPISODE_STEPS,
    .has_reward_threshold = false, .state_size = sizeof(pendulum_t),
    .obs_dim = PENDULUM_OBS_DIM, .obs_low = pendulum_obs_low, .obs_high = pendulum_obs_high,
    .action_kind = ENV_BOX, .action_dim = PENDULUM_ACTION_DIM,
    .action_low = pendulum_action_low, .action_high = pendulum_action_high,
    .init = pendulum_class_init, .reset = pendulum_class_reset,
    .step_box = pendulum_class_step,
};
