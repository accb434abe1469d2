/*
 * cartpole.h — Gymnasium's CartPole as two environment classes.
 *
 * The raw dynamics of CartPoleEnv, bit for bit (see
 * ../shared/docs/cartpole-v1-semantics.md, sections 2-5): CartPole-v1 and
 * CartPole-v0 differ only in their TimeLimit and reward threshold. The
 * classes are listed in env.c's registry; everything else reaches them
 * through env_t. The state layout is public so that tests and checkpoints
 * can read the double state that the float32 observation hides.
 */
#ifndef CARTPOLE_H
#define CARTPOLE_H

#include <stdint.h>

#include "env.h"

/* One instance's raw state: 40 bytes. */
typedef struct cartpole {
    double x, x_dot, theta, theta_dot;
    /* Gymnasium's steps_beyond_terminated is not None. Its count only
     * decides when Gymnasium logs a warning, so whether it is set is all
     * the reward needs. */
    uint8_t fell;
    uint8_t sutton_barto;   /* make option sutton_barto_reward */
} cartpole_t;

extern const env_class_t cartpole_v1_class; /* 500 steps, threshold 475 */
extern const env_class_t cartpole_v0_class; /* 200 steps, threshold 195 */

#endif
