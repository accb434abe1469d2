/*
 * fleet_endpoint.c — each server's state machine (see fleet.h, Failure and
 * Places): the first hello and join, a drop when a reply does not come,
 * probes with exponential backoff while it is down, the rejoin when it
 * answers, a failure for good when it can never serve the run, and places
 * filled and emptied as --env-dns follows its replicas.
 *
 * Requests made while joining (make, reset_batch, the replay of a saved
 * episode) are plain blocking calls: the server has just answered a probe,
 * and a join happens rarely. Probes never block: the hello is sent, and
 * fleet_poll() checks for its answer once per tick.
 */
#include "fleet_int.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rng.h"

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
    if (as->kind == WIRE_SPACE_BOX)
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "%s: %s has a continuous (Box) action space; DQN needs discrete actions",
                       ep, f->env_id);
    if (as->kind != WIRE_SPACE_DISCRETE || as->n < 1 || as->n > 1 << 20 || as->start != 0)
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "%s: %s actions are not a discrete space starting at 0", ep, f->env_id);
    int D = (int)os->shape[0], A = (int)as->n;
    uint32_t T = rep->make.spec.max_episode_steps;
    if (f->D == 0) {
        f->D = D;
        f->A = A;
        f->max_steps = T;
        return fleet__alloc_slots(f, e);
    }
    if (D != f->D || A != f->A || T != f->max_steps)
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "%s: %s has %d observations, %d actions, %u steps; the run has %d, %d, %u",
                       ep, f->env_id, D, A, T, f->D, f->A, f->max_steps);
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
    int rc = fleet__reset_some(f, ep, (size_t)f->S, true, e);
    if (rc < 0)
        return rc;
    for (int i = 0; i < f->S; i++) {
        size_t slot = k * f->S + i;
        f->st[slot] = (fleet_slot_state_t){.seed = f->j_seeds[i], .resets = 0, .len = 0};
        f->ep_ret[slot] = 0.0;
    }
    return 0;
}

/* Makes and resets endpoint k's sessions. ERR_FAILED_PRECONDITION means it
 * can never serve this run. */
static int join(fleet_t *f, size_t k, errbuf_t *e)
{
    endpoint_t *ep = &f->eps[k];
    fleet__close_sessions(f, ep); /* a server that only stalled still holds them */
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
    if (fleet__can_rebuild(f, k)) {
        rc = fleet__rebuild(f, k, e);
        if (rc == 0)
            log_info("%s: rebuilt %d sessions from the checkpoint", client_endpoint(ep->c), f->S);
        if (rc == 0)
            fleet__resend_saved(f, k);
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
    ep->backoff_ms = f->cfg.backoff_min_ms;
    for (int i = 0; f->st && i < f->S; i++)
        f->st[k * f->S + i].resets = FLEET_NO_STATE;
    /* Nothing late from this server may be read as a reply. */
    client_reset(ep->c);
    for (int g = 0; g < f->G; g++) {
        unit_t *u = &ep->u[g];
        if (u->sent)
            client_reset(u->c);
        u->sent = u->selected = false;
        u->nguests = 0;
    }
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
    if (hello->hello.max_batch < (uint32_t)f->cfg.eval_sessions) {
        snprintf(why, sizeof why,
                 "it takes at most %u sessions per batch, --eval-episodes is %d",
                 hello->hello.max_batch, f->cfg.eval_sessions);
        fail_for_good(f, k, why);
        return;
    }
    ep->max_batch = hello->hello.max_batch;
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
            log_warn("%s; will retry", re.msg); /* the message names the endpoint */
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

/* --------------------------------------------------------------- places */

int fleet_set_endpoint(fleet_t *f, size_t k, const char *endpoint, errbuf_t *e)
{
    if (k >= f->E)
        return err_set(e, ERR_INVALID_ARGUMENT, "fleet: place %zu of %zu", k, f->E);
    endpoint_t *ep = &f->eps[k];
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
            fleet__close_sessions(f, ep);
        }
        mark_down(f, k);
        fleet__close_clients(ep, f->G);
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
    int rc = fleet__open_client(f, k, endpoint, e);
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
