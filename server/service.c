/*
 * service.c — the request path: decode, validate, dispatch, encode exactly
 * one reply; the service's lifecycle; the single-session operations.
 *
 * Every handler fills a wire_reply_t or returns an error through an
 * errbuf_t; service_handle() turns either into exactly one reply. Handlers
 * that touch several sessions check everything first and only then act, so
 * an error never leaves a batch half applied (the batch operations are in
 * service_batch.c). All scratch memory (the decode arena, the batch output
 * blocks) is sized at start-up and reused: nothing is allocated per step.
 * Before dispatch, a resend of a request already answered is answered
 * again from the reply cache, and after it a state-changing request's
 * reply is kept for its resends (service_retry.c).
 */
#include "service_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rng.h"

int service_new(const service_config_t *cfg, service_t **out, errbuf_t *e)
{
    *out = NULL;
    service_t *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(e, ERR_NOMEM, "out of memory for the service");
    s->cfg = *cfg;
    if (!s->cfg.retry_clients)
        s->cfg.retry_clients = SERVICE_RETRY_CLIENTS;
    if (!s->cfg.retry_bytes)
        s->cfg.retry_bytes = SERVICE_RETRY_BYTES;
    if (!s->cfg.retry_ttl_ms)
        s->cfg.retry_ttl_ms = SERVICE_RETRY_TTL_MS;
    int rc = retry_cache_new(s->cfg.retry_clients, s->cfg.retry_bytes, s->cfg.retry_ttl_ms,
                             &s->retry, e);
    if (rc < 0)
        goto err;
    s->started_ms = clock_ms();
    for (size_t i = 0; i < env_class_count(); i++) {
        const env_class_t *cls = env_class_at(i);
        if (cls->obs_dim > s->obs_dim_max)
            s->obs_dim_max = cls->obs_dim;
        if (cls->action_kind == ENV_BOX && cls->action_dim > s->action_dim_max)
            s->action_dim_max = cls->action_dim;
    }
    size_t rows = cfg->max_batch ? cfg->max_batch : 1;
    if ((rc = session_table_new(cfg->max_sessions, &s->sessions, e)) < 0)
        goto err;
    /* Sessions used again within ttl/32 keep their LRU place: a hot batch
     * then stops rewriting the list on every step, and idle sessions are
     * reclaimed at most ~3% of the TTL late (the reap timer runs every
     * ttl/10 anyway). */
    session_set_touch_slack(s->sessions, (uint32_t)(cfg->session_ttl_ms / 32 < UINT32_MAX
                                                        ? cfg->session_ttl_ms / 32
                                                        : UINT32_MAX));
    if ((rc = arena_new(64 * 1024, &s->arena, e)) < 0)
        goto err;
    s->batch = calloc(rows, sizeof *s->batch);
    s->actions = calloc(rows, sizeof *s->actions);
    s->box_actions = calloc(rows * (s->action_dim_max ? s->action_dim_max : 1),
                            sizeof *s->box_actions);
    s->obs = calloc(rows * s->obs_dim_max, sizeof *s->obs);
    s->final_obs = calloc(rows * s->obs_dim_max, sizeof *s->final_obs);
    s->rewards = calloc(rows, sizeof *s->rewards);
    s->terminated = calloc(rows, sizeof *s->terminated);
    s->truncated = calloc(rows, sizeof *s->truncated);
    s->autoreset = calloc(rows, 1);
    s->step_envs = calloc(rows, sizeof *s->step_envs);
    s->env_ids = calloc(env_class_count(), sizeof *s->env_ids);
    if (!s->batch || !s->actions || !s->box_actions || !s->obs || !s->final_obs || !s->rewards ||
        !s->terminated || !s->truncated || !s->autoreset || !s->env_ids || !s->step_envs) {
        rc = err_set(e, ERR_NOMEM, "out of memory for the batch buffers (%zu rows)", rows);
        goto err;
    }
    if (rng_os_bytes(s->secret, sizeof s->secret) < 0) {
        rc = err_set(e, ERR_IO, "no secret for the retry identities: the OS random source failed");
        goto err;
    }
    for (size_t i = 0; i < env_class_count(); i++)
        s->env_ids[i] = env_class_at(i)->id;
    *out = s;
    return 0;
err:
    service_destroy(&s);
    return rc;
}

void service_destroy(service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    service_t *s = *self_p;
    session_table_destroy(&s->sessions);
    retry_cache_destroy(&s->retry);
    arena_destroy(&s->arena);
    free(s->batch);
    free(s->actions);
    free(s->box_actions);
    free(s->obs);
    free(s->final_obs);
    free(s->rewards);
    free(s->terminated);
    free(s->truncated);
    free(s->autoreset);
    free(s->step_envs);
    free(s->env_ids);
    free(s);
    *self_p = NULL;
}

const service_stats_t *service_stats(const service_t *svc) { return &svc->stats; }
size_t service_active_sessions(const service_t *svc) { return session_count(svc->sessions); }
void service_drain(service_t *svc) { svc->draining = true; }

size_t service_reap(service_t *svc, uint64_t now_ms)
{
    size_t n = session_reap(svc->sessions, now_ms, svc->cfg.session_ttl_ms);
    svc->stats.sessions_reclaimed += n;
    retry_cache_expire(svc->retry, now_ms);
    return n;
}

/* ---------------------------------------------------------------- helpers */

int service__find_session(service_t *svc, uint64_t id, session_t **out, errbuf_t *e)
{
    *out = session_find(svc->sessions, id);
    if (!*out)
        return err_set(e, ERR_NOT_FOUND,
                       "session %016" PRIx64 " not found: never issued, closed, or reclaimed "
                       "after %.3g s idle",
                       id, (double)svc->cfg.session_ttl_ms / 1000.0);
    return 0;
}

/* The session a single-session request names, unless the request is a
 * duplicate of one it has executed. */
static int lookup(service_t *svc, const wire_request_t *req, uint64_t id, session_t **out,
                  errbuf_t *e)
{
    int rc = service__find_session(svc, id, out, e);
    return rc < 0 ? rc : service__retry_check(svc, req, *out, e);
}

void service__touch(service_t *svc, const wire_request_t *req, session_t *s, uint64_t now_ms)
{
    session_touch(svc->sessions, s, now_ms);
    service__retry_mark(req, s);
}

/* A float32 Box's bounds as the wire's doubles (exact), in svc->bounds. */
static void box_bounds(service_t *svc, int which, const float *low, const float *high,
                       unsigned dim, wire_space_t *sp)
{
    double *lo = svc->bounds[2 * which], *hi = svc->bounds[2 * which + 1];
    for (unsigned i = 0; i < dim; i++) {
        lo[i] = low[i];
        hi[i] = high[i];
    }
    sp->kind = WIRE_SPACE_BOX;
    sp->dtype = WIRE_DTYPE_FLOAT32;
    sp->ndim = 1;
    sp->shape[0] = dim;
    sp->low = lo;
    sp->high = hi;
    sp->nbounds = dim;
}

static void fill_spaces(service_t *svc, const env_t *env, const env_class_t *cls,
                        wire_space_t *obs, wire_space_t *act, wire_spec_t *spec)
{
    memset(obs, 0, sizeof *obs);
    box_bounds(svc, 0, cls->obs_low, cls->obs_high, cls->obs_dim, obs);
    memset(act, 0, sizeof *act);
    if (cls->action_kind == ENV_BOX) {
        box_bounds(svc, 1, cls->action_low, cls->action_high, cls->action_dim, act);
    } else {
        act->kind = WIRE_SPACE_DISCRETE;
        act->n = cls->n_actions;
        act->start = 0;
    }
    spec->env_id = cls->id;
    spec->max_episode_steps = env ? env->max_steps : cls->max_episode_steps;
    spec->has_reward_threshold = cls->has_reward_threshold;
    spec->reward_threshold = cls->reward_threshold;
}

int service__box_actions(service_t *svc, const env_class_t *cls, const wire_tensor_t *t,
                         size_t rows, const char *what, env_action_t *a, errbuf_t *e)
{
    unsigned dim = cls->action_dim;
    bool ok = rows ? t->ndim == 2 && t->shape[0] == rows && t->shape[1] == dim
                   : t->ndim == 1 && t->shape[0] == dim;
    if (!ok) {
        char want[48];
        if (rows)
            snprintf(want, sizeof want, "[%zu, %u]", rows, dim);
        else
            snprintf(want, sizeof want, "[%u]", dim);
        return err_set(e, ERR_INVALID_ARGUMENT, "%s: %s's Box actions need shape %s", what,
                       cls->id, want);
    }
    if (t->dtype != WIRE_DTYPE_FLOAT32 && t->dtype != WIRE_DTYPE_FLOAT64)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "%s: a Box action must be FLOAT32 or FLOAT64, not %s", what,
                       wire_dtype_name(t->dtype));
    memcpy(svc->box_actions, t->data, t->len); /* the wire's bytes need not be aligned */
    a->box = svc->box_actions;
    a->dtype = t->dtype == WIRE_DTYPE_FLOAT32 ? ENV_F32 : ENV_F64;
    return 0;
}

/* --------------------------------------------------------------- handlers */

static int handle_hello(service_t *svc, const wire_request_t *req, wire_reply_t *rep, errbuf_t *e)
{
    rep->hello.major = WIRE_MAJOR;
    rep->hello.minor = WIRE_MINOR;
    rep->hello.server_version = "envd " ENVD_VERSION;
    rep->hello.env_ids = svc->env_ids;
    rep->hello.n_env_ids = env_class_count();
    rep->hello.max_message_size = svc->cfg.max_message_size;
    rep->hello.max_batch = svc->cfg.max_batch;
    rep->hello.max_sessions = svc->cfg.max_sessions;
    rep->hello.session_ttl_ms = (uint32_t)svc->cfg.session_ttl_ms;
    return 0;
}

static int handle_make(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                       wire_reply_t *rep, errbuf_t *e)
{
    const env_class_t *cls = env_find(req->make.env_id);
    if (!cls)
        return err_set(e, ERR_NOT_FOUND, "unknown env id '%s' (see hello for the list)",
                       req->make.env_id);
    size_t count = req->make.count ? req->make.count : 1;
    if (count > svc->cfg.max_batch)
        return err_set(e, ERR_RESOURCE_EXHAUSTED, "make of %zu sessions exceeds the limit of %u",
                       count, svc->cfg.max_batch);
    if (session_count(svc->sessions) + count > session_max(svc->sessions))
        return err_set(e, ERR_RESOURCE_EXHAUSTED,
                       "session limit: %zu open, %zu requested, at most %zu",
                       session_count(svc->sessions), count, session_max(svc->sessions));
    const option_t *opts = req->make.options;
    int rc;
    uint64_t *ids = arena_alloc(svc->arena, count * sizeof *ids);
    if (!ids)
        return err_set(e, ERR_RESOURCE_EXHAUSTED, "out of memory");
    session_t *s = NULL;
    for (size_t i = 0; i < count; i++) {
        rc = session_create(svc->sessions, cls, opts, req->make.noptions, now_ms, &s, e);
        if (rc < 0) {
            /* All or nothing: undo the sessions this request created. */
            while (i-- > 0) {
                session_t *made = session_find(svc->sessions, ids[i]);
                if (made)
                    session_close(svc->sessions, made);
            }
            return rc;
        }
        service__retry_mark(req, s);
        ids[i] = s->id;
    }
    svc->stats.sessions_created += count;
    rep->make.sessions = ids;
    rep->make.n = count;
    fill_spaces(svc, &s->env, cls, &rep->make.obs_space, &rep->make.act_space, &rep->make.spec);
    return 0;
}

static int handle_describe(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                           wire_reply_t *rep, errbuf_t *e)
{
    const env_t *env = NULL;
    const env_class_t *cls;
    if (req->describe.by_session) {
        session_t *s;
        int rc = service__find_session(svc, req->describe.session, &s, e);
        if (rc < 0)
            return rc;
        session_touch(svc->sessions, s, now_ms);
        env = &s->env;
        cls = s->env.cls;
    } else {
        cls = env_find(req->describe.env_id);
        if (!cls)
            return err_set(e, ERR_NOT_FOUND, "unknown env id '%s'", req->describe.env_id);
    }
    fill_spaces(svc, env, cls, &rep->describe.obs_space, &rep->describe.act_space,
                &rep->describe.spec);
    return 0;
}

static int handle_reset(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                        wire_reply_t *rep, errbuf_t *e)
{
    session_t *s;
    int rc = lookup(svc, req, req->reset.session, &s, e);
    if (rc < 0 || (rc = env_reset(&s->env, req->reset.has_seed ? &req->reset.seed : NULL,
                                  req->reset.options, req->reset.noptions, svc->obs, e)) < 0)
        return rc;
    service__touch(svc, req, s, now_ms);
    wire_tensor_f32(&rep->reset.obs, svc->obs, s->env.cls->obs_dim, 0);
    return 0;
}

static int handle_step(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                       wire_reply_t *rep, errbuf_t *e)
{
    session_t *s;
    int rc = lookup(svc, req, req->step.session, &s, e);
    if (rc < 0)
        return rc;
    env_action_t a = {.discrete = req->step.action};
    if (req->step.has_box) {
        if (s->env.cls->action_kind == ENV_DISCRETE)
            a.box = req->step.box.data; /* refused by env_step, as the wrong kind */
        else if ((rc = service__box_actions(svc, s->env.cls, &req->step.box, 0, "step", &a, e)) < 0)
            return rc;
    }
    if ((rc = env_step(&s->env, &a, svc->obs, &rep->step.reward, &rep->step.terminated,
                       &rep->step.truncated, e)) < 0)
        return rc;
    service__touch(svc, req, s, now_ms);
    svc->stats.env_steps++;
    wire_tensor_f32(&rep->step.obs, svc->obs, s->env.cls->obs_dim, 0);
    return 0;
}

static int handle_close(service_t *svc, const wire_request_t *req, wire_reply_t *rep)
{
    uint32_t closed = 0;
    for (size_t i = 0; i < req->close.n; i++) {
        session_t *s = session_find(svc->sessions, req->close.sessions[i]);
        if (s) {
            session_close(svc->sessions, s);
            closed++;
        }
    }
    rep->close.closed = closed;
    return 0;
}

static void fill_stats(service_t *svc, wire_reply_t *rep)
{
    uint64_t requests = 0, errors = 0;
    for (int i = 0; i < SERVICE_NOPS; i++)
        requests += svc->stats.requests_by_op[i];
    for (int i = 1; i < SERVICE_NCODES; i++)
        errors += svc->stats.errors_by_code[i];
    rep->stats.active_sessions = session_count(svc->sessions);
    rep->stats.sessions_created = svc->stats.sessions_created;
    rep->stats.sessions_reclaimed = svc->stats.sessions_reclaimed;
    rep->stats.env_steps = svc->stats.env_steps;
    rep->stats.requests = requests;
    rep->stats.errors = errors;
    rep->stats.uptime_ms = clock_ms() - svc->started_ms;
}

/* ---------------------------------------------------------------- dispatch */

static int dispatch(service_t *svc, const wire_request_t *req, uint64_t now_ms, wire_reply_t *rep,
                    errbuf_t *e)
{
    switch (req->op) {
    case WIRE_OP_HELLO: return handle_hello(svc, req, rep, e);
    case WIRE_OP_MAKE: return handle_make(svc, req, now_ms, rep, e);
    case WIRE_OP_DESCRIBE: return handle_describe(svc, req, now_ms, rep, e);
    case WIRE_OP_RESET: return handle_reset(svc, req, now_ms, rep, e);
    case WIRE_OP_STEP: return handle_step(svc, req, now_ms, rep, e);
    case WIRE_OP_RESET_BATCH: return service__reset_batch(svc, req, now_ms, rep, e);
    case WIRE_OP_STEP_BATCH: return service__step_batch(svc, req, now_ms, rep, e);
    case WIRE_OP_CLOSE: return handle_close(svc, req, rep);
    case WIRE_OP_PING:
        rep->ping.payload = req->ping.payload;
        rep->ping.len = req->ping.len;
        return 0;
    case WIRE_OP_STATS: fill_stats(svc, rep); return 0;
    default: return err_set(e, ERR_INVALID_ARGUMENT, "unknown operation %d", (int)req->op);
    }
}

static void encode_or_internal(service_t *svc, wire_reply_t *rep, wire_buf_t *out)
{
    if (wire_encode_reply(rep, out) < 0) {
        /* Only an allocation failure gets here; try the smallest reply. */
        rep->code = ERR_INTERNAL;
        rep->message = "out of memory encoding the reply";
        rep->op = WIRE_OP_NONE;
        if (wire_encode_reply(rep, out) < 0)
            out->len = 0;
    }
}

void service_handle(service_t *svc, const void *msg, size_t len, const service_peer_t *peer,
                    uint64_t now_ms, wire_buf_t *out, service_result_t *res)
{
    wire_request_t req;
    wire_reply_t rep;
    errbuf_t e;
    err_clear(&e);
    arena_reset(svc->arena);
    memset(&rep, 0, sizeof rep);

    int rc = wire_decode_request(svc->arena, msg, len, &req, &e);
    uint64_t origin = 0;
    bool retryable = rc == 0 && service__retry_begin(svc, &req, peer, &origin);
    if (retryable && req.major == WIRE_MAJOR &&
        service__retry_replay(svc, &req, now_ms, out, res))
        return;
    if ((rc == 0 || req.major != 0) && req.major != WIRE_MAJOR)
        rc = err_set(&e, ERR_VERSION_MISMATCH,
                     "protocol version %u.%u not supported: this server speaks %d.%d",
                     req.major, req.minor, WIRE_MAJOR, WIRE_MINOR);
    else if (rc == 0 && svc->draining)
        rc = err_set(&e, ERR_UNAVAILABLE, "envd is shutting down");
    bool dispatched = rc == 0;
    if (dispatched)
        rc = dispatch(svc, &req, now_ms, &rep, &e);

    int op = rc == 0 || (req.op >= WIRE_OP_FIRST && req.op <= WIRE_OP_LAST) ? req.op : WIRE_OP_NONE;
    svc->stats.requests_by_op[op]++;
    rep.major = WIRE_MAJOR;
    rep.minor = WIRE_MINOR;
    rep.id = req.id;
    if (rc == 0) {
        rep.code = ERR_OK;
        rep.message = "";
        rep.op = req.op;
    } else {
        if (rc < ERR_INTERNAL) /* a local-only code escaped: report it as internal */
            rc = ERR_INTERNAL;
        svc->stats.errors_by_code[-rc]++;
        rep.code = rc;
        rep.message = e.msg;
        rep.op = WIRE_OP_NONE;
    }
    encode_or_internal(svc, &rep, out);
    /* Error replies too: a resend then gets the same bytes, whatever
     * happened in between. */
    if (retryable && dispatched && out->len)
        service__retry_keep(svc, &req, origin, rc, out, now_ms);
    if (res) {
        res->op = op;
        res->code = rc;
    }
}

void service_reply_error(service_t *svc, int code, const char *message, wire_buf_t *out)
{
    wire_reply_t rep;
    memset(&rep, 0, sizeof rep);
    rep.major = WIRE_MAJOR;
    rep.minor = WIRE_MINOR;
    rep.code = code;
    rep.message = message;
    svc->stats.requests_by_op[WIRE_OP_NONE]++;
    svc->stats.errors_by_code[-code]++;
    encode_or_internal(svc, &rep, out);
}
