/*
 * cartpole.c — CartPole's physics, reset and reward, bit-exact with Gymnasium.
 *
 * Every line of arithmetic below is one correctly rounded double operation
 * in the order of ../shared/docs/cartpole-v1-semantics.md section 4; the
 * parentheses are Python's evaluation order, not decoration, and the build's
 * -ffp-contract=off keeps each multiply-add as two roundings. sin and cos
 * come from libm because that is what numpy >= 1.25 calls (section 7).
 */
#include "cartpole.h"

#include <math.h>
#include <string.h>

#include "classic.h"

#define GRAVITY 9.8
#define MASSCART 1.0
#define MASSPOLE 0.1
#define TOTAL_MASS (MASSPOLE + MASSCART)
#define LENGTH 0.5 /* half the pole's length */
#define POLEMASS_LENGTH (MASSPOLE * LENGTH)
#define FORCE_MAG 10.0
#define TAU 0.02
#define FOUR_THIRDS (4.0 / 3.0)
#define X_LIMIT 2.4
/* 12 * 2 * pi / 360 as Python evaluates it; radians(12) is one ulp higher. */
#define THETA_LIMIT 0x1.acee9f37bebd5p-3

#define RESET_LOW (-0.05)
#define RESET_HIGH 0.05

/* Box bounds: the float32 values Gymnasium builds from [2*2.4, inf,
 * 2*theta_limit, inf] (float32 4099999a and 3ed67750). */
static const float obs_high[4] = {0x1.333334p+2f, INFINITY, 0x1.aceeap-2f, INFINITY};
static const float obs_low[4] = {-0x1.333334p+2f, -INFINITY, -0x1.aceeap-2f, -INFINITY};

static void cartpole_obs(const cartpole_t *cp, float *obs)
{
    obs[0] = (float)cp->x;
    obs[1] = (float)cp->x_dot;
    obs[2] = (float)cp->theta;
    obs[3] = (float)cp->theta_dot;
}

static int cartpole_init(void *state, const option_t *opts, size_t nopts, errbuf_t *e)
{
    cartpole_t *cp = state;

    memset(cp, 0, sizeof *cp);
    for (size_t i = 0; i < nopts; i++) {
        if (strcmp(opts[i].key, "sutton_barto_reward") != 0)
            return err_set(e, ERR_INVALID_ARGUMENT, "CartPole has no make option '%s'",
                           opts[i].key);
        if (opts[i].type != OPTION_BOOL)
            return err_set(e, ERR_INVALID_ARGUMENT, "sutton_barto_reward must be a bool, not %s",
                           option_type_name(opts[i].type));
        cp->sutton_barto = opts[i].v.b;
    }
    return 0;
}

static int cartpole_reset(void *state, rng_t *rng, const option_t *opts, size_t nopts,
                          float *obs, errbuf_t *e)
{
    cartpole_t *cp = state;
    double low = RESET_LOW, high = RESET_HIGH;

    /* Gymnasium ignores reset options it does not know, whatever they hold
     * (no value included); low or high with no value fails its float(). */
    int rc = classic_reset_bounds(opts, nopts, &low, &high, e);
    if (rc < 0)
        return rc;
    double range = high - low;
    cp->x = low + range * rng_next_double(rng);
    cp->x_dot = low + range * rng_next_double(rng);
    cp->theta = low + range * rng_next_double(rng);
    cp->theta_dot = low + range * rng_next_double(rng);
    cp->fell = 0;
    cartpole_obs(cp, obs);
    return 0;
}

/* One step of the dynamics once c = cos(theta) and s = sin(theta) are known.
 * Split from cartpole_step only so that cartpole_step_many can take the
 * libm calls out of the arithmetic; not one operation differs. */
static inline void cartpole_advance(cartpole_t *cp, int64_t action, double c, double s,
                                    float *obs, double *reward, bool *terminated)
{
    double force = action == 1 ? FORCE_MAG : -FORCE_MAG;

    double temp = (force + POLEMASS_LENGTH * (cp->theta_dot * cp->theta_dot) * s) / TOTAL_MASS;
    double thetaacc = (GRAVITY * s - c * temp) /
                      (LENGTH * (FOUR_THIRDS - MASSPOLE * (c * c) / TOTAL_MASS));
    double xacc = temp - POLEMASS_LENGTH * thetaacc * c / TOTAL_MASS;

    /* Explicit Euler: every right-hand side reads the old state. */
    double x = cp->x + TAU * cp->x_dot;
    double x_dot = cp->x_dot + TAU * xacc;
    double theta = cp->theta + TAU * cp->theta_dot;
    double theta_dot = cp->theta_dot + TAU * thetaacc;
    cp->x = x;
    cp->x_dot = x_dot;
    cp->theta = theta;
    cp->theta_dot = theta_dot;

    bool done = x < -X_LIMIT || x > X_LIMIT || theta < -THETA_LIMIT || theta > THETA_LIMIT;
    if (!done) {
        *reward = cp->sutton_barto ? 0.0 : 1.0;
    } else if (!cp->fell) {
        /* The pole has just fallen: the terminal step still pays. A state
         * that comes back inside the limits does not clear `fell`, so a
         * second fall pays as a step beyond termination. */
        cp->fell = 1;
        *reward = cp->sutton_barto ? -1.0 : 1.0;
    } else {
        *reward = cp->sutton_barto ? -1.0 : 0.0;
    }
    *terminated = done;
    cartpole_obs(cp, obs);
}

static void cartpole_step(void *state, int64_t action, float *obs, double *reward,
                          bool *terminated)
{
    cartpole_t *cp = state;
    double c = cos(cp->theta);
    double s = sin(cp->theta);
    cartpole_advance(cp, action, c, s, obs, reward, terminated);
}

#define CARTPOLE_GROUP 8

/* A row's step is a chain of dependent operations (sin and cos, then three
 * divisions in a row) that leaves most of the CPU idle, and the rows of a
 * batch are independent. Here the libm calls of a group of rows come first
 * and the group's arithmetic follows with no call in between, so that the
 * CPU overlaps the rows' chains. Each row still does exactly cartpole_step's
 * operations in cartpole_step's order. */
static void cartpole_step_many(void *const *states, const int64_t *actions, size_t n,
                               float *obs, double *rewards, bool *terminated)
{
    double c[CARTPOLE_GROUP], s[CARTPOLE_GROUP];
    for (size_t k0 = 0; k0 < n; k0 += CARTPOLE_GROUP) {
        size_t m = n - k0 < CARTPOLE_GROUP ? n - k0 : CARTPOLE_GROUP;
        for (size_t j = 0; j < m; j++) {
            const cartpole_t *cp = states[k0 + j];
            if (cp) {
                c[j] = cos(cp->theta);
                s[j] = sin(cp->theta);
            }
        }
        for (size_t j = 0; j < m; j++)
            if (states[k0 + j])
                cartpole_advance(states[k0 + j], actions[k0 + j], c[j], s[j],
                                 obs + 4 * (k0 + j), &rewards[k0 + j], &terminated[k0 + j]);
    }
}

#define CARTPOLE_CLASS(name, steps, threshold)                                              \
    {                                                                                       \
        .id = name, .max_episode_steps = steps, .has_reward_threshold = true,               \
        .reward_threshold = threshold, .state_size = sizeof(cartpole_t), .obs_dim = 4,      \
        .obs_low = obs_low, .obs_high = obs_high, .action_kind = ENV_DISCRETE,              \
        .n_actions = 2, .init = cartpole_init,                                              \
        .reset = cartpole_reset, .step = cartpole_step, .step_many = cartpole_step_many,    \
    }

const env_class_t cartpole_v1_class = CARTPOLE_CLASS("CartPole-v1", 500, 475.0);
const env_class_t cartpole_v0_class = CARTPOLE_CLASS("CartPole-v0", 200, 195.0);
