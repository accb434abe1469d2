/*
 * fleet_tick.c — one tick over the live endpoints (see fleet.h): their
 * observations in slot order, one step_batch to each, all sent before any
 * reply is awaited, then the replies read in endpoint order and turned
 * into the tick's transitions and finished episodes.
 *
 * Only bytes move between preallocated arrays here: nothing allocates. A
 * reply that is late, wrong or an error drops its endpoint
 * (fleet_endpoint.c) and the tick goes on with the others.
 */
#include "fleet_int.h"

#include <string.h>

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
    int rc = fleet__check_obs(f, &rep->step_batch.obs, (size_t)f->S, "step_batch", e);
    if (rc == 0 && rep->step_batch.has_final_obs)
        rc = fleet__check_obs(f, &rep->step_batch.final_obs, (size_t)f->S, "final_observations", e);
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
