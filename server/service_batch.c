/*
 * service_batch.c — reset_batch and step_batch: many sessions of one
 * environment class in one request.
 *
 * This is where envd is fast: the rows of a batch are looked up together
 * (session_find_many), stepped in one call that lets the class interleave
 * them (env_step_many_unchecked), and written into the service's batch
 * scratch, which the reply points into, so nothing is allocated or copied
 * per row. It is also where a request can go half wrong, so everything is
 * checked first: every id known, none twice, one class, no duplicate of an
 * executed request (service_retry.c), the actions' shape, dtype and range
 * (for a Box space: float32 or float64, shape [N, dim], every value
 * finite).
 * Only then does any session move, and a refused batch leaves every one
 * of them, and its random stream, as it was.
 */
#include "service_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(bool) == 1, "step_batch sends bool flags as the wire's uint8 bytes");

/* Validates a batch's session ids: all known, no duplicates, one env class,
 * none that already executed this request (service__retry_check). Fills
 * svc->batch. */
static int batch_lookup(service_t *svc, const wire_request_t *req, const uint64_t *ids, size_t n,
                        errbuf_t *e)
{
    if (n > svc->cfg.max_batch)
        return err_set(e, ERR_RESOURCE_EXHAUSTED, "batch of %zu sessions exceeds the limit of %u",
                       n, svc->cfg.max_batch);
    if (++svc->mark == 0)
        svc->mark = 1; /* on wrap, 0 must keep meaning "never marked" */
    size_t missing = session_find_many(svc->sessions, ids, n, svc->batch);
    if (missing < n) {
        session_t *s;
        return service__find_session(svc, ids[missing], &s, e); /* for its message */
    }
    const env_class_t *cls = NULL;
    for (size_t i = 0; i < n; i++) {
        session_t *s = svc->batch[i];
        if (s->mark == svc->mark)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "session %016" PRIx64 " appears twice in one batch (row %zu)", ids[i], i);
        s->mark = svc->mark;
        int rc = service__retry_check(svc, req, s, e);
        if (rc < 0)
            return rc;
        if (cls && s->env.cls != cls)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "batch mixes environments (%s and %s); use one batch per env id",
                           cls->id, s->env.cls->id);
        cls = s->env.cls;
    }
    return 0;
}

/* Widens n actions of a checked INT64, INT32 or UINT8 tensor; one loop per
 * dtype rather than a switch per row. */
static void actions_widen(const wire_tensor_t *t, size_t n, int64_t *out)
{
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case WIRE_DTYPE_INT64:
        memcpy(out, p, n * sizeof *out);
        break;
    case WIRE_DTYPE_INT32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            out[i] = v;
        }
        break;
    default:
        for (size_t i = 0; i < n; i++)
            out[i] = p[i];
        break;
    }
}

static void touch_batch(service_t *svc, const wire_request_t *req, size_t n, uint64_t now_ms)
{
    for (size_t i = 0; i < n; i++)
        service__touch(svc, req, svc->batch[i], now_ms);
}

int service__reset_batch(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                         wire_reply_t *rep, errbuf_t *e)
{
    size_t n = req->reset_batch.n;
    if (req->reset_batch.nseeds != 0 && req->reset_batch.nseeds != n)
        return err_set(e, ERR_INVALID_ARGUMENT, "reset_batch: %zu seeds for %zu sessions",
                       req->reset_batch.nseeds, n);
    if (req->reset_batch.nseeded != 0 && req->reset_batch.nseeded != req->reset_batch.nseeds)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "reset_batch: seeded mask has %zu bytes for %zu seeds",
                       req->reset_batch.nseeded, req->reset_batch.nseeds);
    const option_t *opts = req->reset_batch.options;
    int rc = batch_lookup(svc, req, req->reset_batch.sessions, n, e);
    if (rc < 0)
        return rc;
    unsigned dim = n ? svc->batch[0]->env.cls->obs_dim : 0;
    for (size_t i = 0; i < n; i++) {
        const uint64_t *seed = NULL;
        if (req->reset_batch.nseeds && (!req->reset_batch.seeded || req->reset_batch.seeded[i]))
            seed = &req->reset_batch.seeds[i];
        /* Options are checked before anything is drawn and are the same for
         * every row, so only row 0 can fail here: nothing has moved yet. */
        rc = env_reset(&svc->batch[i]->env, seed, opts, req->reset_batch.noptions,
                       svc->obs + i * dim, e);
        if (rc < 0)
            return rc;
    }
    touch_batch(svc, req, n, now_ms);
    wire_tensor_f32(&rep->reset_batch.obs, svc->obs, (uint32_t)n, dim ? dim : 1);
    return 0;
}

int service__step_batch(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                        wire_reply_t *rep, errbuf_t *e)
{
    size_t n = req->step_batch.n;
    const wire_tensor_t *act = &req->step_batch.actions;
    int mode = req->step_batch.autoreset;
    if (mode != WIRE_AUTORESET_NEXT_STEP && mode != WIRE_AUTORESET_SAME_STEP &&
        mode != WIRE_AUTORESET_DISABLED)
        return err_set(e, ERR_INVALID_ARGUMENT, "step_batch: unknown autoreset mode %d", mode);
    int rc = batch_lookup(svc, req, req->step_batch.sessions, n, e);
    if (rc < 0)
        return rc;
    const env_class_t *cls = n ? svc->batch[0]->env.cls : NULL;
    const void *acts = svc->actions;
    env_action_t box = {0}; /* a Box batch: box.box the first row, box.dtype every row's */
    if (cls && cls->action_kind == ENV_BOX) {
        if ((rc = service__box_actions(svc, cls, act, n, "step_batch", &box, e)) < 0)
            return rc;
        acts = box.box;
    } else if (cls) {
        if (act->ndim != 1 || act->shape[0] != n)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "step_batch: actions must have shape [%zu] (one per session)", n);
        if (act->dtype != WIRE_DTYPE_INT64 && act->dtype != WIRE_DTYPE_INT32 &&
            act->dtype != WIRE_DTYPE_UINT8)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "step_batch: actions must be INT64, INT32 or UINT8 for %s's "
                           "Discrete(%u) space, not %s",
                           cls->id, cls->n_actions, wire_dtype_name(act->dtype));
        actions_widen(act, n, svc->actions);
    }
    size_t esz = box.dtype == ENV_F32 ? sizeof(float) : sizeof(double);
    size_t row_bytes = cls && cls->action_kind == ENV_BOX ? cls->action_dim * esz : 0;
    for (size_t i = 0; i < n; i++) {
        env_action_t a = {.discrete = svc->actions[i]};
        if (row_bytes) {
            a.box = (const unsigned char *)acts + i * row_bytes;
            a.dtype = box.dtype;
        }
        rc = env_check_step(&svc->batch[i]->env, &a, e);
        if (rc < 0) {
            size_t len = strlen(e->msg);
            snprintf(e->msg + len, sizeof e->msg - len, " (row %zu, session %016" PRIx64 ")", i,
                     svc->batch[i]->id);
            return rc;
        }
    }

    unsigned dim = n ? svc->batch[0]->env.cls->obs_dim : 0;
    /* Locals, so that the compiler need not reload them after every store. */
    session_t **batch = svc->batch;
    float *obs = svc->obs;
    double *rewards = svc->rewards;
    bool *terminated = svc->terminated, *truncated = svc->truncated;
    uint8_t *autoreset = svc->autoreset;
    /* NEXT_STEP: a finished session is reset instead of stepped (its row's
     * env is left NULL below); every other row is stepped in one call that
     * lets the class interleave rows. */
    env_t **envs = svc->step_envs;
    uint64_t steps = 0;
    for (size_t i = 0; i < n; i++) {
        env_t *env = &batch[i]->env;
        autoreset[i] = mode == WIRE_AUTORESET_NEXT_STEP && env->done;
        if (autoreset[i]) {
            env_reset(env, NULL, NULL, 0, obs + i * dim, e);
            rewards[i] = 0.0;
            terminated[i] = truncated[i] = false;
            envs[i] = NULL;
        } else {
            envs[i] = env;
            steps++;
        }
    }
    env_step_many_unchecked(envs, acts, box.dtype, n, obs, rewards, terminated, truncated);
    if (mode == WIRE_AUTORESET_SAME_STEP) {
        for (size_t i = 0; i < n; i++) {
            float *row = obs + i * dim, *final = svc->final_obs + i * dim;
            if (terminated[i] || truncated[i]) {
                memcpy(final, row, dim * sizeof *row);
                env_reset(&batch[i]->env, NULL, NULL, 0, row, e);
                autoreset[i] = 1;
            } else {
                memset(final, 0, dim * sizeof *final);
            }
        }
    }
    touch_batch(svc, req, n, now_ms);
    svc->stats.env_steps += steps;
    rep->step_batch.n = n;
    wire_tensor_f32(&rep->step_batch.obs, svc->obs, (uint32_t)n, dim ? dim : 1);
    rep->step_batch.rewards = svc->rewards;
    /* bool is one byte holding 0 or 1: the wire's uint8 flags as they are. */
    rep->step_batch.terminated = (const uint8_t *)svc->terminated;
    rep->step_batch.truncated = (const uint8_t *)svc->truncated;
    rep->step_batch.autoreset = svc->autoreset;
    if (mode == WIRE_AUTORESET_SAME_STEP) {
        rep->step_batch.has_final_obs = true;
        wire_tensor_f32(&rep->step_batch.final_obs, svc->final_obs, (uint32_t)n, dim ? dim : 1);
    }
    return 0;
}
