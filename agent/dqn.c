/*
 * dqn.c — the DQN update over qnet (see dqn.h).
 *
 * One gradient step is: sample a minibatch, evaluate s' on the target net
 * (and on the online net for Double DQN's argmax) with qnet_predict, form
 * the TD targets, run the online net's training forward on s, take the
 * Huber gradient at the chosen actions, backpropagate, clip, Adam, and move
 * the target net when due. Every buffer is sized once in dqn_new().
 */
#include "dqn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dqn {
    dqn_config_t cfg;
    qnet_t *online, *target;
    int in, A, B;
    int64_t updates;     /* gradient steps taken */
    float *mem;          /* the one allocation the batch buffers below point into */
    float *obs;          /* (B, in) */
    float *next;         /* (B, in) */
    float *rew;          /* (B) */
    float *qn_online;    /* (B, A) Q_online(s', .) */
    float *qn_target;    /* (B, A) Q_target(s', .) */
    float *y;            /* (B) TD targets */
    float *dq;           /* (B, A) dL/dQ(s, .) */
    int32_t *act;        /* (B) */
    uint8_t *term;       /* (B) */
};

int dqn_new(const dqn_config_t *cfg, const qnet_shape_t *shape, dqn_t **out, errbuf_t *e)
{
    if (cfg->batch < 1 || cfg->target_update < 1 || !(cfg->gamma >= 0 && cfg->gamma <= 1) ||
        !(cfg->lr > 0) || !(cfg->tau > 0 && cfg->tau <= 1) || !(cfg->huber_delta > 0))
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "dqn: batch and target_update must be >= 1, gamma in [0, 1], lr > 0, "
                       "tau in (0, 1], huber_delta > 0");
    dqn_t *d = calloc(1, sizeof *d);
    if (!d)
        return err_set(e, ERR_NOMEM, "out of memory");
    d->cfg = *cfg;
    d->B = cfg->batch;
    d->in = shape->in;
    d->A = shape->out;
    int rc = qnet_new_shape(shape, d->B, &d->online, e);
    if (rc == 0)
        rc = qnet_new_shape(shape, 1, &d->target, e); /* predict only */
    if (rc < 0) {
        char why[ERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", e->msg);
        dqn_destroy(&d);
        return err_set(e, rc, "dqn: cannot make a net of this shape (in %d, out %d, %d hidden): %s",
                       shape->in, shape->out, shape->nhidden, why);
    }
    size_t B = (size_t)d->B, in = (size_t)d->in, A = (size_t)d->A;
    size_t nfloats = 2 * B * in + B + 2 * B * A + B + B * A;
    d->mem = malloc(nfloats * sizeof(float) + B * sizeof(int32_t) + B);
    if (!d->mem) {
        dqn_destroy(&d);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    float *p = d->mem;
    d->obs = p, p += B * in;
    d->next = p, p += B * in;
    d->rew = p, p += B;
    d->qn_online = p, p += B * A;
    d->qn_target = p, p += B * A;
    d->y = p, p += B;
    d->dq = p, p += B * A;
    d->act = (int32_t *)p;
    d->term = (uint8_t *)(d->act + B);
    *out = d;
    return 0;
}

void dqn_destroy(dqn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dqn_t *d = *self_p;
    qnet_destroy(&d->online);
    qnet_destroy(&d->target);
    free(d->mem);
    free(d);
    *self_p = NULL;
}

void dqn_init(dqn_t *d, rng_t *rng)
{
    qnet_init(d->online, rng);
    qnet_copy_params(d->target, d->online);
    d->updates = 0;
}

qnet_t *dqn_online(dqn_t *d) { return d->online; }
qnet_t *dqn_target(dqn_t *d) { return d->target; }
int64_t dqn_updates(const dqn_t *d) { return d->updates; }
void dqn_set_updates(dqn_t *d, int64_t n) { d->updates = n; }

/* ------------------------------------------------------ pure pieces */

int dqn_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

void dqn_td_targets(float *y, const float *rew, const uint8_t *term, const float *qn_online,
                    const float *qn_target, int B, int A, float gamma, bool double_dqn)
{
    for (int b = 0; b < B; b++) {
        const float *qt = qn_target + (size_t)b * A;
        int a = dqn_argmax(double_dqn ? qn_online + (size_t)b * A : qt, A);
        float future = term[b] ? 0.0f : gamma * qt[a];
        y[b] = rew[b] + future;
    }
}

double dqn_huber_grad(float *dq, const float *q, const int32_t *act, const float *y, int B, int A,
                      float delta)
{
    memset(dq, 0, (size_t)B * A * sizeof(float));
    double loss = 0.0;
    float inv_b = 1.0f / (float)B;
    for (int b = 0; b < B; b++) {
        float x = q[(size_t)b * A + act[b]] - y[b];
        float ax = fabsf(x);
        float g;
        if (ax <= delta) {
            loss += 0.5 * (double)x * x;
            g = x;
        } else {
            loss += (double)delta * (ax - 0.5 * (double)delta);
            g = x > 0 ? delta : -delta;
        }
        dq[(size_t)b * A + act[b]] = g * inv_b;
    }
    return loss / B;
}

double dqn_epsilon(int64_t step, double start, double end, int64_t decay_steps)
{
    if (decay_steps <= 0 || step >= decay_steps)
        return end;
    if (step <= 0)
        return start;
    return start + (end - start) * ((double)step / (double)decay_steps);
}

void dqn_select_actions(int32_t *act, const float *q, int N, int A, double eps, rng_t *rng)
{
    for (int i = 0; i < N; i++) {
        if (rng_next_double(rng) < eps)
            act[i] = (int32_t)rng_below(rng, (uint64_t)A);
        else
            act[i] = dqn_argmax(q + (size_t)i * A, A);
    }
}

/* ------------------------------------------------------------- update */

double dqn_train_step(dqn_t *d, replay_t *r, rng_t *rng)
{
    int B = d->B, A = d->A;
    int rc = replay_sample(r, rng, B, d->obs, d->act, d->rew, d->next, d->term);
    if (rc < 0)
        return rc;
    qnet_predict(d->target, d->next, B, d->qn_target);
    if (d->cfg.double_dqn)
        qnet_predict(d->online, d->next, B, d->qn_online);
    dqn_td_targets(d->y, d->rew, d->term, d->qn_online, d->qn_target, B, A, (float)d->cfg.gamma,
                   d->cfg.double_dqn);

    const float *q = qnet_forward(d->online, d->obs, B);
    double loss = dqn_huber_grad(d->dq, q, d->act, d->y, B, A, (float)d->cfg.huber_delta);
    qnet_zero_grad(d->online);
    qnet_backward(d->online, d->dq, B);
    if (d->cfg.max_grad_norm > 0)
        qnet_clip_grad(d->online, (float)d->cfg.max_grad_norm);
    qnet_adam_step(d->online, d->cfg.lr, 0.9, 0.999, d->cfg.adam_eps);

    d->updates++;
    if (d->updates % d->cfg.target_update == 0) {
        if (d->cfg.tau >= 1.0)
            qnet_copy_params(d->target, d->online);
        else
            qnet_polyak(d->target, d->online, (float)d->cfg.tau);
    }
    return loss;
}
