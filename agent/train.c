/*
 * train.c — agentd's run loop (see train.h): setup, one round after the
 * other, teardown. It strings the pieces together — the fleet's sessions,
 * the DQN learner and its replay, the evaluations — and decides when to
 * train, evaluate, save, report and stop; how evaluations are played is
 * train_eval.c, what a checkpoint holds run_ckpt.c, what the user is shown
 * report.c, the --env-dns replicas discovery.c.
 *
 * Everything the loop touches is allocated in setup, so a round allocates
 * nothing.
 */
#include "train_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "fsutil.h"
#include "log.h"
#include "replay.h"
#include "rng.h"

static void seed_rng(rng_t *r, uint64_t seed, uint32_t purpose)
{
    uint32_t words[3] = {(uint32_t)seed, (uint32_t)(seed >> 32), purpose};
    rng_seed_words(r, words, 3);
}

enum { RNG_INIT = 0x696e6974, RNG_EXPLORE = 0x65787072, RNG_REPLAY = 0x7265706c };

/* ------------------------------------------------------------- waiting */

#define TRAIN_WAIT_SAY_S 5.0 /* how often a run with no server says so */

/* With no server live since `since`: says every TRAIN_WAIT_SAY_S what
 * agentd waits for and how long it will still wait, so that a run started
 * before its servers does not look hung. */
static void say_waiting(run_t *r, double since, double *said)
{
    double now = clock_s();
    if (now - *said < TRAIN_WAIT_SAY_S)
        return;
    *said = now;
    fleet_t *f = r->s.fleet;
    const char *first = NULL;
    size_t more = 0;
    for (size_t k = 0; k < fleet_nendpoints(f); k++) {
        const char *name = fleet_endpoint(f, k);
        if (name && !first)
            first = name;
        else if (name)
            more++;
    }
    char others[48] = "";
    if (more)
        snprintf(others, sizeof others, " and %zu more", more);
    double left = r->cfg->give_up_s - (now - since);
    log_warn("waiting for envd at %s%s: no answer for %.0f s; giving up in %.0f s "
             "(--give-up %.0f)",
             first ? first : (r->cfg->env_dns ? r->cfg->env_dns : "?"), others, now - since,
             left > 0 ? left : 0, r->cfg->give_up_s);
}

/* ---------------------------------------------------------------- setup */

static int setup(run_t *r, errbuf_t *e)
{
    const train_config_t *c = r->cfg;
    run_ckpt_header_t h;
    memset(&h, 0, sizeof h);
    int rc = 0;
    if (c->load_path && (rc = run_ckpt_open(c, &r->ck, &h, e)) < 0)
        return rc;

    /* Counters first: fresh session seeds after a resume mix in its step. */
    int64_t resume_steps = r->ck ? run_ckpt_env_steps(r->ck) : 0;
    size_t nplaces = c->nendpoints;
    for (size_t k = 0; k < c->nendpoints; k++)
        r->places[k] = c->endpoints[k];
    if (c->dns) {
        nplaces = c->nfixed + (size_t)c->env_dns_max; /* the rest start vacant */
        for (size_t k = c->nendpoints; k < nplaces; k++)
            r->places[k] = NULL;
    }
    fleet_config_t fc = {.endpoints = r->places, .nendpoints = nplaces,
                         .sessions = c->eval_only ? 1 : (int)c->sessions,
                         .groups = c->eval_only ? 1 : (int)c->groups,
                         .guests = (int)c->eval_episodes * TRAIN_LIVE_EVALS,
                         .eval_sessions = c->no_train ? 0 : (int)c->eval_episodes,
                         .env_id = c->env_id,
                         .timeout_ms = (int)c->timeout_ms, .attempts = (int)c->attempts,
                         .backoff_min_ms = (int)c->retry_min_ms,
                         .backoff_max_ms = (int)c->retry_max_ms, .seed = c->seed,
                         .salt = (uint64_t)resume_steps, .curve = c->curve};
    r->zctx = zmq_ctx_new();
    if (!r->zctx)
        return err_set(e, ERR_IO, "zmq_ctx_new failed");
    if ((rc = fleet_new(r->zctx, &fc, &r->s.fleet, e)) < 0)
        return rc;
    if (c->dns)
        discovery_follow(c->dns, r->s.fleet);
    if (r->ck && !c->eval_only && (rc = run_ckpt_restore_slots(c, r->ck, &h, r->s.fleet, e)) < 0)
        return rc;
    if ((rc = fleet_start(r->s.fleet, e)) < 0)
        return rc;
    double since = clock_s(), said = since;
    while (fleet_live(r->s.fleet) == 0) { /* the spaces come with the first join */
        say_waiting(r, since, &said);
        if (*r->stop)
            return err_set(e, ERR_UNAVAILABLE, "stopped while waiting for a server");
        if (fleet_usable(r->s.fleet) == 0 || clock_s() - since > c->give_up_s)
            return err_set(e, ERR_UNAVAILABLE, "no envd answered within %.0f s", c->give_up_s);
        fleet_poll(r->s.fleet);
        usleep(2000);
    }
    r->D = fleet_obs_dim(r->s.fleet);
    r->A = fleet_num_actions(r->s.fleet);
    if (r->ck) {
        if ((rc = run_ckpt_check_io(c, &h, r->D, r->A, e)) < 0)
            return rc;
        r->s.shape = h.shape;
    } else {
        r->s.shape = (qnet_shape_t){.in = r->D, .out = r->A, .nhidden = c->nhidden};
        for (int l = 0; l < c->nhidden; l++)
            r->s.shape.hidden[l] = c->hidden[l];
    }
    if ((rc = dqn_new(&c->dqn, &r->s.shape, &r->s.dqn, e)) < 0)
        return rc;
    if ((rc = replay_new(c->eval_only ? 1 : (size_t)c->buffer_size, r->D, &r->s.replay, e)) < 0)
        return rc;
    size_t nslots = fleet_nslots(r->s.fleet);
    r->q = malloc(nslots * (size_t)r->A * sizeof(float));
    r->act = malloc(nslots * sizeof(int32_t));
    if (!r->q || !r->act)
        return err_set(e, ERR_NOMEM, "out of memory for the actions of %zu sessions", nslots);
    if ((rc = evaluator_new((int)c->eval_episodes, r->D, r->A, &r->ev, e)) < 0)
        return rc;
    for (int i = 0; i < TRAIN_LIVE_EVALS && !c->eval_only && !c->no_train; i++) {
        live_eval_t *l = &r->le[i];
        if ((rc = evaluator_new((int)c->eval_episodes, r->D, r->A, &l->ev, e)) < 0 ||
            (rc = qnet_new_shape(&r->s.shape, 1, &l->snap, e)) < 0)
            return rc;
    }

    seed_rng(&r->s.explore_rng, c->seed, RNG_EXPLORE);
    seed_rng(&r->s.replay_rng, c->seed, RNG_REPLAY);
    if (r->ck) {
        if ((rc = run_ckpt_load(c, r->ck, &h, &r->s, e)) < 0)
            return rc;
        log_info("%s %s at %" PRId64 " env steps, %" PRId64 " gradient steps",
                 c->eval_only ? "evaluating" : "resumed", c->load_path, r->s.n.env_steps,
                 dqn_updates(r->s.dqn));
        ckpt_destroy(&r->ck);
    } else {
        rng_t init;
        seed_rng(&init, c->seed, RNG_INIT);
        dqn_init(r->s.dqn, &init);
    }
    /* A --logdir run has an id, so that resuming its checkpoint finds its
     * folder again (runlog.h); a resumed one keeps its checkpoint's. */
    if (c->logdir && !c->eval_only && !r->s.run_id[0] && (rc = runlog_new_id(r->s.run_id, e)) < 0)
        return rc;
    return report_open(&r->rep, e);
}

static void teardown(run_t *r)
{
    report_deinit(&r->rep);
    evaluator_destroy(&r->ev);
    for (int i = 0; i < TRAIN_LIVE_EVALS; i++) {
        evaluator_destroy(&r->le[i].ev);
        qnet_destroy(&r->le[i].snap);
    }
    free(r->q);
    free(r->act);
    replay_destroy(&r->s.replay);
    dqn_destroy(&r->s.dqn);
    fleet_destroy(&r->s.fleet);
    ckpt_destroy(&r->ck);
    if (r->zctx)
        zmq_ctx_term(r->zctx);
    r->zctx = NULL;
}

/* ----------------------------------------------------------------- loop */

static bool crossed(int64_t before, int64_t after, int64_t every)
{
    return every > 0 && after / every > before / every;
}

/* A periodic save that fails is a warning: the next one may work (space
 * freed), and stopping would lose the training too. The final one is the
 * run's durable product, so its failure decides the exit status (train_run)
 * and is said plainly, with what the path holds instead. */
static int do_save(run_t *r, bool final)
{
    errbuf_t e;
    const char *path = r->cfg->save_path;
    report_t *rp = &r->rep;
    if (!path)
        return 0;
    if (run_ckpt_save(r->cfg, &r->s, &e) == 0) {
        rp->saved_at_steps = r->s.n.env_steps;
        log_debug("checkpoint saved: %s at %" PRId64 " env steps", path, r->s.n.env_steps);
        return 0;
    }
    rp->failed_saves++;
    snprintf(rp->save_error, sizeof rp->save_error, "%s", e.msg);
    if (!final) {
        log_warn("checkpoint at %" PRId64 " env steps not saved (training goes on): %s",
                 r->s.n.env_steps, e.msg);
    } else if (rp->saved_at_steps >= 0) {
        log_error("final checkpoint not saved: %s; %s still holds the one saved at %" PRId64
                  " env steps", e.msg, path, rp->saved_at_steps);
    } else {
        log_error("final checkpoint not saved: %s; this run wrote no checkpoint to %s", e.msg,
                  path);
    }
    return -1;
}

/* The reached target, at the current step. */
static void solved_now(run_t *r)
{
    r->rep.solved_at_steps = r->s.n.env_steps;
    r->rep.solved_at_s = clock_s() - r->rep.t0;
}

/* A running evaluation reached it: at its snapshot. */
static void solved_at_snapshot(run_t *r, const live_eval_t *l)
{
    r->rep.solved_at_steps = l->at_steps;
    r->rep.solved_at_s = l->at_s;
}

static int loop(run_t *r)
{
    const train_config_t *c = r->cfg;
    run_state_t *s = &r->s;
    qnet_t *online = dqn_online(s->dqn);
    int64_t min_fill = c->learning_starts > c->dqn.batch ? c->learning_starts : c->dqn.batch;
    double no_server_since = -1.0, said = 0.0;
    bool solved = false;
    report_begin(&r->rep);

    fleet_t *f = s->fleet;
    int G = fleet_groups(f);
    while (!*r->stop && s->n.env_steps < c->total_steps) {
        if (c->dns)
            discovery_refresh(c->dns);
        fleet_poll(f);
        if (fleet_live(f) == 0) {
            double t = clock_s();
            if (no_server_since < 0)
                no_server_since = said = t;
            say_waiting(r, no_server_since, &said);
            if (fleet_usable(f) == 0 || t - no_server_since > c->give_up_s) {
                log_error("no envd has answered for %.0f s: giving up", t - no_server_since);
                r->rep.stop_reason = "no server";
                return TRAIN_EXIT_ERROR;
            }
            usleep(1000);
            continue;
        }
        no_server_since = -1.0;

        /* sync: act on group p, collect group p + 1, which was sent a
         * round ago; async: act on whatever has replied. */
        int act_on = c->async ? FLEET_ANY : (int)s->phase;
        int collect = c->async ? FLEET_ANY : (int)((s->phase + 1) % G);
        size_t n;
        const float *obs = fleet_obs(f, act_on, &n);
        if (n > 0) {
            qnet_predict(online, obs, (int)n, r->q);
            dqn_select_actions(r->act, r->q, (int)n, r->A, train_epsilon(c, s->n.env_steps),
                               &s->explore_rng);
            train__live_eval_ride(r);
            fleet_send(f, r->act);
        }

        /* The servers step while we learn: these updates use the replay
         * as it was before this round, whatever the timing. */
        if (s->n.pending > 0) {
            double sum = 0.0;
            int64_t k = s->n.pending;
            for (; s->n.pending > 0; s->n.pending--)
                sum += dqn_train_step(s->dqn, s->replay, &s->replay_rng);
            report_loss(&r->rep, sum, k);
        }

        fleet_batch_t b;
        int64_t evals_before = r->rep.evaluations;
        fleet_collect(f, collect, &b);
        s->phase = c->async ? 0 : (s->phase + 1) % G;
        replay_add_batch(s->replay, b.n, b.obs, b.act, b.rew, b.next, b.term, b.trunc);
        for (size_t i = 0; i < b.nepisodes; i++)
            s->returns[(s->n.returns_n++) % RUN_RET_WINDOW] = b.ep_return[i];
        int64_t before = s->n.env_steps;
        s->n.env_steps += (int64_t)b.n;
        s->n.episodes += (int64_t)b.nepisodes;
        if (!c->no_train && (int64_t)replay_size(s->replay) >= min_fill) {
            s->n.train_acc += (int64_t)b.n;
            s->n.pending += s->n.train_acc / c->train_freq * c->gradient_steps;
            s->n.train_acc %= c->train_freq;
        }

        live_eval_t *won = NULL;
        if (train__live_eval_after(r, &b, &won)) {
            solved = true;
            solved_at_snapshot(r, won);
            break;
        }
        bool evaluated = !c->no_train && s->n.env_steps >= c->eval_from &&
                         crossed(before, s->n.env_steps, c->eval_every);
        if (evaluated)
            train__live_eval_start(r);
        double t = clock_s();
        /* An evaluation that ended this round wrote its row; at the end of
         * the budget the final evaluation writes it. */
        bool row_written = r->rep.evaluations != evals_before ||
                           (!c->no_train && s->n.env_steps >= c->total_steps);
        if (!row_written && crossed(before, s->n.env_steps, c->log_every))
            report_row(&r->rep, t);
        if (crossed(before, s->n.env_steps, c->save_every))
            do_save(r, false);
        if (c->progress_s > 0 && t - r->rep.line_t >= c->progress_s)
            report_progress(&r->rep, t);
    }

    train__live_eval_stop(r);
    if (solved) {
        r->rep.stop_reason = "solved";
        return TRAIN_EXIT_SOLVED;
    }
    if (*r->stop) {
        r->rep.stop_reason = *r->stop == SIGTERM ? "SIGTERM" : "SIGINT";
        return *r->stop == SIGTERM ? TRAIN_EXIT_SIGTERM : TRAIN_EXIT_SIGINT;
    }
    r->rep.stop_reason = "budget";
    if (c->no_train)
        return TRAIN_EXIT_SOLVED;
    /* The step budget is spent: a last evaluation of the final net, played
     * on its own (one still running on an older snapshot is given up),
     * unless one of this net just ran. */
    const report_eval_t *last = &r->rep.last_eval;
    if (!(last->done && last->at_steps == s->n.env_steps) && train__eval_now(r)) {
        solved_now(r);
        r->rep.stop_reason = "solved";
        return TRAIN_EXIT_SOLVED;
    }
    return TRAIN_EXIT_BUDGET;
}

int train_run(const train_config_t *cfg, volatile sig_atomic_t *stop)
{
    run_t r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.stop = stop;
    report_init(&r.rep, cfg, &r.s);

    errbuf_t e;
    err_clear(&e);
    int status;
    if (setup(&r, &e) < 0) {
        log_error("%s", e.msg);
        status = *stop == SIGTERM ? TRAIN_EXIT_SIGTERM
                 : *stop          ? TRAIN_EXIT_SIGINT
                                  : TRAIN_EXIT_ERROR;
    } else if (cfg->eval_only) {
        if (train__eval_now(&r) || r.rep.last_eval.done) {
            status = TRAIN_EXIT_SOLVED;
            report_summary(&r.rep, status);
        } else {
            status = TRAIN_EXIT_ERROR;
        }
    } else {
        char net[128];
        qnet_shape_text(&r.s.shape, net, sizeof net);
        log_info("training %s: %zu endpoint(s) x %" PRId64 " sessions, net %s, seed %" PRIu64,
                 cfg->env_id, cfg->nendpoints, cfg->sessions, net, cfg->seed);
        int stale = cfg->save_path ? fsutil_remove_stale(cfg->save_path) : 0;
        if (stale > 0)
            log_info("removed %d temporary checkpoint file(s) left by killed saves of %s", stale,
                     cfg->save_path);
        status = loop(&r);
        if (cfg->progress_s > 0)
            report_progress(&r.rep, clock_s());
        r.rep.final_saved = do_save(&r, true) == 0;
        if (!r.rep.final_saved && status != TRAIN_EXIT_ERROR)
            status = TRAIN_EXIT_UNSAVED;
        if (status != TRAIN_EXIT_ERROR || r.s.n.env_steps > 0)
            report_summary(&r.rep, status);
    }
    teardown(&r);
    return status;
}
