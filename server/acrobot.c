/*
 * acrobot.c — Acrobot-v1's dynamics, reset and reward, bit-exact with
 * Gymnasium.
 *
 * Section numbers are those of ../shared/docs/acrobot-v1-semantics.md. The
 * link constants are folded as Python folds them (every product of them is
 * exact, 4.2), and each line below is one correctly rounded double
 * operation in Python's order; the parentheses are that order. Acrobot is
 * chaotic: one ulp anywhere shows in the float32 observation within tens of
 * steps, which is why x**2 goes through npymath_pow2 (glibc's pow, not x*x)
 * and the reset observation through numpy's float32 sin/cos kernel.
 */
#include "acrobot.h"

#include <math.h>
#include <string.h>

#include "classic.h"
#include "npymath.h"

#define PI 0x1.921fb54442d18p+1      /* M_PI, 400921fb54442d18 */
#define TWO_PI 0x1.921fb54442d18p+2  /* pi - (-pi), exact */
#define PIO2 0x1.921fb54442d18p+0    /* pi / 2.0, exact */
#define MAX_VEL_1 0x1.921fb54442d18p+3 /* 4 * pi, exact */
#define MAX_VEL_2 0x1.c463abeccb2bbp+4 /* 9 * pi, one rounding: 403c463abeccb2bb */
#define G_PHI2 0x1.399999999999ap+2  /* m2 * lc2 * g = 0.5 * 9.8 = 4.9 */
#define G_PHI1 0x1.d666666666667p+3  /* (m1 lc1 + m2 l1) g = 1.5 * 9.8, not 14.7 */
#define DT 0.2
#define DT_HALF 0.1                  /* 0.2 / 2.0, exactly the double 0.1 */
#define DT_SIXTH 0x1.1111111111111p-5 /* 0.2 / 6.0, 3fa1111111111111 */

#define RESET_LOW (-0.1)
#define RESET_HIGH 0.1

/* float32 of [1, 1, 1, 1, 4 pi, 9 pi]: 41490fdb and 41e231d6 (2). */
const float acrobot_obs_high[ACROBOT_OBS_DIM] = {1.0f, 1.0f, 1.0f, 1.0f, 0x1.921fb6p+3f,
                                                 0x1.c463acp+4f};
const float acrobot_obs_low[ACROBOT_OBS_DIM] = {-1.0f, -1.0f, -1.0f, -1.0f, -0x1.921fb6p+3f,
                                                -0x1.c463acp+4f};

/* AVAIL_TORQUE = [-1.0, 0.0, +1]: the int 1 makes no difference (4.1). */
static const double acrobot_torque[ACROBOT_N_ACTIONS] = {-1.0, 0.0, 1.0};

int acrobot_init(acrobot_t *s, const option_t *opts, size_t nopts, errbuf_t *e)
{
    memset(s, 0, sizeof *s);
    /* AcrobotEnv(render_mode=None) takes nothing else: book_or_nips and
     * torque_noise_max are class attributes, and make() raises TypeError for
     * them (1). */
    if (nopts > 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "Acrobot-v1 has no make option '%s'",
                       opts[0].key);
    return 0;
}

int acrobot_set_attr(acrobot_t *s, const option_t *o, errbuf_t *e)
{
    if (strcmp(o->key, "book_or_nips") == 0) {
        if (o->type != OPTION_STRING)
            return err_set(e, ERR_INVALID_ARGUMENT, "book_or_nips must be a string, not %s",
                           option_type_name(o->type));
        if (strcmp(o->v.s, "book") != 0 && strcmp(o->v.s, "nips") != 0)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "book_or_nips must be \"book\" or \"nips\", not \"%s\"", o->v.s);
        s->nips = strcmp(o->v.s, "nips") == 0;
        return 0;
    }
    if (strcmp(o->key, "torque_noise_max") == 0) {
        double m;
        int rc = classic_float_option(o, "attribute", &m, e);
        if (rc < 0)
            return rc;
        if (!(m >= 0) || !isfinite(m - (-m)))
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "torque_noise_max must be >= 0 with 2 * it finite, not %.17g", m);
        s->torque_noise_max = m;
        return 0;
    }
    return err_set(e, ERR_INVALID_ARGUMENT, "Acrobot-v1 has no attribute '%s'", o->key);
}

/* ---------------------------------------------------------------- reset */

int acrobot_reset(acrobot_t *s, rng_t *rng, const option_t *opts, size_t nopts, float *obs,
                  errbuf_t *e)
{
    double low = RESET_LOW, high = RESET_HIGH;

    int rc = classic_reset_bounds(opts, nopts, &low, &high, e);
    if (rc < 0)
        return rc;
    double range = high - low;
    /* uniform(low, high, size=(4,)).astype(np.float32) (3.3). */
    for (int i = 0; i < 4; i++)
        s->s[i] = npymath_round_f32(low + range * rng_next_double(rng));
    /* The state is a float32 array until the first step, so np.cos/np.sin
     * run numpy's float32 kernel here and only here (3.4, 6.1). */
    obs[0] = npymath_cosf((float)s->s[0]);
    obs[1] = npymath_sinf((float)s->s[0]);
    obs[2] = npymath_cosf((float)s->s[1]);
    obs[3] = npymath_sinf((float)s->s[1]);
    obs[4] = (float)s->s[2];
    obs[5] = (float)s->s[3];
    return 0;
}

/* ---------------------------------------------------------------- step */

/* _dsdt: the derivatives [w1, w2, dd1, dd2] of y = [t1, t2, w1, w2] under
 * torque tau (4.2). The torque's own derivative is 0.0, so tau is the same
 * in every RK4 stage and is passed as it is. */
static void acrobot_dsdt(const double y[4], double tau, bool nips, double dy[4])
{
    double t1 = y[0], t2 = y[1], w1 = y[2], w2 = y[3];
    /* Gymnasium evaluates sin(theta2) three times; the three are equal. */
    double c2 = cos(t2);
    double s2 = sin(t2);
    double d1 = ((0.25 + (1.25 + c2)) + 1.0) + 1.0;
    double d2 = (0.25 + 0.5 * c2) + 1.0;
    /* cos(x - pi/2) as written: sin(x) has other bits. */
    double phi2 = G_PHI2 * cos((t1 + t2) - PIO2);
    double a = (-0.5 * npymath_pow2(w2)) * s2;
    double b = (w2 * w1) * s2;
    double c = G_PHI1 * cos(t1 - PIO2);
    double phi1 = ((a - b) + c) + phi2;
    double den = 1.25 - npymath_pow2(d2) / d1;
    double dd2;
    if (nips)
        dd2 = ((tau + (d2 / d1) * phi1) - phi2) / den;
    else
        dd2 = (((tau + (d2 / d1) * phi1) - (0.5 * npymath_pow2(w1)) * s2) - phi2) / den;
    double dd1 = -(d2 * dd2 + phi1) / d1;

    dy[0] = w1;
    dy[1] = w2;
    dy[2] = dd1;
    dy[3] = dd2;
}

/* One classic RK4 step over the grid [0, 0.2] (4.3): element-wise, each
 * entry one multiply and then one add. */
static void acrobot_rk4(double y[4], double tau, bool nips)
{
    double k1[4], k2[4], k3[4], k4[4], yt[4];

    acrobot_dsdt(y, tau, nips, k1);
    for (int i = 0; i < 4; i++)
        yt[i] = y[i] + DT_HALF * k1[i];
    acrobot_dsdt(yt, tau, nips, k2);
    for (int i = 0; i < 4; i++)
        yt[i] = y[i] + DT_HALF * k2[i];
    acrobot_dsdt(yt, tau, nips, k3);
    for (int i = 0; i < 4; i++)
        yt[i] = y[i] + DT * k3[i];
    acrobot_dsdt(yt, tau, nips, k4);
    for (int i = 0; i < 4; i++)
        y[i] = y[i] + DT_SIXTH * (((k1[i] + 2.0 * k2[i]) + 2.0 * k3[i]) + k4[i]);
}

/* Many turns of `x = x - TWO_PI` at once, for x in its binade [lo, 2 lo)
 * with lo >= 1024. There every turn that stays in the binade subtracts the
 * same D: TWO_PI rounded to a multiple of ulp(x), never a tie (TWO_PI's
 * lowest set bit is 2^-47; a tie needs it to be half an ulp, which happens
 * only in [64, 128)). n * D and x - n * D are multiples of ulp(x) below
 * 2 lo, hence exact. n leaves a margin of a few turns that the plain loop
 * takes, so the rounded division cannot overshoot. */
static double acrobot_wrap_jump(double x)
{
    int k;
    (void)frexp(x, &k);
    double lo = ldexp(1.0, k - 1);
    if (x - lo < 8 * TWO_PI)
        return x;
    double d = x - (x - TWO_PI);
    double n = floor((x - lo) / d) - 4;
    return x - n * d;
}

#define WRAP_JUMP_MIN 1024.0

/* while x > pi: x = x - 2 pi, in bounded time. */
static double acrobot_wrap_down(double x)
{
    while (x > PI) {
        double y = x - TWO_PI;
        /* inf, or x > 2^56 where a turn rounds back to x: Gymnasium's
         * loop would never end, so there is no answer to match. */
        if (!(y < x))
            return x;
        x = y;
        if (x >= WRAP_JUMP_MIN)
            x = acrobot_wrap_jump(x);
    }
    return x;
}

double acrobot_wrap(double x)
{
    if (x > PI)
        return acrobot_wrap_down(x);
    /* `while x < -pi: x = x + 2 pi` is the loop above mirrored, as rounding
     * to nearest is symmetric, except that an exact zero is +0.0 either
     * way: 0.0 - v keeps that. */
    if (x < -PI)
        return 0.0 - acrobot_wrap_down(-x);
    return x;
}

/* bound(x, lo, hi) = min(max(x, lo), hi) with Python's min and max. */
static double acrobot_bound(double x, double lim)
{
    return npymath_py_min(npymath_py_max(x, -lim), lim);
}

static void acrobot_advance(acrobot_t *s, double tau, float *obs, double *reward,
                            bool *terminated)
{
    double *y = s->s;

    acrobot_rk4(y, tau, s->nips);
    y[0] = acrobot_wrap(y[0]);
    y[1] = acrobot_wrap(y[1]);
    y[2] = acrobot_bound(y[2], MAX_VEL_1);
    y[3] = acrobot_bound(y[3], MAX_VEL_2);

    /* 4.5: negate, subtract, strict comparison, on the new double state. */
    bool done = -cos(y[0]) - cos(y[1] + y[0]) > 1.0;
    *terminated = done;
    *reward = done ? 0.0 : -1.0;
    obs[0] = (float)cos(y[0]);
    obs[1] = (float)sin(y[0]);
    obs[2] = (float)cos(y[1]);
    obs[3] = (float)sin(y[1]);
    obs[4] = (float)y[2];
    obs[5] = (float)y[3];
}

void acrobot_step(acrobot_t *s, int64_t action, float *obs, double *reward, bool *terminated)
{
    acrobot_advance(s, acrobot_torque[action], obs, reward, terminated);
}

void acrobot_step_rng(acrobot_t *s, rng_t *rng, int64_t action, float *obs, double *reward,
                      bool *terminated)
{
    double tau = acrobot_torque[action];
    double m = s->torque_noise_max;
    /* torque += uniform(-m, m) (8): low + (high - low) * u. */
    if (m > 0)
        tau = tau + (-m + (m - (-m)) * rng_next_double(rng));
    acrobot_advance(s, tau, obs, reward, terminated);
}

/* ---------------------------------------------------------------- class */

static int acrobot_class_init(void *state, const option_t *opts, size_t nopts, errbuf_t *e)
{
    return acrobot_init(state, opts, nopts, e);
}

static int acrobot_class_reset(void *state, rng_t *rng, const option_t *opts, size_t nopts,
                               float *obs, errbuf_t *e)
{
    return acrobot_reset(state, rng, opts, nopts, obs, e);
}

static void acrobot_class_step(void *state, int64_t action, float *obs, double *reward,
                               bool *terminated)
{
    acrobot_step(state, action, obs, reward, terminated);
}

const env_class_t acrobot_v1_class = {
    .id = "Acrobot-v1", .max_episode_steps = ACROBOT_MAX_EPISODE_STEPS,
    .has_reward_threshold = true, .reward_threshold = ACROBOT_REWARD_THRESHOLD,
    .state_size = sizeof(acrobot_t), .obs_dim = ACROBOT_OBS_DIM, .obs_low = acrobot_obs_low,
    .obs_high = acrobot_obs_high, .action_kind = ENV_DISCRETE, .n_actions = ACROBOT_N_ACTIONS,
    .init = acrobot_class_init, .reset = acrobot_class_reset, .step = acrobot_class_step,
};
