/*
 * fleet.c — the fleet object (see fleet.h): its lifetime, its accessors,
 * and the requests its parts share (connecting a place, closing and
 * resetting sessions, checking observation blocks).
 *
 * Each endpoint is LIVE (its sessions step every tick), DOWN (dropped;
 * probed with a hello on a backoff schedule), FAILED (it can never serve
 * this run) or VACANT (no server, no client, never probed, its slots never
 * live; --env-dns reserves places up front so that replicas found later
 * fit without resizing anything). fleet_endpoint.c moves endpoints between
 * these states, fleet_resume.c rebuilds saved sessions when one joins,
 * fleet_tick.c steps the live ones. Per-slot arrays are sized at the first
 * join, once the spaces are known, and never again.
 */
#include "fleet_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ lifetime */

int fleet_new(void *zctx, const fleet_config_t *cfg, fleet_t **out, errbuf_t *e)
{
    int G = cfg->groups > 0 ? cfg->groups : 1;
    if (cfg->nendpoints < 1 || cfg->sessions < 1 || cfg->timeout_ms < 1 || !cfg->env_id ||
        G > cfg->sessions || cfg->guests < 0)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "fleet: need at least one endpoint, one session per group and a timeout");
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
    f->G = G;
    f->nslots = f->E * (size_t)f->S;
    f->env_id = strdup(cfg->env_id);
    f->eps = calloc(f->E, sizeof *f->eps);
    f->j_ids = calloc((size_t)f->S, sizeof *f->j_ids);
    f->j_seeds = calloc((size_t)f->S, sizeof *f->j_seeds);
    f->j_act = calloc((size_t)f->S, sizeof *f->j_act);
    f->j_slot = calloc((size_t)f->S, sizeof *f->j_slot);
    size_t ng = (size_t)cfg->guests;
    f->g_ids = calloc(ng + 1, sizeof *f->g_ids);
    f->g_tag = calloc(ng + 1, sizeof *f->g_tag);
    f->g_rew = calloc(ng + 1, sizeof *f->g_rew);
    f->g_term = calloc(ng + 1, 1);
    f->g_trunc = calloc(ng + 1, 1);
    f->inflight = calloc(f->nslots, 1);
    f->poll = calloc(f->E * (size_t)G, sizeof(zmq_pollitem_t));
    int rc = 0;
    if (!f->env_id || !f->eps || !f->j_ids || !f->j_seeds || !f->j_act || !f->j_slot ||
        !f->g_ids || !f->g_tag || !f->g_rew || !f->g_term || !f->g_trunc || !f->inflight || !f->poll)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < f->E; k++) {
        endpoint_t *ep = &f->eps[k];
        ep->ids = calloc((size_t)f->S, sizeof *ep->ids);
        ep->u = calloc((size_t)G, sizeof *ep->u);
        ep->state = cfg->endpoints[k] ? EP_DOWN : EP_VACANT;
        ep->backoff_ms = cfg->backoff_min_ms;
        ep->srtt_ms = -1.0;
        for (int g = 0; ep->u && g < G; g++) {
            unit_t *u = &ep->u[g];
            u->lo = g * f->S / G;
            u->hi = (g + 1) * f->S / G;
            u->rq_ids = calloc((size_t)(u->hi - u->lo) + ng, sizeof *u->rq_ids);
            u->rq_act = calloc((size_t)(u->hi - u->lo) + ng, sizeof *u->rq_act);
            u->rq_tag = calloc(ng + 1, sizeof *u->rq_tag);
            if (!u->rq_ids || !u->rq_act || !u->rq_tag)
                rc = err_set(e, ERR_NOMEM, "out of memory");
        }
        if (rc < 0 || !ep->ids || !ep->u)
            rc = err_set(e, ERR_NOMEM, "out of memory");
        else if (cfg->endpoints[k])
            rc = fleet__open_client(f, k, cfg->endpoints[k], e);
    }
    if (rc < 0) {
        fleet_destroy(&f);
        return rc;
    }
    *out = f;
    return 0;
}

static int open_one(fleet_t *f, const char *endpoint, client_t **c, errbuf_t *e)
{
    int rc = client_new(f->zctx, endpoint, f->cfg.timeout_ms, c, e);
    if (rc == 0 && f->cfg.attempts > 0)
        client_set_attempts(*c, f->cfg.attempts);
    if (rc == 0 && f->curve.on)
        rc = client_set_curve(*c, f->curve.server_public, f->curve.public_key,
                              f->curve.secret_key, e);
    if (rc < 0)
        client_destroy(c);
    return rc;
}

/* The control connection and one per unit. */
int fleet__open_client(fleet_t *f, size_t k, const char *endpoint, errbuf_t *e)
{
    endpoint_t *ep = &f->eps[k];
    int rc = open_one(f, endpoint, &ep->c, e);
    for (int g = 0; rc == 0 && g < f->G; g++)
        rc = open_one(f, endpoint, &ep->u[g].c, e);
    if (rc < 0)
        fleet__close_clients(ep, f->G);
    ep->srtt_ms = -1.0;
    return rc;
}

void fleet__close_clients(endpoint_t *ep, int G)
{
    client_destroy(&ep->c);
    for (int g = 0; ep->u && g < G; g++) {
        client_destroy(&ep->u[g].c);
        ep->u[g].sent = ep->u[g].selected = false;
        ep->u[g].nguests = 0;
    }
}

void fleet__close_sessions(fleet_t *f, endpoint_t *ep)
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
            fleet__close_sessions(f, ep);
        fleet__close_clients(ep, f->G);
        for (int g = 0; ep->u && g < f->G; g++) {
            free(ep->u[g].rq_ids);
            free(ep->u[g].rq_act);
            free(ep->u[g].rq_tag);
        }
        free(ep->u);
        free(ep->ids);
    }
    free(f->eps);
    free(f->env_id);
    free(f->slot_obs);
    free(f->live_obs);
    free(f->obs_slot);
    free(f->b_slot);
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
    free(f->g_ids);
    free(f->g_tag);
    free(f->g_obs);
    free(f->g_rew);
    free(f->g_term);
    free(f->g_trunc);
    free(f->inflight);
    free(f->poll);
    free(f->r_st);
    free(f->r_hist);
    free(f->r_inflight);
    free(f->r_act);
    memset(&f->curve, 0, sizeof f->curve);
    free(f);
    *self_p = NULL;
}

/* Sizes the per-slot arrays once the spaces are known. */
int fleet__alloc_slots(fleet_t *f, errbuf_t *e)
{
    size_t n = f->nslots, D = (size_t)f->D;
    f->hist_len = (f->max_steps > 0 && f->A <= 256) ? f->max_steps : 0;
    f->slot_obs = calloc(n * D, sizeof(float));
    f->live_obs = calloc(n * D, sizeof(float));
    f->obs_slot = calloc(n, sizeof(uint32_t));
    f->b_slot = calloc(n, sizeof(uint32_t));
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
    f->g_obs = calloc(((size_t)f->cfg.guests + 1) * D, sizeof(float));
    if (!f->g_obs ||!f->slot_obs || !f->live_obs || !f->sent_act || !f->ep_ret || !f->st ||
        (f->hist_len && !f->hist) || !f->b_obs || !f->b_next || !f->b_rew || !f->b_act ||
        !f->b_term || !f->b_trunc || !f->b_ep_ret || !f->b_ep_len)
        return err_set(e, ERR_NOMEM, "out of memory for %zu sessions", n);
    for (size_t i = 0; i < n; i++)
        f->st[i].resets = FLEET_NO_STATE;
    return 0;
}

/* ------------------------------------------------------------ requests */

/* Checks an observation block of a reply: FLOAT32 (n, D). */
int fleet__check_obs(const fleet_t *f, const wire_tensor_t *t, size_t n, const char *what,
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
int fleet__reset_some(fleet_t *f, endpoint_t *ep, size_t n, bool seeded, errbuf_t *e)
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
        rc = fleet__check_obs(f, &rep.reset_batch.obs, n, "reset_batch", e);
    if (rc < 0)
        return rc;
    const float *obs = rep.reset_batch.obs.data;
    for (size_t j = 0; j < n; j++)
        memcpy(f->slot_obs + f->j_slot[j] * f->D, obs + j * f->D, (size_t)f->D * sizeof(float));
    return 0;
}

/* ----------------------------------------------------------- accessors */

/* Places in state s (is) or in any other state (!is). */
static size_t count(const fleet_t *f, ep_state_t s, bool is)
{
    size_t n = 0;
    for (size_t k = 0; k < f->E; k++)
        n += (f->eps[k].state == s) == is;
    return n;
}

size_t fleet_live(const fleet_t *f) { return count(f, EP_LIVE, true); }
size_t fleet_occupied(const fleet_t *f) { return count(f, EP_VACANT, false); }
size_t fleet_usable(const fleet_t *f) { return count(f, EP_FAILED, false); }

int fleet_obs_dim(const fleet_t *f) { return f->D; }
int fleet_num_actions(const fleet_t *f) { return f->A; }
uint32_t fleet_max_episode_steps(const fleet_t *f) { return f->max_steps; }

size_t fleet_nendpoints(const fleet_t *f) { return f->E; }
const char *fleet_endpoint(const fleet_t *f, size_t k)
{
    return f->eps[k].c ? client_endpoint(f->eps[k].c) : NULL;
}
int fleet_is_live(const fleet_t *f, size_t k) { return f->eps[k].state == EP_LIVE; }
int fleet_groups(const fleet_t *f) { return f->G; }
client_t *fleet_client(fleet_t *f, size_t k) { return f->eps[k].c; }
size_t fleet_nslots(const fleet_t *f) { return f->nslots; }
