/*
 * acrobot.h — Gymnasium's Acrobot-v1 raw dynamics, bit for bit.
 *
 * AcrobotEnv as ../shared/docs/acrobot-v1-semantics.md describes it: two
 * links, a torque of -1, 0 or +1 on the joint between them, one RK4 step of
 * 0.2 s per action, reward -1 until the tip is a link's length above the
 * pivot. This is the raw environment (like cartpole.c); TimeLimit(500) and
 * OrderEnforcing are env.c's. The state is public so that tests and
 * checkpoints can read the doubles the float32 observation hides.
 */
#ifndef ACROBOT_H
#define ACROBOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"

/* Spaces and registration (acrobot note sections 1-2). */
#define ACROBOT_OBS_DIM 6
#define ACROBOT_N_ACTIONS 3           /* Discrete(3): torque -1, 0, +1 */
#define ACROBOT_MAX_EPISODE_STEPS 500
#define ACROBOT_REWARD_THRESHOLD (-100.0)

/* Box bounds: float32 of [1, 1, 1, 1, 4 pi, 9 pi] and their negation. */
extern const float acrobot_obs_low[ACROBOT_OBS_DIM];
extern const float acrobot_obs_high[ACROBOT_OBS_DIM];

typedef struct acrobot {
    /* [theta1, theta2, dtheta1, dtheta2]. Gymnasium keeps it as float32
     * from reset to the first step and as double after; float32 values are
     * held here widened, which is exact, and steps widen them anyway. */
    double s[4];
    /* Gymnasium's unwrapped attributes, not make options (make refuses
     * them): set them on the struct after acrobot_init if wanted.
     * book_or_nips = "nips" drops one term of the dynamics; a torque noise
     * above 0 draws one number per step, so it needs acrobot_step_rng. */
    double torque_noise_max;  /* default 0.0 */
    uint8_t nips;             /* default 0: "book" */
} acrobot_t;

/* make("Acrobot-v1"): Acrobot has no make options (only render_mode, which
 * a server has no use for), so any option is INVALID_ARGUMENT. */
int acrobot_init(acrobot_t *s, const option_t *opts, size_t nopts, errbuf_t *e);

/* Sets one of Gymnasium's unwrapped attributes, as assigning to
 * env.unwrapped does: "book_or_nips" (the string "book" or "nips") or
 * "torque_noise_max" (a number m >= 0 with 2m finite: uniform(-m, m) would
 * raise in every step otherwise). Anything else is INVALID_ARGUMENT and
 * changes nothing. Not a make option: a server that offers these has to
 * say so separately. */
int acrobot_set_attr(acrobot_t *s, const option_t *o, errbuf_t *e);

/* reset with reset options low/high (numbers, default -0.1/0.1, low <= high
 * and high - low finite); other keys are ignored. Draws 4 numbers from rng.
 * On failure changes neither s nor rng. obs: ACROBOT_OBS_DIM floats. */
int acrobot_reset(acrobot_t *s, rng_t *rng, const option_t *opts, size_t nopts, float *obs,
                  errbuf_t *e);

/* One step with action in [0, 3). Ignores torque_noise_max. */
void acrobot_step(acrobot_t *s, int64_t action, float *obs, double *reward, bool *terminated);

/* acrobot_step that honours torque_noise_max: above 0 it draws one number
 * from rng (the environment's stream, the one reset draws from). */
void acrobot_step_rng(acrobot_t *s, rng_t *rng, int64_t action, float *obs, double *reward,
                      bool *terminated);

/* Gymnasium's wrap(x, -pi, pi): `while x > pi: x -= 2 pi`, then `while
 * x < -pi: x += 2 pi`, each turn one rounding, in bounded time. Where that
 * loop never ends (|x| > 2^56 or infinite, reachable only through extreme
 * reset options) x is returned as it is. Exposed for its tests. */
double acrobot_wrap(double x);

/* Acrobot-v1 in the registry: 500 steps, threshold -100. (The torque-noise
 * attribute, which needs the environment's stream per step, is not offered.) */
extern const env_class_t acrobot_v1_class;

#endif
