/*
 * train_eval.c — the run's evaluations (see train.h): blocking ones (the
 * last of a run, --eval-only), and those that start every --eval-every env
 * steps on a snapshot of the net and ride as guest rows in the training
 * rounds' requests until their episodes end (docs/agentd.md, Evaluations
 * never pause training).
 */
#include "train_int.h"

#include <inttypes.h>
#include <stdint.h>

#include "clock.h"
#include "log.h"

/* ----------------------------------------------------------- evaluation */

/* The live server with the shortest retransmission timeout (round trip),
 * the first live one before any is measured; SIZE_MAX if none is live.
 * With fastest false: the first live one. */
static size_t eval_server(const run_t *r, bool fastest)
{
    fleet_t *f = r->s.fleet;
    size_t best = SIZE_MAX;
    for (size_t k = 0; k < fleet_nendpoints(f); k++) {
        if (!fleet_is_live(f, k))
            continue;
        if (best == SIZE_MAX)
            best = k;
        if (!fastest)
            break;
        int rto = fleet_rto_ms(f, k), rb = fleet_rto_ms(f, best);
        if (rto > 0 && (rb == 0 || rto < rb))
            best = k;
    }
    return best;
}

/* Evaluates the online net in blocking calls (--eval-only and the last
 * evaluation of a run) on the live server with the shortest round trip:
 * its episodes are the same on any server, and a slow one would cost each
 * of up to 500 sequential steps. */
static int evaluate(run_t *r, evaluator_result_t *res)
{
    fleet_t *f = r->s.fleet;
    for (size_t k; (k = eval_server(r, true)) != SIZE_MAX;) {
        errbuf_t e;
        int rc = evaluator_run(r->ev, fleet_client(f, k), r->cfg->env_id, dqn_online(r->s.dqn),
                               r->cfg->eval_seed, res, &e);
        if (rc == 0) {
            res->at_steps = r->s.n.env_steps;
            return 0;
        }
        fleet_drop(f, k, e.msg);
    }
    log_warn("evaluation skipped: no server is live");
    return ERR_UNAVAILABLE;
}

/* Runs an evaluation and reports it (with a progress.csv row); true if it
 * reached the target. */
bool train__eval_now(run_t *r)
{
    evaluator_result_t res;
    if (evaluate(r, &res) < 0)
        return false;
    report_eval(&r->rep, &res);
    return res.mean >= r->cfg->target_return;
}

/* The server an evaluation rides on: the first live one in sync mode (a
 * fixed choice, so the run stays reproducible); in async mode the one with
 * the shortest round trip, so that a slow server does not hold the
 * evaluation back. */
static size_t live_eval_server(run_t *r)
{
    return eval_server(r, r->cfg->async);
}

/* Starts live evaluation l's sessions (make, seeded resets) on the live
 * server live_eval_server() picks, trying the others on failure; false if
 * none manages it. */
static bool live_eval_place(run_t *r, live_eval_t *l)
{
    fleet_t *f = r->s.fleet;
    for (size_t k; (k = live_eval_server(r)) != SIZE_MAX;) {
        errbuf_t e;
        if (evaluator_begin(l->ev, fleet_client(f, k), r->cfg->env_id, r->cfg->eval_seed, &e) ==
            0) {
            l->k = k;
            return true;
        }
        fleet_drop(f, k, e.msg);
    }
    return false;
}

/* An evaluation is due: snapshot the online net and start its episodes,
 * which the next rounds step beside the training sessions. */
void train__live_eval_start(run_t *r)
{
    live_eval_t *l = NULL;
    for (int i = 0; i < TRAIN_LIVE_EVALS && !l; i++)
        l = r->le[i].active ? NULL : &r->le[i];
    if (!l) {
        r->rep.evals_skipped++;
        log_warn("evaluation at %" PRId64 " env steps skipped: %d still run", r->s.n.env_steps,
                 TRAIN_LIVE_EVALS);
        return;
    }
    qnet_copy_params(l->snap, dqn_online(r->s.dqn));
    l->at_steps = r->s.n.env_steps;
    l->at_s = clock_s() - r->rep.t0;
    l->active = live_eval_place(r, l);
    if (!l->active)
        log_warn("evaluation skipped: no server is live");
}

/* Puts the running evaluations' rows of the chosen units into their
 * requests: episode i rides in group i % G. */
void train__live_eval_ride(run_t *r)
{
    fleet_t *f = r->s.fleet;
    int G = fleet_groups(f);
    for (int i = 0; i < TRAIN_LIVE_EVALS; i++) {
        live_eval_t *l = &r->le[i];
        for (int g = 0; l->active && g < G; g++) {
            if (!fleet_chosen(f, l->k, g))
                continue;
            const uint64_t *ids;
            const int32_t *act;
            size_t n = evaluator_rows(l->ev, g, G, fleet_guest_room(f, l->k, g), l->snap, &ids,
                                      &act);
            errbuf_t e;
            if (n > 0 && fleet_add_guests(f, l->k, g, ids, act, n, i, &e) < 0)
                log_error("evaluation: %s", e.msg); /* cannot happen: n is within the room */
        }
    }
}

/* After a round: the evaluations' answers; a finished one is reported, and
 * true is returned when it reached the target — its snapshot then becomes
 * the run's net, and *won says which. An evaluation whose server was
 * dropped starts again on another. */
bool train__live_eval_after(run_t *r, const fleet_batch_t *b, live_eval_t **won)
{
    fleet_t *f = r->s.fleet;
    for (size_t j = 0; j < b->nguests;) { /* each tag's rows are contiguous */
        size_t end = j + 1;
        while (end < b->nguests && b->guest_tag[end] == b->guest_tag[j])
            end++;
        live_eval_t *l = &r->le[b->guest_tag[j]];
        if (l->active)
            evaluator_take(l->ev, end - j, b->guest_ids + j, b->guest_rew + j, b->guest_term + j,
                           b->guest_trunc + j, b->guest_obs + j * (size_t)r->D);
        j = end;
    }
    for (int i = 0; i < TRAIN_LIVE_EVALS; i++) {
        live_eval_t *l = &r->le[i];
        if (!l->active)
            continue;
        if (!fleet_is_live(f, l->k)) {
            log_warn("evaluation of the net at %" PRId64 " env steps starts again: its server "
                     "was dropped", l->at_steps);
            l->active = live_eval_place(r, l);
            continue;
        }
        if (!evaluator_done(l->ev))
            continue;
        l->active = false;
        evaluator_result_t res;
        errbuf_t e;
        if (evaluator_end(l->ev, fleet_client(f, l->k), &res, &e) < 0) {
            fleet_drop(f, l->k, e.msg);
            continue;
        }
        res.at_steps = l->at_steps;
        report_eval(&r->rep, &res);
        if (res.mean >= r->cfg->target_return) {
            qnet_copy_params(dqn_online(r->s.dqn), l->snap);
            qnet_copy_params(dqn_target(r->s.dqn), l->snap);
            *won = l;
            return true;
        }
    }
    return false;
}

/* Gives up the evaluations still running (the run ends). */
void train__live_eval_stop(run_t *r)
{
    for (int i = 0; i < TRAIN_LIVE_EVALS; i++) {
        if (r->le[i].active)
            log_info("the evaluation of the net at %" PRId64 " env steps is given up: the run "
                     "ends", r->le[i].at_steps);
        r->le[i].active = false;
    }
}

