/*
 * dqn.h — the DQN update: an online and a target Q-network, the TD target
 * (Double DQN by default), the Huber loss, gradient clipping, Adam, and the
 * target-network update; plus epsilon-greedy action selection and the
 * linear epsilon schedule.
 *
 * This is the learning rule only. Where transitions come from (envd) and
 * when to train (learning_starts, train_freq, gradient_steps) belong to
 * train.c, what is saved in a checkpoint to run_ckpt.c. The pure pieces
 * (dqn_td_targets, dqn_huber_grad, dqn_epsilon, dqn_select_actions) are
 * exported so that tests can hold them to hand-computed values.
 *
 * Conventions are those of Stable-Baselines3 / CleanRL: the loss is the
 * mean over the batch of Huber(Q(s, a) - y); a terminated transition has no
 * future value, a truncated one bootstraps from its true last observation
 * (the replay stores it as next_obs, and only `terminated` reaches the
 * target); the target network moves every target_update gradient steps by
 * target = tau * online + (1 - tau) * target (tau = 1: a hard copy).
 *
 * Nothing allocates after dqn_new(). Ownership: dqn_new()/dqn_destroy();
 * the nets returned by dqn_online()/dqn_target() are borrowed.
 */
#ifndef DQN_H
#define DQN_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "qnet.h"
#include "replay.h"
#include "rng.h"

typedef struct dqn_config {
    double gamma;         /* discount */
    double lr;            /* Adam learning rate */
    double adam_eps;      /* Adam epsilon (torch's default 1e-8) */
    int batch;            /* minibatch rows per gradient step */
    bool double_dqn;      /* argmax from the online net, value from the target */
    double huber_delta;   /* Huber loss threshold (smooth L1 at 1) */
    double max_grad_norm; /* clip the global gradient norm to this; <= 0: never */
    int64_t target_update; /* gradient steps between target updates, >= 1 */
    double tau;           /* target = tau * online + (1 - tau) * target; 1: copy */
} dqn_config_t;

typedef struct dqn dqn_t;

/* A learner of the given net shape. Nets start at zero: call dqn_init() or
 * load parameters. ERR_INVALID_ARGUMENT for a bad config or shape,
 * ERR_NOMEM. */
int dqn_new(const dqn_config_t *cfg, const qnet_shape_t *shape, dqn_t **out, errbuf_t *e);
void dqn_destroy(dqn_t **self_p);

/* Initializes the online net from rng (PyTorch's default init) and copies it
 * into the target. Resets the update counter. */
void dqn_init(dqn_t *d, rng_t *rng);

/* One gradient step on a minibatch drawn from r with rng. Returns the loss
 * (>= 0), or a negative error if r is empty. Updates the target net when
 * the step count reaches a multiple of target_update. */
double dqn_train_step(dqn_t *d, replay_t *r, rng_t *rng);

qnet_t *dqn_online(dqn_t *d);
qnet_t *dqn_target(dqn_t *d);

/* Gradient steps taken so far (saved in checkpoints: it decides when the
 * target moves next). */
int64_t dqn_updates(const dqn_t *d);
void dqn_set_updates(dqn_t *d, int64_t n);

/* ------------------------------------------------------ pure pieces */

/* y (B) = rew + gamma * (1 - term) * Q_target(s', a*), where
 * a* = argmax_a Q_online(s', a) with double_dqn, argmax_a Q_target(s', a)
 * without (then qn_online may be NULL). qn_* are (B, A). Ties go to the
 * lowest action, as torch.argmax. */
void dqn_td_targets(float *y, const float *rew, const uint8_t *term, const float *qn_online,
                    const float *qn_target, int B, int A, float gamma, bool double_dqn);

/* For L = mean over b of Huber_delta(q[b, act[b]] - y[b]), writes dL/dq
 * (B, A) into dq (zero off the taken actions) and returns L. */
double dqn_huber_grad(float *dq, const float *q, const int32_t *act, const float *y, int B, int A,
                      float delta);

/* Linear schedule: start at step 0, end from decay_steps on (decay_steps
 * <= 0: end at once). */
double dqn_epsilon(int64_t step, double start, double end, int64_t decay_steps);

/* Epsilon-greedy over q (N, A) into act (N): for each row in order, one
 * rng_next_double(); below eps, a uniform action (rng_below(A)), otherwise
 * the argmax (lowest on ties). */
void dqn_select_actions(int32_t *act, const float *q, int N, int A, double eps, rng_t *rng);

/* Index of the largest of x (n), the lowest on ties. */
int dqn_argmax(const float *x, int n);

#endif
