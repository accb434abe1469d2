/*
 * fleet_tick.c — one round over the live endpoints' units (see fleet.h):
 * the observations of the units chosen, one step_batch to each, all sent
 * before any reply is awaited, then the replies read — one group in
 * endpoint order (lock-step), or whichever have come (asynchronous) — and
 * turned into the round's transitions, finished episodes and guest rows.
 * Each reply's round trip feeds its endpoint's retransmission timeout.
 *
 * Only bytes move between preallocated arrays here: nothing allocates. A
 * reply that is late, wrong or an error drops its endpoint
 * (fleet_endpoint.c) and the round goes on with the others.
 */
#include "fleet_int.h"

#include <math.h>
#include <string.h>
#include <zmq.h>

/* ------------------------------------------------------------- choosing */

const float *fleet_obs(fleet_t *f, int group, size_t *n)
{
    size_t m = 0, D = (size_t)f->D;
    /* One group and every endpoint live: slot_obs is the answer as it is. */
    bool direct = f->G == 1 && fleet_live(f) == f->E;
    for (size_t k = 0; k < f->E; k++) {
        endpoint_t *ep = &f->eps[k];
        for (int g = 0; g < f->G; g++) {
            unit_t *u = &ep->u[g];
            u->selected = ep->state == EP_LIVE && !u->sent && (group == FLEET_ANY || g == group);
            u->nguests = u->sent ? u->nguests : 0;
            if (!u->selected)
                continue;
            size_t rows = (size_t)(u->hi - u->lo);
            if (!direct)
                memcpy(f->live_obs + m * D, f->slot_obs + (k * f->S + u->lo) * D,
                       rows * D * sizeof(float));
            for (size_t i = 0; i < rows; i++)
                f->obs_slot[m + i] = (uint32_t)(k * f->S + (size_t)u->lo + i);
            m += rows;
        }
    }
    *n = m;
    return direct ? f->slot_obs : f->live_obs;
}

const uint32_t *fleet_obs_slots(const fleet_t *f) { return f->obs_slot; }

int fleet_chosen(const fleet_t *f, size_t k, int g)
{
    return k < f->E && g >= 0 && g < f->G && f->eps[k].u[g].selected;
}

size_t fleet_guest_room(const fleet_t *f, size_t k, int g)
{
    if (!fleet_chosen(f, k, g))
        return 0;
    const endpoint_t *ep = &f->eps[k];
    const unit_t *u = &ep->u[g];
    size_t used = (size_t)(u->hi - u->lo) + u->nguests, room = (size_t)f->cfg.guests - u->nguests;
    size_t batch = ep->max_batch > used ? ep->max_batch - used : 0;
    return batch < room ? batch : room;
}

int fleet_add_guests(fleet_t *f, size_t k, int g, const uint64_t *ids, const int32_t *act,
                     size_t n, int tag, errbuf_t *e)
{
    if (!fleet_chosen(f, k, g))
        return err_set(e, ERR_INVALID_ARGUMENT, "fleet: unit (%zu, %d) is not chosen", k, g);
    unit_t *u = &f->eps[k].u[g];
    if (n > fleet_guest_room(f, k, g))
        return err_set(e, ERR_INVALID_ARGUMENT, "fleet: %zu more guests for unit (%zu, %d), room "
                       "for %zu", n, k, g, fleet_guest_room(f, k, g));
    size_t at = (size_t)(u->hi - u->lo) + u->nguests;
    memcpy(u->rq_ids + at, ids, n * sizeof *ids);
    memcpy(u->rq_act + at, act, n * sizeof *act);
    for (size_t i = 0; i < n; i++)
        u->rq_tag[u->nguests + i] = tag;
    u->nguests += n;
    return 0;
}

/* -------------------------------------------------------------- sending */

/* Sends unit (k, g)'s step_batch: its sessions with the actions in
 * sent_act, then its guest rows. */
int fleet__send_unit(fleet_t *f, size_t k, int g, errbuf_t *e)
{
    endpoint_t *ep = &f->eps[k];
    unit_t *u = &ep->u[g];
    size_t rows = (size_t)(u->hi - u->lo), n = rows + u->nguests;
    memcpy(u->rq_ids, ep->ids + u->lo, rows * sizeof *u->rq_ids);
    memcpy(u->rq_act, f->sent_act + k * f->S + u->lo, rows * sizeof *u->rq_act);
    wire_request_t req =
        wire_step_batch_discrete(u->rq_ids, u->rq_act, n, WIRE_AUTORESET_SAME_STEP);
    int rc = client_send(u->c, &req, e);
    u->sent = rc == 0;
    u->selected = false;
    return rc;
}

void fleet_send(fleet_t *f, const int32_t *act)
{
    size_t m = 0;
    for (size_t k = 0; k < f->E; k++) {
        endpoint_t *ep = &f->eps[k];
        for (int g = 0; g < f->G && ep->state == EP_LIVE; g++) {
            unit_t *u = &ep->u[g];
            if (!u->selected)
                continue;
            size_t rows = (size_t)(u->hi - u->lo);
            memcpy(f->sent_act + k * f->S + u->lo, act + m, rows * sizeof(int32_t));
            m += rows;
            errbuf_t e;
            if (fleet__send_unit(f, k, g, &e) < 0)
                fleet_drop(f, k, e.msg);
        }
    }
}

/* ------------------------------------------------------------ receiving */

/* RFC 6298 on the round trips of the first sends (Karn), in ms; the RTO
 * goes to every unit of the endpoint. */
static void sample_rtt(fleet_t *f, endpoint_t *ep, const unit_t *u)
{
    int64_t us = client_rtt_us(u->c);
    if (us < 0)
        return;
    double r = (double)us / 1000.0;
    if (ep->srtt_ms < 0) {
        ep->srtt_ms = r;
        ep->rttvar_ms = r / 2;
    } else {
        ep->rttvar_ms = 0.75 * ep->rttvar_ms + 0.25 * fabs(ep->srtt_ms - r);
        ep->srtt_ms = 0.875 * ep->srtt_ms + 0.125 * r;
    }
    int rto = fleet_rto_ms(f, (size_t)(ep - f->eps));
    for (int g = 0; g < f->G; g++)
        client_set_rto(ep->u[g].c, rto);
}

int fleet_rto_ms(const fleet_t *f, size_t k)
{
    const endpoint_t *ep = &f->eps[k];
    if (ep->srtt_ms < 0)
        return 0;
    double rto = ceil(ep->srtt_ms + 4 * ep->rttvar_ms), hi = f->cfg.timeout_ms / 2.0;
    rto = rto > hi ? hi : rto;
    return rto < FLEET_RTO_MIN_MS ? FLEET_RTO_MIN_MS : (int)rto;
}

/* Checks a step_batch reply of n rows. */
static int check_step(const fleet_t *f, const wire_reply_t *rep, size_t n, errbuf_t *e)
{
    if (rep->code != ERR_OK)
        return err_set(e, rep->code, "step_batch: %s", rep->message);
    if (rep->op != WIRE_OP_STEP_BATCH || rep->step_batch.n != n)
        return err_set(e, ERR_INTERNAL, "step_batch: a reply of the wrong kind or size");
    int rc = fleet__check_obs(f, &rep->step_batch.obs, n, "step_batch", e);
    if (rc == 0 && rep->step_batch.has_final_obs)
        rc = fleet__check_obs(f, &rep->step_batch.final_obs, n, "final_observations", e);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool done = rep->step_batch.terminated[i] || rep->step_batch.truncated[i];
        if (done != (rep->step_batch.autoreset && rep->step_batch.autoreset[i]) ||
            (done && !rep->step_batch.has_final_obs))
            rc = err_set(e, ERR_INTERNAL, "step_batch: session %zu ended without an autoreset", i);
    }
    return rc;
}

/* Appends unit (k, g)'s reply to the round's output: transitions at *m,
 * episodes at *ne, guests at *ng. */
static void take(fleet_t *f, size_t k, unit_t *u, const wire_reply_t *rep, size_t *m, size_t *ne,
                 size_t *ng)
{
    size_t D = (size_t)f->D, rows = (size_t)(u->hi - u->lo);
    const float *obs = rep->step_batch.obs.data;
    const float *fin = rep->step_batch.has_final_obs ? rep->step_batch.final_obs.data : NULL;
    for (size_t i = 0; i < rows; i++, (*m)++) {
        size_t slot = k * f->S + (size_t)u->lo + i;
        float *cur = f->slot_obs + slot * D;
        const float *o = obs + i * D;
        uint8_t term = rep->step_batch.terminated[i], trunc = rep->step_batch.truncated[i];
        double r = rep->step_batch.rewards[i];
        memcpy(f->b_obs + *m * D, cur, D * sizeof(float));
        memcpy(f->b_next + *m * D, term || trunc ? fin + i * D : o, D * sizeof(float));
        f->b_act[*m] = f->sent_act[slot];
        f->b_slot[*m] = (uint32_t)slot;
        f->b_rew[*m] = (float)r;
        f->b_term[*m] = term;
        f->b_trunc[*m] = trunc;
        memcpy(cur, o, D * sizeof(float));

        fleet_slot_state_t *s = &f->st[slot];
        if (f->hist && s->len < f->hist_len)
            f->hist[slot * f->hist_len + s->len] = (uint8_t)f->sent_act[slot];
        s->len++;
        f->ep_ret[slot] += r;
        if (term || trunc) {
            f->b_ep_ret[*ne] = f->ep_ret[slot];
            f->b_ep_len[(*ne)++] = (int32_t)s->len;
            f->ep_ret[slot] = 0.0;
            s->len = 0;
            s->resets++;
        }
    }
    for (size_t i = rows; i < rows + u->nguests; i++, (*ng)++) {
        f->g_ids[*ng] = u->rq_ids[i];
        f->g_tag[*ng] = u->rq_tag[i - rows];
        memcpy(f->g_obs + *ng * D, obs + i * D, D * sizeof(float));
        f->g_rew[*ng] = rep->step_batch.rewards[i];
        f->g_term[*ng] = rep->step_batch.terminated[i];
        f->g_trunc[*ng] = rep->step_batch.truncated[i];
    }
    u->nguests = 0;
}

/* Reads unit (k, g)'s reply: wait, or only if it has come (try). Returns
 * 1 when taken, 0 when not there yet, -1 when the endpoint was dropped. */
static int read_unit(fleet_t *f, size_t k, int g, bool wait, size_t *m, size_t *ne, size_t *ng)
{
    endpoint_t *ep = &f->eps[k];
    unit_t *u = &ep->u[g];
    wire_reply_t rep;
    errbuf_t e;
    int rc = wait ? client_recv(u->c, &rep, &e) : client_try_recv(u->c, &rep, &e);
    if (rc == 0 && !wait)
        return 0;
    if (rc >= 0)
        rc = check_step(f, &rep, (size_t)(u->hi - u->lo) + u->nguests, &e);
    if (rc < 0) {
        fleet_drop(f, k, e.msg);
        return -1;
    }
    u->sent = false;
    sample_rtt(f, ep, u);
    take(f, k, u, &rep, m, ne, ng);
    return 1;
}

/* Waits until a unit in flight is readable or its next resend is due. */
static void wait_any(fleet_t *f)
{
    zmq_pollitem_t *items = f->poll;
    int n = 0, wait = -1;
    for (size_t k = 0; k < f->E; k++)
        for (int g = 0; g < f->G; g++) {
            unit_t *u = &f->eps[k].u[g];
            if (!u->sent)
                continue;
            int w = client_wait_ms(u->c);
            wait = wait < 0 || w < wait ? w : wait;
            void *sock = client_socket(u->c);
            if (sock)
                items[n++] = (zmq_pollitem_t){sock, 0, ZMQ_POLLIN, 0};
        }
    if (wait != 0 && n > 0)
        zmq_poll(items, n, wait < 0 ? 1000 : wait);
}

void fleet_collect(fleet_t *f, int group, fleet_batch_t *out)
{
    size_t m = 0, ne = 0, ng = 0, dropped = 0, units = 0;
    if (group != FLEET_ANY) {
        for (size_t k = 0; k < f->E; k++) {
            if (!f->eps[k].u[group].sent)
                continue;
            int rc = read_unit(f, k, group, true, &m, &ne, &ng);
            dropped += rc < 0;
            units += rc > 0;
        }
    } else {
        while (units == 0 && fleet_in_flight(f) > 0) {
            for (size_t k = 0; k < f->E; k++)
                for (int g = 0; g < f->G && f->eps[k].state == EP_LIVE; g++) {
                    if (!f->eps[k].u[g].sent)
                        continue;
                    int rc = read_unit(f, k, g, false, &m, &ne, &ng);
                    dropped += rc < 0;
                    units += rc > 0;
                }
            if (units == 0)
                wait_any(f);
        }
    }
    *out = (fleet_batch_t){.n = m, .obs = f->b_obs, .act = f->b_act, .rew = f->b_rew,
                           .slot = f->b_slot,
                           .next = f->b_next, .term = f->b_term, .trunc = f->b_trunc,
                           .nepisodes = ne, .ep_return = f->b_ep_ret, .ep_length = f->b_ep_len,
                           .dropped = dropped, .units = units, .nguests = ng,
                           .guest_ids = f->g_ids, .guest_tag = f->g_tag, .guest_obs = f->g_obs, .guest_rew = f->g_rew,
                           .guest_term = f->g_term, .guest_trunc = f->g_trunc};
}

size_t fleet_in_flight(const fleet_t *f)
{
    size_t n = 0;
    for (size_t k = 0; k < f->E; k++)
        for (int g = 0; g < f->G; g++)
            n += f->eps[k].u[g].sent;
    return n;
}
