/*
 * service.c — decode, validate, dispatch into sessions, encode the reply.
 *
 * Every handler fills a wire_reply_t or returns an error through an
 * errbuf_t; service_handle() turns either into exactly one reply. Handlers
 * that touch several sessions check everything first and only then act, so
 * an error never leaves a batch half applied. All scratch memory (the
 * decode arena, the batch output blocks) is sized at start-up and reused:
 * nothing is allocated per step.
 *
 * Retries: a request that carries a client_id and changes state is
 * remembered twice over — its (client_id, id) on every session it changed,
 * and its encoded reply in the per-client reply cache (retry.c). A resend
 * of it is answered from the cache, byte for byte; one whose reply is gone
 * is recognized by the session marks and refused, so no request ever acts
 * twice (docs/protocol.md, "Retries"). Both key on the client's retry
 * identity rather than the client_id it sent: the client_id bound to the
 * CURVE key it authenticated with, hashed under a secret drawn at start,
 * so that another key reusing the client_id is another client, and no
 * peer can aim its ids at one slot of the cache's index.
 */
#include "service.h"

#include "clock.h"
#include "retry.h"
#include "rng.h"
#include "siphash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


_Static_assert(sizeof(bool) == 1, "step_batch sends bool flags as the wire's uint8 bytes");

struct service {
    service_config_t cfg;
    session_table_t *sessions;
    retry_cache_t *retry; /* last reply per retrying client */
    uint8_t secret[SIPHASH_KEY_LEN]; /* mixes peer-chosen ids: retry_origin, retry_client */
    arena_t *arena;
    service_stats_t stats;
    uint64_t started_ms;
    bool draining;
    uint32_t mark; /* bumped per batch: session_t.mark == mark means "seen" */
    unsigned obs_dim_max;
    /* Batch scratch, sized for max_batch rows. */
    session_t **batch;  /* (max_batch) */
    int64_t *actions;   /* (max_batch) a step_batch's actions, whatever their dtype */
    float *obs;         /* (max_batch, obs_dim_max) */
    float *final_obs;   /* (max_batch, obs_dim_max) */
    double *rewards;    /* (max_batch) */
    bool *terminated, *truncated; /* (max_batch) each */
    uint8_t *autoreset; /* (max_batch) */
    env_t **step_envs;  /* (max_batch) the rows a step_batch steps; NULL: reset instead */
    const char **env_ids; /* (env_class_count()) */
};


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
    for (size_t i = 0; i < env_class_count(); i++)
        if (env_class_at(i)->obs_dim > s->obs_dim_max)
            s->obs_dim_max = env_class_at(i)->obs_dim;
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
    s->obs = calloc(rows * s->obs_dim_max, sizeof *s->obs);
    s->final_obs = calloc(rows * s->obs_dim_max, sizeof *s->final_obs);
    s->rewards = calloc(rows, sizeof *s->rewards);
    s->terminated = calloc(rows, sizeof *s->terminated);
    s->truncated = calloc(rows, sizeof *s->truncated);
    s->autoreset = calloc(rows, 1);
    s->step_envs = calloc(rows, sizeof *s->step_envs);
    s->env_ids = calloc(env_class_count(), sizeof *s->env_ids);
    if (!s->batch || !s->actions || !s->obs || !s->final_obs || !s->rewards || !s->terminated ||
        !s->truncated || !s->autoreset || !s->env_ids || !s->step_envs) {
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

static int find_session(service_t *svc, uint64_t id, session_t **out, errbuf_t *e)
{
    *out = session_find(svc->sessions, id);
    if (!*out)
        return err_set(e, ERR_NOT_FOUND,
                       "session %016" PRIx64 " not found: never issued, closed, or reclaimed "
                       "after %.3g s idle",
                       id, (double)svc->cfg.session_ttl_ms / 1000.0);
    return 0;
}

/* Refuses a request that this session has already seen from this client:
 * the same id (a resend whose cached reply is gone: executing it again
 * would act twice) or an older one (a stale copy overtaken by later
 * requests). Ids of one client increase, so both are duplicates. */
static int retry_check(service_t *svc, const wire_request_t *req, const session_t *s, errbuf_t *e)
{
    if (!req->client_id || s->last_client_id != req->client_id || req->id > s->last_request_id)
        return 0;
    svc->stats.retries_refused++;
    if (req->id == s->last_request_id)
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "duplicate request id %" PRIu64 ": already executed on session %016" PRIx64
                       ", reply no longer cached",
                       req->id, s->id);
    return err_set(e, ERR_FAILED_PRECONDITION,
                   "stale request id %" PRIu64 ": session %016" PRIx64
                   " already executed request %" PRIu64 " of this client",
                   req->id, s->id, s->last_request_id);
}

static void retry_mark(const wire_request_t *req, session_t *s)
{
    s->last_client_id = req->client_id;
    s->last_request_id = req->id;
}

static void fill_spaces(const env_t *env, const env_class_t *cls, wire_space_t *obs,
                        wire_space_t *act, wire_spec_t *spec)
{
    memset(obs, 0, sizeof *obs);
    obs->kind = WIRE_SPACE_BOX;
    obs->dtype = WIRE_DTYPE_FLOAT32;
    obs->ndim = 1;
    obs->shape[0] = cls->obs_dim;
    obs->low = cls->obs_low;
    obs->high = cls->obs_high;
    obs->nbounds = cls->obs_dim;
    memset(act, 0, sizeof *act);
    act->kind = WIRE_SPACE_DISCRETE;
    act->n = cls->n_actions;
    act->start = 0;
    spec->env_id = cls->id;
    spec->max_episode_steps = env ? env->max_steps : cls->max_episode_steps;
    spec->has_reward_threshold = cls->has_reward_threshold;
    spec->reward_threshold = cls->reward_threshold;
}

/* Validates a batch's session ids: all known, no duplicates, one env class,
 * none that already executed this request (retry_check). Fills svc->batch. */
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
        return find_session(svc, ids[missing], &s, e); /* for its message */
    }
    const env_class_t *cls = NULL;
    for (size_t i = 0; i < n; i++) {
        session_t *s = svc->batch[i];
        if (s->mark == svc->mark)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "session %016" PRIx64 " appears twice in one batch (row %zu)", ids[i], i);
        s->mark = svc->mark;
        int rc = retry_check(svc, req, s, e);
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
    for (size_t i = 0; i < n; i++) {
        session_touch(svc->sessions, svc->batch[i], now_ms);
        retry_mark(req, svc->batch[i]);
    }
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
        retry_mark(req, s);
        ids[i] = s->id;
    }
    svc->stats.sessions_created += count;
    rep->make.sessions = ids;
    rep->make.n = count;
    fill_spaces(&s->env, cls, &rep->make.obs_space, &rep->make.act_space, &rep->make.spec);
    return 0;
}

static int handle_describe(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                           wire_reply_t *rep, errbuf_t *e)
{
    const env_t *env = NULL;
    const env_class_t *cls;
    if (req->describe.by_session) {
        session_t *s;
        int rc = find_session(svc, req->describe.session, &s, e);
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
    fill_spaces(env, cls, &rep->describe.obs_space, &rep->describe.act_space,
                &rep->describe.spec);
    return 0;
}

static int handle_reset(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                        wire_reply_t *rep, errbuf_t *e)
{
    session_t *s;
    int rc = find_session(svc, req->reset.session, &s, e);
    if (rc < 0 || (rc = retry_check(svc, req, s, e)) < 0)
        return rc;
    rc = env_reset(&s->env, req->reset.has_seed ? &req->reset.seed : NULL, req->reset.options,
                   req->reset.noptions, svc->obs, e);
    if (rc < 0)
        return rc;
    session_touch(svc->sessions, s, now_ms);
    retry_mark(req, s);
    wire_tensor_f32(&rep->reset.obs, svc->obs, s->env.cls->obs_dim, 0);
    return 0;
}

static int handle_step(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                       wire_reply_t *rep, errbuf_t *e)
{
    session_t *s;
    int rc = find_session(svc, req->step.session, &s, e);
    if (rc < 0 || (rc = retry_check(svc, req, s, e)) < 0)
        return rc;
    rc = env_step(&s->env, req->step.action, svc->obs, &rep->step.reward, &rep->step.terminated,
                  &rep->step.truncated, e);
    if (rc < 0)
        return rc;
    session_touch(svc->sessions, s, now_ms);
    retry_mark(req, s);
    svc->stats.env_steps++;
    wire_tensor_f32(&rep->step.obs, svc->obs, s->env.cls->obs_dim, 0);
    return 0;
}

static int handle_reset_batch(service_t *svc, const wire_request_t *req, uint64_t now_ms,
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

static int handle_step_batch(service_t *svc, const wire_request_t *req, uint64_t now_ms,
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
    if (n > 0) {
        if (act->ndim != 1 || act->shape[0] != n)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "step_batch: actions must have shape [%zu] (one per session)", n);
        if (act->dtype != WIRE_DTYPE_INT64 && act->dtype != WIRE_DTYPE_INT32 &&
            act->dtype != WIRE_DTYPE_UINT8)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "step_batch: actions must be INT64, INT32 or UINT8 for a Discrete space");
    }
    int64_t *acts = svc->actions;
    actions_widen(act, n, acts);
    for (size_t i = 0; i < n; i++) {
        rc = env_check_step(&svc->batch[i]->env, acts[i], e);
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
    env_step_many_unchecked(envs, acts, n, obs, rewards, terminated, truncated);
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
    case WIRE_OP_RESET_BATCH: return handle_reset_batch(svc, req, now_ms, rep, e);
    case WIRE_OP_STEP_BATCH: return handle_step_batch(svc, req, now_ms, rep, e);
    case WIRE_OP_CLOSE: return handle_close(svc, req, rep);
    case WIRE_OP_PING:
        rep->ping.payload = req->ping.payload;
        rep->ping.len = req->ping.len;
        return 0;
    case WIRE_OP_STATS: fill_stats(svc, rep); return 0;
    default: return err_set(e, ERR_INVALID_ARGUMENT, "unknown operation %d", (int)req->op);
    }
}

/* The operations whose replies a resend must get back rather than cause
 * again; the others are re-executed, which changes nothing. */
static bool op_changes_state(int op)
{
    switch (op) {
    case WIRE_OP_MAKE:
    case WIRE_OP_RESET:
    case WIRE_OP_STEP:
    case WIRE_OP_RESET_BATCH:
    case WIRE_OP_STEP_BATCH:
    case WIRE_OP_CLOSE: return true;
    default: return false;
    }
}

/* Where the cache accounts a reply: the CURVE key when there is one (a
 * flooder cannot mint those), else the connection; 0 for an unknown peer.
 * The tag byte keeps a key and a routing id with the same bytes apart. */
static uint64_t retry_origin(const service_t *svc, const service_peer_t *peer)
{
    if (!peer)
        return 0;
    uint8_t buf[1 + 255]; /* ZMTP routing ids are at most 255 bytes, Z85 keys 40 */
    const void *id = peer->key ? peer->key : peer->conn;
    size_t n = peer->key ? peer->key_len : peer->conn_len;
    if (n > sizeof buf - 1)
        n = sizeof buf - 1;
    buf[0] = peer->key ? 'K' : 'C';
    if (n)
        memcpy(buf + 1, id, n);
    return siphash24(svc->secret, buf, 1 + n);
}

/* The retry identity of a request's client_id: bound to the CURVE key
 * (through origin, its hash) when there is one, never to a connection,
 * since resends come on fresh ones. 0 stays "no protection". */
static uint64_t retry_client(const service_t *svc, uint64_t client_id, const service_peer_t *peer,
                             uint64_t origin)
{
    if (!client_id)
        return 0;
    uint64_t in[2] = {client_id, peer && peer->key ? origin : 0};
    uint8_t buf[16];
    for (int i = 0; i < 16; i++) /* little-endian on every host */
        buf[i] = (uint8_t)(in[i / 8] >> (8 * (i % 8)));
    uint64_t h = siphash24(svc->secret, buf, sizeof buf);
    return h ? h : 1;
}

/* Answers a resend of the client's last state-changing request from the
 * cache; false when it is not one. */
static bool replay_cached(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                          wire_buf_t *out, service_result_t *res)
{
    size_t len;
    int code;
    const void *bytes = retry_cache_find(svc->retry, req->client_id, req->id, now_ms, &len, &code);
    if (!bytes)
        return false;
    if (out->cap < len) {
        uint8_t *data = realloc(out->data, len);
        if (!data)
            return false; /* the session marks refuse it instead */
        out->data = data;
        out->cap = len;
    }
    memcpy(out->data, bytes, len);
    out->len = len;
    svc->stats.requests_by_op[req->op]++;
    svc->stats.retries_replayed++;
    if (res) {
        res->op = req->op;
        res->code = code;
    }
    return true;
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
    bool retryable = rc == 0 && req.client_id != 0 && op_changes_state(req.op);
    uint64_t origin = 0;
    if (retryable) {
        /* From here on client_id is the retry identity: the cache and the
         * session marks only ever compare it. */
        origin = retry_origin(svc, peer);
        req.client_id = retry_client(svc, req.client_id, peer, origin);
    }
    if (retryable && req.major == WIRE_MAJOR && replay_cached(svc, &req, now_ms, out, res))
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
     * happened in between. If the put fails, the session marks still
     * refuse a resend rather than execute it again. */
    if (retryable && dispatched && out->len &&
        retry_cache_put(svc->retry, req.client_id, origin, req.id, rc, out->data, out->len,
                        now_ms) < 0)
        svc->stats.retries_not_kept++;
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
