/*
 * evaluator.c — E greedy episodes in one batch (see evaluator.h).
 *
 * The running sessions are kept as a compact list (ids, their index among
 * the E episodes, their observations), rebuilt after each step from the
 * reply, so the network and envd only ever see sessions that still play.
 */
#include "evaluator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dqn.h"

struct evaluator {
    int E, D, A;
    uint64_t *ids;     /* (E) every session, by episode */
    uint64_t *seeds;   /* (E) */
    uint64_t *run_ids; /* (E) running sessions, compacted */
    int *run_ep;       /* (E) episode index of each running session */
    float *obs;        /* (E, D) observations of the running sessions */
    float *q;          /* (E, A) */
    int32_t *act;      /* (E) */
    double *ret;       /* (E) returns, by episode */
};

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
    ev->run_ids = calloc(E, sizeof *ev->run_ids);
    ev->run_ep = calloc(E, sizeof *ev->run_ep);
    ev->obs = calloc(E * obs_dim, sizeof *ev->obs);
    ev->q = calloc(E * num_actions, sizeof *ev->q);
    ev->act = calloc(E, sizeof *ev->act);
    ev->ret = calloc(E, sizeof *ev->ret);
    if (!ev->ids || !ev->seeds || !ev->run_ids || !ev->run_ep || !ev->obs || !ev->q || !ev->act ||
        !ev->ret) {
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
    free(ev->run_ids);
    free(ev->run_ep);
    free(ev->obs);
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

/* Makes and seeds the E sessions; fills the running list. */
static int start(evaluator_t *ev, client_t *c, const char *env_id, uint64_t seed0, errbuf_t *e)
{
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
        ev->run_ids[i] = ev->ids[i];
        ev->run_ep[i] = i;
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
    return 0;
}

/* Steps the n running sessions greedily; compacts the list. Returns the
 * number still running, or an error. */
static int step(evaluator_t *ev, client_t *c, qnet_t *net, int n, errbuf_t *e)
{
    qnet_predict(net, ev->obs, n, ev->q);
    for (int i = 0; i < n; i++)
        ev->act[i] = dqn_argmax(ev->q + (size_t)i * ev->A, ev->A);
    wire_request_t req = {.op = WIRE_OP_STEP_BATCH};
    req.step_batch.sessions = ev->run_ids;
    req.step_batch.n = (size_t)n;
    req.step_batch.actions = (wire_tensor_t){.dtype = WIRE_DTYPE_INT32, .ndim = 1,
                                             .shape = {(uint32_t)n}, .data = ev->act,
                                             .len = (size_t)n * sizeof(int32_t)};
    req.step_batch.autoreset = WIRE_AUTORESET_DISABLED;
    wire_reply_t rep;
    int rc = client_call(c, &req, &rep, e);
    if (rc == 0 && rep.step_batch.n != (size_t)n)
        rc = err_set(e, ERR_INTERNAL, "evaluation: step_batch answered %zu rows for %d",
                     rep.step_batch.n, n);
    if (rc == 0)
        rc = check_obs(ev, &rep.step_batch.obs, (size_t)n, e);
    if (rc < 0)
        return rc;
    const float *obs = rep.step_batch.obs.data;
    int m = 0;
    for (int i = 0; i < n; i++) {
        ev->ret[ev->run_ep[i]] += rep.step_batch.rewards[i];
        if (rep.step_batch.terminated[i] || rep.step_batch.truncated[i])
            continue;
        /* m <= i: rows only move towards the front, so copying in place is safe. */
        ev->run_ids[m] = ev->run_ids[i];
        ev->run_ep[m] = ev->run_ep[i];
        memmove(ev->obs + (size_t)m * ev->D, obs + (size_t)i * ev->D, (size_t)ev->D * sizeof(float));
        m++;
    }
    return m;
}

int evaluator_run(evaluator_t *ev, client_t *c, const char *env_id, qnet_t *net, uint64_t seed0,
                  evaluator_result_t *res, errbuf_t *e)
{
    double t0 = clock_s();
    int64_t steps = 0;
    int rc = start(ev, c, env_id, seed0, e);
    int n = ev->E;
    while (rc == 0 && n > 0) {
        steps += n;
        rc = step(ev, c, net, n, e);
        if (rc >= 0) {
            n = rc;
            rc = 0;
        }
    }
    if (rc < 0)
        return rc;
    wire_request_t req = {.op = WIRE_OP_CLOSE};
    req.close.sessions = ev->ids;
    req.close.n = (size_t)ev->E;
    wire_reply_t rep;
    if ((rc = client_call(c, &req, &rep, e)) < 0)
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
                                .episodes = ev->E, .steps = steps,
                                .seconds = clock_s() - t0};
    return 0;
}
