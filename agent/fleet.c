/*
 * fleet.c — training sessions over many envd servers (see fleet.h).
 *
 * Each endpoint is LIVE (its sessions step every tick), DOWN (dropped;
 * probed with a hello on a backoff schedule) or FAILED (it can never serve
 * this run: another environment, spaces agentd cannot learn, a batch limit
 * below --sessions; never probed again). Requests made while joining
 * (make, reset_batch, the replay of a saved episode) are plain blocking
 * calls: the server has just answered a probe, and a join happens rarely.
 * The tick path (fleet_obs/send/collect) only moves bytes between
 * preallocated arrays.
 *
 * A place may also be VACANT: no server, no client, never probed, its
 * slots never live. --env-dns reserves places up front so that replicas
 * found later (fleet_set_endpoint) fit without resizing anything.
 */
#include "fleet.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "rng.h"

typedef enum { EP_DOWN, EP_LIVE, EP_FAILED, EP_VACANT } ep_state_t;

typedef struct endpoint {
    client_t *c;
    ep_state_t state;
    bool probing;         /* a hello is in flight */
    bool sent;            /* a step_batch of this tick is in flight */
    bool restore;         /* rebuild the saved sessions on the next join */
    bool has_ids;         /* ids[] hold sessions made on this server */
    bool added;           /* filled by fleet_set_endpoint, not joined yet */
    int backoff_ms;
    int64_t next_probe_ms;
    uint32_t gen;         /* joins so far; fresh seeds depend on it */
    uint64_t *ids;        /* (S) session ids */
} endpoint_t;

struct fleet {
    fleet_config_t cfg;
    char *env_id;
    void *zctx;           /* borrowed, for clients of places filled later */
    curve_client_keys_t curve; /* copied: places filled later connect with them */
    endpoint_t *eps;      /* (E) */
    size_t E, nslots;
    int S;
    int D, A;             /* observation size, actions; 0 until the first join */
    uint32_t max_steps;   /* episode step limit (spec), 0: none */
    size_t hist_len;      /* bytes of action history per slot (max_steps, or 0) */
    char failure[ERR_MSG_MAX]; /* why the last endpoint failed for good */

    /* Per slot, allocated at the first join (sizes need the spaces). */
    float *slot_obs;      /* (nslots, D) current observation */
    float *live_obs;      /* (nslots, D) live slots, compacted */
    int32_t *sent_act;    /* (nslots) action sent this tick */
    double *ep_ret;       /* (nslots) return of the current episode */
    fleet_slot_state_t *st; /* (nslots) */
    uint8_t *hist;        /* (nslots, hist_len) current episode's actions */

    /* The tick's output (see fleet_batch_t). */
    float *b_obs, *b_next, *b_rew; /* (nslots, D), (nslots, D), (nslots) */
    int32_t *b_act;       /* (nslots) */
    uint8_t *b_term, *b_trunc; /* (nslots) */
    double *b_ep_ret;     /* (nslots) */
    int32_t *b_ep_len;    /* (nslots) */

    /* Join scratch, (S) each. */
    uint64_t *j_ids, *j_seeds;
    int32_t *j_act;
    size_t *j_slot;

    /* Saved states to rebuild (fleet_set_restore). */
    fleet_slot_state_t *r_st; /* (nslots) */
    uint8_t *r_hist;          /* (nslots, r_hist_len) */
    uint32_t r_max_steps;
};


/* ------------------------------------------------------------ lifetime */

static int open_client(fleet_t *f, size_t k, const char *endpoint, errbuf_t *e);

int fleet_new(void *zctx, const fleet_config_t *cfg, fleet_t **out, errbuf_t *e)
{
    if (cfg->nendpoints < 1 || cfg->sessions < 1 || cfg->timeout_ms < 1 || !cfg->env_id)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "fleet: need at least one endpoint, one session and a timeout");
    fleet_t *f = calloc(1, sizeof *f);
    if (!f)
        return err_set(e, ERR_NOMEM, "out of memory");
    f->cfg = *cfg;
    f->cfg.endpoints = NULL; /* borrowed: each client keeps its own copy */
    f->cfg.curve = NULL;     /* copied below */
    f->zctx = zctx;
    if (cfg->curve)
        f->curve = *cfg->curve;
    f->E = cfg->nendpoints;
    f->S = cfg->sessions;
    f->nslots = f->E * (size_t)f->S;
    f->env_id = strdup(cfg->env_id);
    f->eps = calloc(f->E, sizeof *f->eps);
    f->j_ids = calloc((size_t)f->S, sizeof *f->j_ids);
    f->j_seeds = calloc((size_t)f->S, sizeof *f->j_seeds);
    f->j_act = calloc((size_t)f->S, sizeof *f->j_act);
    f->j_slot = calloc((size_t)f->S, sizeof *f->j_slot);
    int rc = 0;
    if (!f->env_id || !f->eps || !f->j_ids || !f->j_seeds || !f->j_act || !f->j_slot)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < f->E; k++) {
        endpoint_t *ep = &f->eps[k];
        ep->ids = calloc((size_t)f->S, sizeof *ep->ids);
        ep->state = cfg->endpoints[k] ? EP_DOWN : EP_VACANT;
        ep->backoff_ms = cfg->backoff_min_ms;
        if (!ep->ids)
            rc = err_set(e, ERR_NOMEM, "out of memory");
        else if (cfg->endpoints[k])
            rc = open_client(f, k, cfg->endpoints[k], e);
    }
    if (rc < 0) {
        fleet_destroy(&f);
        return rc;
    }
    *out = f;
    return 0;
}

static int open_client(fleet_t *f, size_t k, const char *endpoint, errbuf_t *e)
{
    endpoint_t *ep = &f->eps[k];
    int rc = client_new(f->zctx, endpoint, f->cfg.timeout_ms, &ep->c, e);
    if (rc == 0 && f->cfg.attempts > 0)
        client_set_attempts(ep->c, f->cfg.attempts);
    if (rc == 0 && f->curve.on)
        rc = client_set_curve(ep->c, f->curve.server_public, f->curve.public_key,
                              f->curve.secret_key, e);
    if (rc < 0)
        client_destroy(&ep->c);
    return rc;
}

static void close_sessions(fleet_t *f, endpoint_t *ep)
{
    if (!ep->has_ids)
        return;
    wire_request_t req = {.op = WIRE_OP_CLOSE};
    req.close.sessions = ep->ids;
    req.close.n = (size_t)f->S;
    wire_reply_t rep;
    errbuf_t ignored;
    client_call(ep->c, &req, &rep, &ignored); /* best effort: the TTL reclaims the rest */
    ep->has_ids = false;
}

void fleet_destroy(fleet_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fleet_t *f = *self_p;
    for (size_t k = 0; f->eps && k < f->E; k++) {
        endpoint_t *ep = &f->eps[k];
        if (ep->c && ep->state == EP_LIVE)
            close_sessions(f, ep);
        client_destroy(&ep->c);
        free(ep->ids);
    }
    free(f->eps);
    free(f->env_id);
    free(f->slot_obs);
    free(f->live_obs);
    free(f->sent_act);
    free(f->ep_ret);
    free(f->st);
    free(f->hist);
    free(f->b_obs);
    free(f->b_next);
    free(f->b_rew);
    free(f->b_act);
    free(f->b_term);
    free(f->b_trunc);
    free(f->b_ep_ret);
    free(f->b_ep_len);
    free(f->j_ids);
    free(f->j_seeds);
    free(f->j_act);
    free(f->j_slot);
    free(f->r_st);
    free(f->r_hist);
    memset(&f->curve, 0, sizeof f->curve);
    free(f);
    *self_p = NULL;
}

/* Sizes the per-slot arrays once the spaces are known. */
static int alloc_slots(fleet_t *f, errbuf_t *e)
{
    size_t n = f->nslots, D = (size_t)f->D;
    f->hist_len = (f->max_steps > 0 && f->A <= 256) ? f->max_steps : 0;
    f->slot_obs = calloc(n * D, sizeof(float));
    f->live_obs = calloc(n * D, sizeof(float));
    f->sent_act = calloc(n, sizeof(int32_t));
    f->ep_ret = calloc(n, sizeof(double));
    f->st = calloc(n, sizeof *f->st);
    f->hist = f->hist_len ? calloc(n, f->hist_len) : NULL;
    f->b_obs = calloc(n * D, sizeof(float));
    f->b_next = calloc(n * D, sizeof(float));
    f->b_rew = calloc(n, sizeof(float));
    f->b_act = calloc(n, sizeof(int32_t));
    f->b_term = calloc(n, 1);
    f->b_trunc = calloc(n, 1);
    f->b_ep_ret = calloc(n, sizeof(double));
    f->b_ep_len = calloc(n, sizeof(int32_t));
    if (!f->slot_obs || !f->live_obs || !f->sent_act || !f->ep_ret || !f->st ||
        (f->hist_len && !f->hist) || !f->b_obs || !f->b_next || !f->b_rew || !f->b_act ||
        !f->b_term || !f->b_trunc || !f->b_ep_ret || !f->b_ep_len)
        return err_set(e, ERR_NOMEM, "out of memory for %zu sessions", n);
    for (size_t i = 0; i < n; i++)
        f->st[i].resets = FLEET_NO_STATE;
    return 0;
}

/* ------------------------------------------------------------- joining */

/* Checks a make reply's spaces; the first join fixes them for the run.
 * Returns ERR_FAILED_PRECONDITION for spaces agentd cannot use. */
static int check_spaces(fleet_t *f, size_t k, const wire_reply_t *rep, errbuf_t *e)
{
    const wire_space_t *os = &rep->make.obs_space, *as = &rep->make.act_space;
    const char *ep = client_endpoint(f->eps[k].c);
    if (os->kind != WIRE_SPACE_BOX || os->ndim != 1 || os->shape[0] < 1 ||
        os->dtype != WIRE_DTYPE_FLOAT32)
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "%s: %s observations are not a 1-D float32 box", ep, f->env_id);
    if (as->kind != WIRE_SPACE_DISCRETE || as->n < 1 || as->n > 1 << 20 || as->start != 0)
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "%s: %s actions are not a discrete space starting at 0", ep, f->env_id);
    int D = (int)os->shape[0], A = (int)as->n;
    uint32_t T = rep->make.spec.max_episode_steps;
    if (f->D == 0) {
        f->D = D;
        f->A = A;
        f->max_steps = T;
        return alloc_slots(f, e);
    }
    if (D != f->D || A != f->A || T != f->max_steps)
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "%s: %s has %d observations, %d actions, %u steps; the run has %d, %d, %u",
                       ep, f->env_id, D, A, T, f->D, f->A, f->max_steps);
    return 0;
}

/* Checks an observation block of a reply: FLOAT32 (n, D). */
static int check_obs(const fleet_t *f, const wire_tensor_t *t, size_t n, const char *what,
                     errbuf_t *e)
{
    if (t->dtype != WIRE_DTYPE_FLOAT32 || t->ndim != 2 || t->shape[0] != n ||
        t->shape[1] != (uint32_t)f->D)
        return err_set(e, ERR_INTERNAL, "%s: observations are not float32 (%zu, %d)", what, n,
                       f->D);
    return 0;
}

/* reset_batch of the j_ids[0..n) sessions (slots j_slot), seeded from
 * j_seeds if seeded; writes their observations. */
static int reset_some(fleet_t *f, endpoint_t *ep, size_t n, bool seeded, errbuf_t *e)
{
    wire_request_t req = {.op = WIRE_OP_RESET_BATCH};
    req.reset_batch.sessions = f->j_ids;
    req.reset_batch.n = n;
    if (seeded) {
        req.reset_batch.seeds = f->j_seeds;
        req.reset_batch.nseeds = n;
    }
    wire_reply_t rep;
    int rc = client_call(ep->c, &req, &rep, e);
    if (rc == 0)
        rc = check_obs(f, &rep.reset_batch.obs, n, "reset_batch", e);
    if (rc < 0)
        return rc;
    const float *obs = rep.reset_batch.obs.data;
    for (size_t j = 0; j < n; j++)
        memcpy(f->slot_obs + f->j_slot[j] * f->D, obs + j * f->D, (size_t)f->D * sizeof(float));
    return 0;
}

/* Fresh sessions: seeds from (seed, salt, endpoint, join). */
static int start_fresh(fleet_t *f, size_t k, errbuf_t *e)
{
    endpoint_t *ep = &f->eps[k];
    uint64_t s = f->cfg.seed, salt = f->cfg.salt;
    uint32_t words[7] = {(uint32_t)s, (uint32_t)(s >> 32), (uint32_t)salt,
                         (uint32_t)(salt >> 32), (uint32_t)k, ep->gen, 0x736c6f74 /* "slot" */};
    rng_t rng;
    rng_seed_words(&rng, words, 7);
    for (int i = 0; i < f->S; i++) {
        f->j_ids[i] = ep->ids[i];
        f->j_slot[i] = k * f->S + i;
        f->j_seeds[i] = rng_next_u64(&rng);
    }
    int rc = reset_some(f, ep, (size_t)f->S, true, e);
    if (rc < 0)
        return rc;
    for (int i = 0; i < f->S; i++) {
        size_t slot = k * f->S + i;
        f->st[slot] = (fleet_slot_state_t){.seed = f->j_seeds[i], .resets = 0, .len = 0};
        f->ep_ret[slot] = 0.0;
    }
    return 0;
}

/* Rebuilds the saved sessions of endpoint k: seeded reset, the same number
 * of unseeded resets, then the saved actions of the current episode. */
static int rebuild(fleet_t *f, size_t k, errbuf_t *e)
{
    endpoint_t *ep = &f->eps[k];
    size_t base = k * f->S;
    uint32_t max_resets = 0, max_len = 0;
    for (int i = 0; i < f->S; i++) {
        const fleet_slot_state_t *s = &f->r_st[base + i];
        f->j_ids[i] = ep->ids[i];
        f->j_slot[i] = base + i;
        f->j_seeds[i] = s->seed;
        max_resets = s->resets > max_resets ? s->resets : max_resets;
        max_len = s->len > max_len ? s->len : max_len;
        f->ep_ret[base + i] = 0.0;
    }
    int rc = reset_some(f, ep, (size_t)f->S, true, e);
    for (uint32_t r = 1; rc == 0 && r <= max_resets; r++) {
        size_t n = 0;
        for (int i = 0; i < f->S; i++)
            if (f->r_st[base + i].resets >= r) {
                f->j_ids[n] = ep->ids[i];
                f->j_slot[n++] = base + i;
            }
        rc = reset_some(f, ep, n, false, e);
    }
    for (uint32_t t = 0; rc == 0 && t < max_len; t++) {
        size_t n = 0;
        for (int i = 0; i < f->S; i++)
            if (f->r_st[base + i].len > t) {
                f->j_ids[n] = ep->ids[i];
                f->j_act[n] = f->r_hist[(base + i) * f->r_max_steps + t];
                f->j_slot[n++] = base + i;
            }
        wire_request_t req = {.op = WIRE_OP_STEP_BATCH};
        req.step_batch.sessions = f->j_ids;
        req.step_batch.n = n;
        req.step_batch.actions = (wire_tensor_t){.dtype = WIRE_DTYPE_INT32, .ndim = 1,
                                                 .shape = {(uint32_t)n}, .data = f->j_act,
                                                 .len = n * sizeof(int32_t)};
        req.step_batch.autoreset = WIRE_AUTORESET_DISABLED;
        wire_reply_t rep;
        rc = client_call(ep->c, &req, &rep, e);
        if (rc == 0)
            rc = check_obs(f, &rep.step_batch.obs, n, "step_batch", e);
        for (size_t j = 0; rc == 0 && j < n; j++) {
            if (rep.step_batch.terminated[j] || rep.step_batch.truncated[j]) {
                rc = err_set(e, ERR_CORRUPT,
                             "replaying the saved episode of session %zu ended it at step %u",
                             f->j_slot[j], t + 1);
                break;
            }
            size_t slot = f->j_slot[j];
            f->ep_ret[slot] += rep.step_batch.rewards[j];
            memcpy(f->slot_obs + slot * f->D, (const float *)rep.step_batch.obs.data + j * f->D,
                   (size_t)f->D * sizeof(float));
        }
    }
    if (rc < 0)
        return rc;
    for (int i = 0; i < f->S; i++) {
        size_t slot = base + i;
        f->st[slot] = f->r_st[slot];
        if (f->hist)
            memcpy(f->hist + slot * f->hist_len, f->r_hist + slot * f->r_max_steps,
                   f->r_st[slot].len);
    }
    return 0;
}

/* Whether endpoint k's saved sessions can be rebuilt. */
static bool can_rebuild(const fleet_t *f, size_t k)
{
    if (!f->eps[k].restore || !f->r_st || !f->hist || f->r_max_steps != f->max_steps)
        return false;
    for (int i = 0; i < f->S; i++) {
        const fleet_slot_state_t *s = &f->r_st[k * f->S + i];
        if (s->resets == FLEET_NO_STATE || s->len >= f->max_steps)
            return false;
    }
    return true;
}

/* Makes and resets endpoint k's sessions. ERR_FAILED_PRECONDITION means it
 * can never serve this run. */
static int join(fleet_t *f, size_t k, errbuf_t *e)
{
    endpoint_t *ep = &f->eps[k];
    close_sessions(f, ep); /* a server that only stalled still holds them */
    wire_request_t req = {.op = WIRE_OP_MAKE};
    req.make.env_id = f->env_id;
    req.make.count = (uint32_t)f->S;
    wire_reply_t rep;
    int rc = client_call(ep->c, &req, &rep, e);
    if (rc == ERR_NOT_FOUND || rc == ERR_INVALID_ARGUMENT)
        rc = err_set(e, ERR_FAILED_PRECONDITION, "%s: make %s: %s", client_endpoint(ep->c),
                     f->env_id, e->msg);
    if (rc < 0)
        return rc;
    if (rep.make.n != (size_t)f->S)
        return err_set(e, ERR_INTERNAL, "%s: make returned %zu sessions for %d",
                       client_endpoint(ep->c), rep.make.n, f->S);
    if ((rc = check_spaces(f, k, &rep, e)) < 0)
        return rc;
    memcpy(ep->ids, rep.make.sessions, (size_t)f->S * sizeof(uint64_t));
    ep->has_ids = true;
    if (can_rebuild(f, k)) {
        rc = rebuild(f, k, e);
        if (rc == 0)
            log_info("%s: rebuilt %d sessions from the checkpoint", client_endpoint(ep->c), f->S);
        else if (rc == ERR_CORRUPT)
            log_warn("%s: %s; starting its sessions afresh", client_endpoint(ep->c), e->msg);
        if (rc != ERR_CORRUPT) {
            ep->restore = false;
            ep->gen++;
            return rc;
        }
    }
    ep->restore = false;
    rc = start_fresh(f, k, e);
    ep->gen++;
    return rc;
}

/* ------------------------------------------------------------ failure */

static void schedule_probe(fleet_t *f, endpoint_t *ep, bool now)
{
    ep->probing = false;
    ep->next_probe_ms = (int64_t)clock_ms() + (now ? 0 : ep->backoff_ms);
    if (!now) {
        ep->backoff_ms *= 2;
        if (ep->backoff_ms > f->cfg.backoff_max_ms)
            ep->backoff_ms = f->cfg.backoff_max_ms;
    }
}

static void mark_down(fleet_t *f, size_t k)
{
    endpoint_t *ep = &f->eps[k];
    ep->state = EP_DOWN;
    ep->sent = false;
    ep->backoff_ms = f->cfg.backoff_min_ms;
    for (int i = 0; f->st && i < f->S; i++)
        f->st[k * f->S + i].resets = FLEET_NO_STATE;
    client_reset(ep->c); /* nothing late from this server may be read as a reply */
}

void fleet_drop(fleet_t *f, size_t k, const char *why)
{
    endpoint_t *ep = &f->eps[k];
    if (ep->state != EP_LIVE)
        return;
    mark_down(f, k);
    schedule_probe(f, ep, false);
    log_warn("dropped %s: %s; training goes on with %zu of %zu endpoints, retrying in %d ms",
             client_endpoint(ep->c), why, fleet_live(f), fleet_occupied(f),
             f->cfg.backoff_min_ms);
}

static void fail_for_good(fleet_t *f, size_t k, const char *why)
{
    endpoint_t *ep = &f->eps[k];
    ep->state = EP_FAILED;
    ep->probing = false;
    snprintf(f->failure, sizeof f->failure, "%s", why);
    log_error("%s cannot serve this run: %s", client_endpoint(ep->c), why);
}

/* After a hello reply: check the limits and join. */
static void on_hello(fleet_t *f, size_t k, const wire_reply_t *hello, bool first)
{
    endpoint_t *ep = &f->eps[k];
    const char *name = client_endpoint(ep->c);
    if (hello->code != ERR_OK || hello->op != WIRE_OP_HELLO) {
        log_debug("%s: hello: %s", name, hello->code ? hello->message : "unexpected reply");
        schedule_probe(f, ep, false);
        return;
    }
    char why[ERR_MSG_MAX];
    bool offers = false;
    for (size_t i = 0; i < hello->hello.n_env_ids; i++)
        offers |= strcmp(hello->hello.env_ids[i], f->env_id) == 0;
    if (!offers) {
        snprintf(why, sizeof why, "it does not offer %s", f->env_id);
        fail_for_good(f, k, why);
        return;
    }
    if (hello->hello.max_batch < (uint32_t)f->S) {
        snprintf(why, sizeof why, "it takes at most %u sessions per batch, --sessions is %d",
                 hello->hello.max_batch, f->S);
        fail_for_good(f, k, why);
        return;
    }
    errbuf_t e;
    err_clear(&e);
    int rc = join(f, k, &e);
    if (rc == ERR_FAILED_PRECONDITION) {
        fail_for_good(f, k, e.msg);
    } else if (rc < 0) {
        if (ep->has_ids)
            client_reset(ep->c);
        log_warn("%s: joining failed: %s; retrying in %d ms", name, e.msg, ep->backoff_ms);
        schedule_probe(f, ep, false);
    } else {
        bool added = ep->added;
        ep->state = EP_LIVE;
        ep->probing = false;
        ep->added = false;
        ep->backoff_ms = f->cfg.backoff_min_ms;
        if (first)
            log_info("%s: %d sessions of %s", name, f->S, f->env_id);
        else if (added)
            log_info("%s joined: %d sessions made (%zu of %zu endpoints live)", name, f->S,
                     fleet_live(f), fleet_occupied(f));
        else
            log_info("%s answers again: %d sessions made, rejoined (%zu of %zu endpoints live)",
                     name, f->S, fleet_live(f), fleet_occupied(f));
    }
}

static void send_hello(fleet_t *f, endpoint_t *ep)
{
    wire_request_t req = {.op = WIRE_OP_HELLO};
    req.hello.client = "agentd";
    errbuf_t e;
    if (client_send(ep->c, &req, &e) == 0)
        ep->probing = true;
    else
        schedule_probe(f, ep, false);
}

int fleet_start(fleet_t *f, errbuf_t *e)
{
    for (size_t k = 0; k < f->E; k++)
        if (f->eps[k].state == EP_DOWN)
            send_hello(f, &f->eps[k]);
    for (size_t k = 0; k < f->E; k++) {
        endpoint_t *ep = &f->eps[k];
        if (!ep->probing)
            continue;
        wire_reply_t rep;
        errbuf_t re;
        if (client_recv(ep->c, &rep, &re) == 0) {
            on_hello(f, k, &rep, true);
        } else {
            log_warn("%s: %s; will retry", client_endpoint(ep->c), re.msg);
            schedule_probe(f, ep, false);
        }
    }
    size_t usable = 0;
    for (size_t k = 0; k < f->E; k++)
        usable += f->eps[k].state == EP_DOWN || f->eps[k].state == EP_LIVE;
    if (usable == 0)
        return err_set(e, ERR_FAILED_PRECONDITION, "no endpoint can serve this run: %s",
                       f->failure[0] ? f->failure : "every place is vacant");
    return 0;
}

void fleet_poll(fleet_t *f)
{
    int64_t now = (int64_t)clock_ms();
    for (size_t k = 0; k < f->E; k++) {
        endpoint_t *ep = &f->eps[k];
        if (ep->state != EP_DOWN)
            continue;
        if (ep->probing) {
            wire_reply_t rep;
            errbuf_t e;
            int rc = client_try_recv(ep->c, &rep, &e);
            if (rc == 1) {
                ep->probing = false;
                on_hello(f, k, &rep, false);
            } else if (rc < 0) {
                log_debug("%s: probe: %s", client_endpoint(ep->c), e.msg);
                schedule_probe(f, ep, false);
            }
        } else if (now >= ep->next_probe_ms) {
            send_hello(f, ep);
        }
    }
}

/* ---------------------------------------------------------------- tick */

size_t fleet_live(const fleet_t *f)
{
    size_t n = 0;
    for (size_t k = 0; k < f->E; k++)
        n += f->eps[k].state == EP_LIVE;
    return n;
}

size_t fleet_occupied(const fleet_t *f)
{
    size_t n = 0;
    for (size_t k = 0; k < f->E; k++)
        n += f->eps[k].state != EP_VACANT;
    return n;
}

size_t fleet_usable(const fleet_t *f)
{
    size_t n = 0;
    for (size_t k = 0; k < f->E; k++)
        n += f->eps[k].state != EP_FAILED;
    return n;
}

int fleet_obs_dim(const fleet_t *f) { return f->D; }
int fleet_num_actions(const fleet_t *f) { return f->A; }
uint32_t fleet_max_episode_steps(const fleet_t *f) { return f->max_steps; }

const float *fleet_obs(fleet_t *f, size_t *n)
{
    size_t live = fleet_live(f), row = (size_t)f->S * f->D;
    *n = live * (size_t)f->S;
    if (live == f->E)
        return f->slot_obs;
    size_t m = 0;
    for (size_t k = 0; k < f->E; k++)
        if (f->eps[k].state == EP_LIVE)
            memcpy(f->live_obs + (m++) * row, f->slot_obs + k * row, row * sizeof(float));
    return f->live_obs;
}

void fleet_send(fleet_t *f, const int32_t *act)
{
    size_t m = 0;
    for (size_t k = 0; k < f->E; k++) {
        endpoint_t *ep = &f->eps[k];
        if (ep->state != EP_LIVE)
            continue;
        int32_t *a = f->sent_act + k * f->S;
        memcpy(a, act + m, (size_t)f->S * sizeof(int32_t));
        m += (size_t)f->S;
        wire_request_t req = {.op = WIRE_OP_STEP_BATCH};
        req.step_batch.sessions = ep->ids;
        req.step_batch.n = (size_t)f->S;
        req.step_batch.actions = (wire_tensor_t){.dtype = WIRE_DTYPE_INT32, .ndim = 1,
                                                 .shape = {(uint32_t)f->S}, .data = a,
                                                 .len = (size_t)f->S * sizeof(int32_t)};
        req.step_batch.autoreset = WIRE_AUTORESET_SAME_STEP;
        errbuf_t e;
        if (client_send(ep->c, &req, &e) == 0)
            ep->sent = true;
        else
            fleet_drop(f, k, e.msg);
    }
}

/* Checks a step_batch reply of endpoint k's S sessions. */
static int check_step(const fleet_t *f, const wire_reply_t *rep, errbuf_t *e)
{
    if (rep->code != ERR_OK)
        return err_set(e, rep->code, "step_batch: %s", rep->message);
    if (rep->op != WIRE_OP_STEP_BATCH || rep->step_batch.n != (size_t)f->S)
        return err_set(e, ERR_INTERNAL, "step_batch: a reply of the wrong kind or size");
    int rc = check_obs(f, &rep->step_batch.obs, (size_t)f->S, "step_batch", e);
    if (rc == 0 && rep->step_batch.has_final_obs)
        rc = check_obs(f, &rep->step_batch.final_obs, (size_t)f->S, "final_observations", e);
    for (int i = 0; rc == 0 && i < f->S; i++) {
        bool done = rep->step_batch.terminated[i] || rep->step_batch.truncated[i];
        if (done != (rep->step_batch.autoreset && rep->step_batch.autoreset[i]) ||
            (done && !rep->step_batch.has_final_obs))
            rc = err_set(e, ERR_INTERNAL, "step_batch: session %d ended without an autoreset", i);
    }
    return rc;
}

void fleet_collect(fleet_t *f, fleet_batch_t *out)
{
    size_t m = 0, ne = 0, D = (size_t)f->D;
    out->dropped = 0;
    for (size_t k = 0; k < f->E; k++) {
        endpoint_t *ep = &f->eps[k];
        if (!ep->sent)
            continue;
        ep->sent = false;
        wire_reply_t rep;
        errbuf_t e;
        int rc = client_recv(ep->c, &rep, &e);
        if (rc == 0)
            rc = check_step(f, &rep, &e);
        if (rc < 0) {
            fleet_drop(f, k, e.msg);
            out->dropped++;
            continue;
        }
        const float *obs = rep.step_batch.obs.data;
        const float *fin = rep.step_batch.has_final_obs ? rep.step_batch.final_obs.data : NULL;
        for (int i = 0; i < f->S; i++, m++) {
            size_t slot = k * f->S + i;
            float *cur = f->slot_obs + slot * D;
            const float *o = obs + (size_t)i * D;
            uint8_t term = rep.step_batch.terminated[i], trunc = rep.step_batch.truncated[i];
            double r = rep.step_batch.rewards[i];
            memcpy(f->b_obs + m * D, cur, D * sizeof(float));
            memcpy(f->b_next + m * D, term || trunc ? fin + (size_t)i * D : o, D * sizeof(float));
            f->b_act[m] = f->sent_act[slot];
            f->b_rew[m] = (float)r;
            f->b_term[m] = term;
            f->b_trunc[m] = trunc;
            memcpy(cur, o, D * sizeof(float));

            fleet_slot_state_t *s = &f->st[slot];
            if (f->hist && s->len < f->hist_len)
                f->hist[slot * f->hist_len + s->len] = (uint8_t)f->sent_act[slot];
            s->len++;
            f->ep_ret[slot] += r;
            if (term || trunc) {
                f->b_ep_ret[ne] = f->ep_ret[slot];
                f->b_ep_len[ne++] = (int32_t)s->len;
                f->ep_ret[slot] = 0.0;
                s->len = 0;
                s->resets++;
            }
        }
    }
    *out = (fleet_batch_t){.n = m, .obs = f->b_obs, .act = f->b_act, .rew = f->b_rew,
                           .next = f->b_next, .term = f->b_term, .trunc = f->b_trunc,
                           .nepisodes = ne, .ep_return = f->b_ep_ret, .ep_length = f->b_ep_len,
                           .dropped = out->dropped};
}

/* ------------------------------------------------------ per endpoint */

size_t fleet_nendpoints(const fleet_t *f) { return f->E; }
const char *fleet_endpoint(const fleet_t *f, size_t k)
{
    return f->eps[k].c ? client_endpoint(f->eps[k].c) : NULL;
}
int fleet_is_live(const fleet_t *f, size_t k) { return f->eps[k].state == EP_LIVE; }
client_t *fleet_client(fleet_t *f, size_t k) { return f->eps[k].c; }

int fleet_set_endpoint(fleet_t *f, size_t k, const char *endpoint, errbuf_t *e)
{
    if (k >= f->E)
        return err_set(e, ERR_INVALID_ARGUMENT, "fleet: place %zu of %zu", k, f->E);
    endpoint_t *ep = &f->eps[k];
    assert(!ep->sent); /* between ticks only */
    if (!endpoint) {
        if (ep->state == EP_VACANT)
            return 0;
        char name[256];
        snprintf(name, sizeof name, "%s", client_endpoint(ep->c));
        if (ep->state == EP_LIVE) {
            /* It answered a moment ago; one try, so a server that is
             * already gone costs at most one timeout. A server dropped
             * earlier is not asked: envd reaps sessions it no longer hears of. */
            client_set_attempts(ep->c, 1);
            close_sessions(f, ep);
        }
        mark_down(f, k);
        client_destroy(&ep->c);
        ep->state = EP_VACANT;
        ep->probing = ep->has_ids = ep->added = ep->restore = false;
        log_info("replica %s vanished: its %d sessions leave the rotation (%zu of %zu "
                 "endpoints live)",
                 name, f->S, fleet_live(f), fleet_occupied(f));
        return 0;
    }
    if (ep->state != EP_VACANT)
        return err_set(e, ERR_FAILED_PRECONDITION, "fleet: place %zu holds %s", k,
                       client_endpoint(ep->c));
    int rc = open_client(f, k, endpoint, e);
    if (rc < 0)
        return rc;
    ep->state = EP_DOWN;
    ep->added = true;
    ep->has_ids = false;
    ep->backoff_ms = f->cfg.backoff_min_ms;
    schedule_probe(f, ep, true);
    log_info("replica %s added: probing it", endpoint);
    return 0;
}

/* ------------------------------------------------------ checkpoints */

size_t fleet_nslots(const fleet_t *f) { return f->nslots; }
const fleet_slot_state_t *fleet_slot_states(const fleet_t *f) { return f->st; }
const uint8_t *fleet_slot_actions(const fleet_t *f) { return f->hist; }

int fleet_set_restore(fleet_t *f, const fleet_slot_state_t *states, const uint8_t *actions,
                      uint32_t max_steps, errbuf_t *e)
{
    free(f->r_st);
    free(f->r_hist);
    f->r_st = malloc(f->nslots * sizeof *f->r_st);
    f->r_hist = malloc(f->nslots * (size_t)max_steps + 1);
    if (!f->r_st || !f->r_hist)
        return err_set(e, ERR_NOMEM, "out of memory");
    memcpy(f->r_st, states, f->nslots * sizeof *f->r_st);
    if (actions)
        memcpy(f->r_hist, actions, f->nslots * (size_t)max_steps);
    f->r_max_steps = max_steps;
    for (size_t k = 0; k < f->E; k++)
        f->eps[k].restore = actions != NULL;
    return 0;
}
