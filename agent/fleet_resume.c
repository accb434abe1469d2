/*
 * fleet_resume.c — exact resume (see fleet.h, Reproducible resume): per
 * slot the seed of the last seeded reset, the autoresets since and the
 * current episode's actions, saved by a checkpoint and replayed on the new
 * sessions of an endpoint when it joins, so that each is in the state it
 * had, bit for bit.
 */
#include "fleet_int.h"

#include <stdlib.h>
#include <string.h>

/* Rebuilds the saved sessions of endpoint k: seeded reset, the same number
 * of unseeded resets, then the saved actions of the current episode. */
int fleet__rebuild(fleet_t *f, size_t k, errbuf_t *e)
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
    int rc = fleet__reset_some(f, ep, (size_t)f->S, true, e);
    for (uint32_t r = 1; rc == 0 && r <= max_resets; r++) {
        size_t n = 0;
        for (int i = 0; i < f->S; i++)
            if (f->r_st[base + i].resets >= r) {
                f->j_ids[n] = ep->ids[i];
                f->j_slot[n++] = base + i;
            }
        rc = fleet__reset_some(f, ep, n, false, e);
    }
    for (uint32_t t = 0; rc == 0 && t < max_len; t++) {
        size_t n = 0;
        for (int i = 0; i < f->S; i++)
            if (f->r_st[base + i].len > t) {
                f->j_ids[n] = ep->ids[i];
                f->j_act[n] = f->r_hist[(base + i) * f->r_max_steps + t];
                f->j_slot[n++] = base + i;
            }
        wire_request_t req =
            wire_step_batch_discrete(f->j_ids, f->j_act, n, WIRE_AUTORESET_DISABLED);
        wire_reply_t rep;
        rc = client_call(ep->c, &req, &rep, e);
        if (rc == 0)
            rc = fleet__check_obs(f, &rep.step_batch.obs, n, "step_batch", e);
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

/* Sends again, once endpoint k's sessions are rebuilt, the steps its units
 * had in flight when the checkpoint was saved, with the same actions: the
 * pipeline goes on where it stood. A unit only partly in flight (another
 * --groups than the saved run's) is left to the next round. */
void fleet__resend_saved(fleet_t *f, size_t k)
{
    if (!f->r_inflight)
        return;
    endpoint_t *ep = &f->eps[k];
    for (int g = 0; g < f->G; g++) {
        unit_t *u = &ep->u[g];
        size_t base = k * f->S;
        bool all = true;
        for (int i = u->lo; i < u->hi; i++)
            all &= f->r_inflight[base + i] != 0;
        if (!all)
            continue;
        memcpy(f->sent_act + base + u->lo, f->r_act + base + u->lo,
               (size_t)(u->hi - u->lo) * sizeof(int32_t));
        errbuf_t e;
        if (fleet__send_unit(f, k, g, &e) < 0) {
            fleet_drop(f, k, e.msg);
            return;
        }
    }
}

/* Whether endpoint k's saved sessions can be rebuilt. */
bool fleet__can_rebuild(const fleet_t *f, size_t k)
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

/* ---------------------------------------------------------- checkpoints */

const fleet_slot_state_t *fleet_slot_states(const fleet_t *f) { return f->st; }
const uint8_t *fleet_slot_actions(const fleet_t *f) { return f->hist; }

const uint8_t *fleet_inflight(fleet_t *f)
{
    for (size_t k = 0; k < f->E; k++)
        for (int g = 0; g < f->G; g++) {
            const unit_t *u = &f->eps[k].u[g];
            memset(f->inflight + k * f->S + u->lo, u->sent, (size_t)(u->hi - u->lo));
        }
    return f->inflight;
}

const int32_t *fleet_sent_actions(const fleet_t *f) { return f->sent_act; }

int fleet_set_restore_inflight(fleet_t *f, const uint8_t *inflight, const int32_t *act,
                               errbuf_t *e)
{
    free(f->r_inflight);
    free(f->r_act);
    f->r_inflight = malloc(f->nslots);
    f->r_act = malloc(f->nslots * sizeof(int32_t));
    if (!f->r_inflight || !f->r_act)
        return err_set(e, ERR_NOMEM, "out of memory");
    memcpy(f->r_inflight, inflight, f->nslots);
    memcpy(f->r_act, act, f->nslots * sizeof(int32_t));
    return 0;
}

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
