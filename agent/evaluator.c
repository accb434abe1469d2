/*
 * evaluator.c — E greedy episodes in one batch (see evaluator.h).
 *
 * Each episode is running, awaiting the answer to a step, or ended; a step
 * asks for the running ones only, in episode order, so the network and
 * envd only ever see sessions that still play.
 */
#include "evaluator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dqn.h"

struct evaluator {
    int E, D, A;
    uint64_t *ids;     /* (E) every session, by episode */
    uint64_t *seeds;   /* (E) */
    uint8_t *state;    /* (E) EV_RUNNING, EV_AWAITING (a step in flight) or EV_ENDED */
    float *obs;        /* (E, D) current observations, by episode */
    float *rows;       /* (E, D) observations of the rows asked for, compacted */
    uint64_t *row_ids; /* (E) */
    float *q;          /* (E, A) */
    int32_t *act;      /* (E) */
    double *ret;       /* (E) returns, by episode */
    int running;       /* episodes not ended */
    int64_t steps;
    double t0;
};

enum { EV_RUNNING, EV_AWAITING, EV_ENDED };

int evaluator_new(int episodes, int obs_dim, int num_actions, evaluator_t **out, errbuf_t *e)
{
    if (episodes < 1 || obs_dim < 1 || num_actions < 1)
        return err_set(e, ERR_INVALID_ARGUMENT, "evaluator: sizes must be >= 1");
    evaluator_t *ev = calloc(1, sizeof *ev);
    if (!ev)
        return err_set(e, ERR_NOMEM, "out of memory");
    size_t E = (size_t)episodes;
    ev->E = episodes;
    ev->D = obs_dim;
    ev->A = num_actions;
    ev->ids = calloc(E, sizeof *ev->ids);
    ev->seeds = calloc(E, sizeof *ev->seeds);
    ev->state = calloc(E, 1);
    ev->obs = calloc(E * obs_dim, sizeof *ev->obs);
    ev->rows = calloc(E * obs_dim, sizeof *ev->rows);
    ev->row_ids = calloc(E, sizeof *ev->row_ids);
    ev->q = calloc(E * num_actions, sizeof *ev->q);
    ev->act = calloc(E, sizeof *ev->act);
    ev->ret = calloc(E, sizeof *ev->ret);
    if (!ev->ids || !ev->seeds || !ev->state || !ev->obs || !ev->rows || !ev->row_ids || !ev->q ||
        !ev->act || !ev->ret) {
        evaluator_destroy(&ev);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = ev;
    return 0;
}

void evaluator_destroy(evaluator_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    evaluator_t *ev = *self_p;
    free(ev->ids);
    free(ev->seeds);
    free(ev->state);
    free(ev->obs);
    free(ev->rows);
    free(ev->row_ids);
    free(ev->q);
    free(ev->act);
    free(ev->ret);
    free(ev);
    *self_p = NULL;
}

const double *evaluator_returns(const evaluator_t *ev) { return ev->ret; }

static int check_obs(const evaluator_t *ev, const wire_tensor_t *t, size_t n, errbuf_t *e)
{
    if (t->dtype != WIRE_DTYPE_FLOAT32 || t->ndim != 2 || t->shape[0] != n ||
        t->shape[1] != (uint32_t)ev->D)
        return err_set(e, ERR_INTERNAL, "evaluation: observations are not float32 (%zu, %d)", n,
                       ev->D);
    return 0;
}

int evaluator_begin(evaluator_t *ev, client_t *c, const char *env_id, uint64_t seed0,
                    errbuf_t *e)
{
    ev->t0 = clock_s();
    ev->steps = 0;
    ev->running = 0;
    wire_request_t req = {.op = WIRE_OP_MAKE};
    req.make.env_id = env_id;
    req.make.count = (uint32_t)ev->E;
    wire_reply_t rep;
    int rc = client_call(c, &req, &rep, e);
    if (rc < 0)
        return rc;
    if (rep.make.n != (size_t)ev->E)
        return err_set(e, ERR_INTERNAL, "evaluation: make returned %zu sessions for %d",
                       rep.make.n, ev->E);
    memcpy(ev->ids, rep.make.sessions, (size_t)ev->E * sizeof(uint64_t));
    for (int i = 0; i < ev->E; i++) {
        ev->seeds[i] = seed0 + (uint64_t)i;
        ev->ret[i] = 0.0;
    }
    req = (wire_request_t){.op = WIRE_OP_RESET_BATCH};
    req.reset_batch.sessions = ev->ids;
    req.reset_batch.n = (size_t)ev->E;
    req.reset_batch.seeds = ev->seeds;
    req.reset_batch.nseeds = (size_t)ev->E;
    if ((rc = client_call(c, &req, &rep, e)) < 0 ||
        (rc = check_obs(ev, &rep.reset_batch.obs, (size_t)ev->E, e)) < 0)
        return rc;
    memcpy(ev->obs, rep.reset_batch.obs.data, (size_t)ev->E * ev->D * sizeof(float));
    memset(ev->state, EV_RUNNING, (size_t)ev->E);
    ev->running = ev->E;
    return 0;
}

size_t evaluator_rows(evaluator_t *ev, int group, int ngroups, size_t max, qnet_t *net,
                      const uint64_t **ids, const int32_t **act)
{
    size_t n = 0, D = (size_t)ev->D;
    for (int i = group; i < ev->E && n < max; i += ngroups) {
        if (ev->state[i] != EV_RUNNING)
            continue;
        ev->row_ids[n] = ev->ids[i];
        memcpy(ev->rows + n * D, ev->obs + (size_t)i * D, D * sizeof(float));
        ev->state[i] = EV_AWAITING;
        n++;
    }
    if (n > 0)
        qnet_predict(net, ev->rows, (int)n, ev->q);
    for (size_t i = 0; i < n; i++)
        ev->act[i] = dqn_argmax(ev->q + i * ev->A, ev->A);
    ev->steps += (int64_t)n;
    *ids = ev->row_ids;
    *act = ev->act;
    return n;
}

/* The episode of session id, -1 if none. Sessions come in episode order,
 * so the search starts after the previous hit. */
static int episode_of(const evaluator_t *ev, uint64_t id, int from)
{
    for (int j = 0; j < ev->E; j++) {
        int i = (from + j) % ev->E;
        if (ev->ids[i] == id)
            return i;
    }
    return -1;
}

void evaluator_take(evaluator_t *ev, size_t n, const uint64_t *ids, const double *rew,
                    const uint8_t *term, const uint8_t *trunc, const float *obs)
{
    int at = 0;
    for (size_t j = 0; j < n; j++) {
        int i = episode_of(ev, ids[j], at);
        if (i < 0 || ev->state[i] != EV_AWAITING)
            continue;
        at = i + 1;
        ev->ret[i] += rew[j];
        if (term[j] || trunc[j]) {
            ev->state[i] = EV_ENDED;
            ev->running--;
        } else {
            ev->state[i] = EV_RUNNING;
            memcpy(ev->obs + (size_t)i * ev->D, obs + j * ev->D, (size_t)ev->D * sizeof(float));
        }
    }
}

int evaluator_done(const evaluator_t *ev) { return ev->running == 0; }

int evaluator_end(evaluator_t *ev, client_t *c, evaluator_result_t *res, errbuf_t *e)
{
    wire_request_t req = {.op = WIRE_OP_CLOSE};
    req.close.sessions = ev->ids;
    req.close.n = (size_t)ev->E;
    wire_reply_t rep;
    int rc = client_call(c, &req, &rep, e);
    if (rc < 0)
        return rc;
    double sum = 0.0, lo = ev->ret[0], hi = ev->ret[0];
    for (int i = 0; i < ev->E; i++) {
        sum += ev->ret[i];
        lo = ev->ret[i] < lo ? ev->ret[i] : lo;
        hi = ev->ret[i] > hi ? ev->ret[i] : hi;
    }
    double mean = sum / ev->E, var = 0.0;
    for (int i = 0; i < ev->E; i++)
        var += (ev->ret[i] - mean) * (ev->ret[i] - mean);
    *res = (evaluator_result_t){.mean = mean, .std = sqrt(var / ev->E), .min = lo, .max = hi,
                                .episodes = ev->E, .steps = ev->steps,
                                .seconds = clock_s() - ev->t0};
    return 0;
}

/* One blocking step of every running episode (autoreset DISABLED). */
static int step(evaluator_t *ev, client_t *c, qnet_t *net, errbuf_t *e)
{
    const uint64_t *ids;
    const int32_t *act;
    size_t n = evaluator_rows(ev, 0, 1, (size_t)ev->E, net, &ids, &act);
    wire_request_t req = wire_step_batch_discrete(ids, act, n, WIRE_AUTORESET_DISABLED);
    wire_reply_t rep;
    int rc = client_call(c, &req, &rep, e);
    if (rc == 0 && rep.step_batch.n != n)
        rc = err_set(e, ERR_INTERNAL, "evaluation: step_batch answered %zu rows for %zu",
                     rep.step_batch.n, n);
    if (rc == 0)
        rc = check_obs(ev, &rep.step_batch.obs, n, e);
    if (rc < 0)
        return rc;
    evaluator_take(ev, n, ids, rep.step_batch.rewards, rep.step_batch.terminated, rep.step_batch.truncated,
                   rep.step_batch.obs.data);
    return 0;
}

int evaluator_run(evaluator_t *ev, client_t *c, const char *env_id, qnet_t *net, uint64_t seed0,
                  evaluator_result_t *res, errbuf_t *e)
{
    int rc = evaluator_begin(ev, c, env_id, seed0, e);
    while (rc == 0 && !evaluator_done(ev))
        rc = step(ev, c, net, e);
    return rc < 0 ? rc : evaluator_end(ev, c, res, e);
}
