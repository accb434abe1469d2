/*
 * mountaincar_continuous.c — MountainCarContinuous-v0's dynamics, reset and
 * reward, bit-exact with Gymnasium on numpy 2.
 *
 * Section numbers are those of
 * ../shared/docs/mountaincarcontinuous-v0-semantics.md. Gymnasium's step
 * mixes numpy float32 scalars (the action element, the state after a step),
 * numpy float64 scalars (the state after reset, a float64 action) and
 * Python floats, and under NEP 50 (4) the kinds of the two operands decide
 * whether an operation runs in float32, with the Python float rounded to
 * float32 first, or in double. Rather than write out every combination of
 * first-step-or-not, action dtype and clipped-or-not, each value below
 * carries its kind and every operation applies the rule, so the code reads
 * as Gymnasium's step line for line (5.1 is the usual case it reduces to).
 */
#include "mountaincar_continuous.h"

#include <math.h>
#include <string.h>

#include "classic.h"
#include "mountaincar.h"
#include "npymath.h"

#define POWER 0.0015
#define GRAVITY 0.0025
#define MAX_SPEED 0.07
#define MIN_POSITION (-1.2)
#define MAX_POSITION 0.6
#define GOAL_POSITION 0.45


const float mountaincar_continuous_obs_low[MOUNTAINCAR_CONTINUOUS_OBS_DIM] = {-0x1.333334p+0f,
                                                                               -0x1.1eb852p-4f};
const float mountaincar_continuous_obs_high[MOUNTAINCAR_CONTINUOUS_OBS_DIM] = {0x1.333334p-1f,
                                                                                0x1.1eb852p-4f};
const float mountaincar_continuous_action_low[MOUNTAINCAR_CONTINUOUS_ACTION_DIM] = {-1.0f};
const float mountaincar_continuous_action_high[MOUNTAINCAR_CONTINUOUS_ACTION_DIM] = {1.0f};

/* ---------------------------------------------------------------- NEP 50 scalars */

/* A Python float (or int: every int here is small and exact), a numpy
 * float64 scalar, or a numpy float32 scalar held widened. */
typedef enum { K_PY, K_F64, K_F32 } kind_t;

typedef struct num {
    double v;
    kind_t k;
} num_t;

static inline num_t py(double v)
{
    return (num_t){v, K_PY};
}

/* The kind `a OP b` runs in: float64 wins, then float32; a Python number
 * is weak and takes the other operand's kind. */
static inline kind_t nep50(num_t a, num_t b)
{
    if (a.k == K_F64 || b.k == K_F64)
        return K_F64;
    if (a.k == K_F32 || b.k == K_F32)
        return K_F32;
    return K_PY;
}

/* In float32 both operands are rounded first: exact for a float32, R() of
 * a Python float (4). */
#define NUM_OP(name, op)                                              \
    static inline num_t name(num_t a, num_t b)                        \
    {                                                                 \
        kind_t k = nep50(a, b);                                       \
        if (k == K_F32)                                               \
            return (num_t){(float)((float)a.v op (float)b.v), K_F32}; \
        return (num_t){a.v op b.v, k};                                \
    }
NUM_OP(num_add, +)
NUM_OP(num_sub, -)
NUM_OP(num_mul, *)

/* Comparisons follow the same rule: a float32 against R(0.07), say. */
#define NUM_CMP(name, op)                                    \
    static inline bool name(num_t a, num_t b)                \
    {                                                        \
        if (nep50(a, b) == K_F32)                            \
            return (float)a.v op (float)b.v;                 \
        return a.v op b.v;                                   \
    }
NUM_CMP(num_gt, >)
NUM_CMP(num_lt, <)
NUM_CMP(num_ge, >=)
NUM_CMP(num_eq, ==)

/* ---------------------------------------------------------------- make, reset */

int mountaincar_continuous_init(mountaincar_continuous_t *s, const option_t *opts,
                                size_t nopts, errbuf_t *e)
{
    memset(s, 0, sizeof *s);
    /* An int goal_velocity (the default is the int 0) meets a velocity
     * within +-0.07: only 0 is near it, so the int's double serves. */
    for (size_t i = 0; i < nopts; i++) {
        if (strcmp(opts[i].key, "goal_velocity") != 0)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "MountainCarContinuous-v0 has no make option '%s'", opts[i].key);
        int rc = classic_float_option(&opts[i], "make option", &s->goal_velocity, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int mountaincar_continuous_reset(mountaincar_continuous_t *s, rng_t *rng,
                                 const option_t *opts, size_t nopts, float *obs, errbuf_t *e)
{
    /* As MountainCar-v0: one draw, range 0.19999999999999996 by default,
     * and a float64 state array (3). */
    int rc = mountaincar_draw_position(rng, opts, nopts, &s->position, e);
    if (rc < 0)
        return rc;
    s->velocity = 0.0;
    s->state_f32 = 0;
    obs[0] = (float)s->position;
    obs[1] = (float)s->velocity;
    return 0;
}

/* ---------------------------------------------------------------- step */

static void mountaincar_continuous_advance(mountaincar_continuous_t *s, num_t a, float *obs,
                                           double *reward, bool *terminated)
{
    kind_t sk = s->state_f32 ? K_F32 : K_F64;
    num_t p = {s->position, sk}, v = {s->velocity, sk};

    /* 5.1: force = min(max(a, -1.0), 1.0), Python's min and max: a itself
     * (kind and all) unless a bound compares strictly beyond it. */
    num_t force = a;
    if (num_gt(py(-1.0), force))
        force = py(-1.0);
    if (num_lt(py(1.0), force))
        force = py(1.0);

    /* velocity += force * power - 0.0025 * math.cos(3 * position) */
    num_t t1 = num_mul(force, py(POWER));
    num_t x3 = num_mul(py(3), p);
    num_t t2 = num_mul(py(GRAVITY), py(cos(x3.v)));
    v = num_add(v, num_sub(t1, t2));
    if (num_gt(v, py(MAX_SPEED)))
        v = py(MAX_SPEED);
    if (num_lt(v, py(-MAX_SPEED)))
        v = py(-MAX_SPEED);
    p = num_add(p, v);
    if (num_gt(p, py(MAX_POSITION)))
        p = py(MAX_POSITION);
    if (num_lt(p, py(MIN_POSITION)))
        p = py(MIN_POSITION);
    /* The left wall (5.10) stores the int 0; no such rule on the right. */
    if (num_eq(p, py(MIN_POSITION)) && num_lt(v, py(0)))
        v = py(0);

    bool done = num_ge(p, py(GOAL_POSITION)) && num_ge(v, py(s->goal_velocity));
    /* 5.12: reward = 0 (or 100.0); reward -= math.pow(action[0], 2) * 0.1,
     * from the unclipped action, 0.0 - x so that a = 0 pays +0.0. */
    *reward = (done ? 100.0 : 0.0) - npymath_pow2(a.v) * 0.1;
    *terminated = done;

    /* self.state = np.array([position, velocity], dtype=np.float32) */
    s->position = npymath_round_f32(p.v);
    s->velocity = npymath_round_f32(v.v);
    s->state_f32 = 1;
    obs[0] = (float)s->position;
    obs[1] = (float)s->velocity;
}

void mountaincar_continuous_step_f32(mountaincar_continuous_t *s, float a, float *obs,
                                     double *reward, bool *terminated)
{
    mountaincar_continuous_advance(s, (num_t){a, K_F32}, obs, reward, terminated);
}

void mountaincar_continuous_step_f64(mountaincar_continuous_t *s, double a, float *obs,
                                     double *reward, bool *terminated)
{
    mountaincar_continuous_advance(s, (num_t){a, K_F64}, obs, reward, terminated);
}

/* ---------------------------------------------------------------- class */

static int mcc_class_init(void *state, const option_t *opts, size_t nopts, errbuf_t *e)
{
    return mountaincar_continuous_init(state, opts, nopts, e);
}

static int mcc_class_reset(void *state, rng_t *rng, const option_t *opts, size_t nopts,
                           float *obs, errbuf_t *e)
{
    return mountaincar_continuous_reset(state, rng, opts, nopts, obs, e);
}

static void mcc_class_step(void *state, const void *action, env_dtype_t dtype, float *obs,
                           double *reward, bool *terminated)
{
    if (dtype == ENV_F32)
        mountaincar_continuous_step_f32(state, *(const float *)action, obs, reward, terminated);
    else
        mountaincar_continuous_step_f64(state, *(const double *)action, obs, reward, terminated);
}

const env_class_t mountaincar_continuous_v0_class = {
    .id = "MountainCarContinuous-v0",
    .max_episode_steps = MOUNTAINCAR_CONTINUOUS_MAX_EPISODE_STEPS,
    .has_reward_threshold = true, .reward_threshold = MOUNTAINCAR_CONTINUOUS_REWARD_THRESHOLD,
    .state_size = sizeof(mountaincar_continuous_t), .obs_dim = MOUNTAINCAR_CONTINUOUS_OBS_DIM,
    .obs_low = mountaincar_continuous_obs_low, .obs_high = mountaincar_continuous_obs_high,
    .action_kind = ENV_BOX, .action_dim = MOUNTAINCAR_CONTINUOUS_ACTION_DIM,
    .action_low = mountaincar_continuous_action_low,
    .action_high = mountaincar_continuous_action_high, .init = mcc_class_init,
    .reset = mcc_class_reset, .step_box = mcc_class_step,
};
