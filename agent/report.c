/*
 * report.c — the progress line, progress.csv rows, evaluation log lines,
 * the summary and summary.json of an agentd run (see report.h).
 *
 * Every figure is computed here from the run's state when it is shown:
 * the mean of the returns window, epsilon at the current step, the rates
 * since the last row or line. Only the figures the state does not keep
 * (losses, evaluations, saves) are accumulated in the report.
 */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "text.h"

static const report_t *hooked; /* the report whose progress line the log hook clears */

static void clear_line(void)
{
    if (hooked && hooked->tty)
        fputs("\r\033[K", stderr);
}

void report_init(report_t *rp, const train_config_t *c, const run_state_t *s)
{
    memset(rp, 0, sizeof *rp);
    rp->cfg = c;
    rp->s = s;
    rp->t0 = clock_s();
    rp->solved_at_steps = -1;
    rp->saved_at_steps = -1;
    rp->last_loss = NAN;
    rp->stop_reason = "error";
    rp->tty = isatty(STDERR_FILENO);
    hooked = rp;
    log_set_hook(clear_line);
}

static const char *const columns[] = {
    RUNLOG_ENV_STEPS, RUNLOG_TRAIN_RETURN_MEAN100, RUNLOG_EVAL_MEAN, RUNLOG_EVAL_STD,
    "epsilon", "loss", "steps_per_sec", "episodes", "wall_seconds", "gradient_steps",
    "live_endpoints",
};
enum { NCOLUMNS = sizeof columns / sizeof columns[0] };

int report_open(report_t *rp, errbuf_t *e)
{
    const train_config_t *c = rp->cfg;
    const run_state_t *s = rp->s;
    rp->start_steps = s->n.env_steps;
    if (!c->logdir || c->eval_only)
        return 0;
    int rc = runlog_open(c->logdir, s->run_id, c->load_path ? s->n.env_steps : -1, columns,
                         NCOLUMNS, &rp->log, e);
    if (rc < 0)
        return rc;
    const char *dir = runlog_dir(rp->log);
    if (runlog_continued(rp->log))
        log_info("logs: continuing run %s in %s from %" PRId64 " env steps (later rows dropped)",
                 s->run_id, dir, s->n.env_steps);
    else if (strcmp(dir, c->logdir) != 0)
        log_info("logs: %s holds another run; this one (%s) writes to %s", c->logdir, s->run_id,
                 dir);
    return 0;
}

void report_deinit(report_t *rp)
{
    log_set_hook(NULL);
    hooked = NULL;
    runlog_close(&rp->log);
}

void report_begin(report_t *rp)
{
    rp->line_t = rp->row_t = clock_s();
    rp->line_steps = rp->row_steps = (double)rp->s->n.env_steps;
}

void report_loss(report_t *rp, double sum, int64_t k)
{
    rp->loss_sum += sum;
    rp->loss_count += k;
    rp->last_loss = sum / (double)k;
}

static double mean_return(const run_state_t *s)
{
    int64_t n = s->n.returns_n < RUN_RET_WINDOW ? s->n.returns_n : RUN_RET_WINDOW;
    if (n == 0)
        return NAN;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += s->returns[i];
    return sum / (double)n;
}

/* ----------------------------------------------------- line and rows */

static void fmt_count(char *buf, size_t len, double v)
{
    if (v >= 1e6)
        snprintf(buf, len, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, len, "%.1fk", v / 1e3);
    else
        snprintf(buf, len, "%.0f", v);
}

void report_progress(report_t *rp, double t)
{
    const run_state_t *s = rp->s;
    double dt = t - rp->line_t;
    double rate = dt > 0 ? (s->n.env_steps - rp->line_steps) / dt : 0.0;
    rp->line_t = t;
    rp->line_steps = (double)s->n.env_steps;
    char steps[16], sps[16], ev[64] = "-";
    fmt_count(steps, sizeof steps, (double)s->n.env_steps);
    fmt_count(sps, sizeof sps, rate);
    if (rp->last_eval.done) {
        char at[16];
        fmt_count(at, sizeof at, (double)rp->last_eval.at_steps);
        snprintf(ev, sizeof ev, "%.1f+-%.1f@%s", rp->last_eval.mean, rp->last_eval.std, at);
    }
    char line[256];
    snprintf(line, sizeof line,
             "steps %s | %s/s | episodes %" PRId64 " | return100 %.1f | eps %.3f | loss %.4g | "
             "eval %s | live %zu/%zu | %.0fs",
             steps, sps, s->n.episodes, mean_return(s), train_epsilon(rp->cfg, s->n.env_steps),
             rp->last_loss, ev, fleet_live(s->fleet), fleet_occupied(s->fleet), t - rp->t0);
    if (rp->tty)
        fprintf(stderr, "\r\033[K%s", line);
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void log_row(report_t *rp, double t, const evaluator_result_t *ev)
{
    if (!rp->log)
        return;
    const run_state_t *s = rp->s;
    double dt = t - rp->row_t;
    double v[NCOLUMNS] = {
        (double)s->n.env_steps,
        mean_return(s),
        ev ? ev->mean : NAN,
        ev ? ev->std : NAN,
        train_epsilon(rp->cfg, s->n.env_steps),
        rp->loss_count ? rp->loss_sum / (double)rp->loss_count : NAN,
        dt > 0 ? (s->n.env_steps - rp->row_steps) / dt : NAN,
        (double)s->n.episodes,
        t - rp->t0,
        (double)dqn_updates(s->dqn),
        (double)fleet_live(s->fleet),
    };
    rp->row_t = t;
    rp->row_steps = (double)s->n.env_steps;
    rp->loss_sum = 0.0;
    rp->loss_count = 0;
    if (runlog_row(rp->log, s->n.env_steps, v) < 0)
        log_warn("--logdir: %s", runlog_error(rp->log));
}

void report_row(report_t *rp, double t)
{
    log_row(rp, t, NULL);
}

void report_eval(report_t *rp, const evaluator_result_t *res)
{
    rp->evaluations++;
    rp->eval_steps += res->steps;
    rp->eval_seconds += res->seconds;
    double t = clock_s();
    rp->last_eval = (report_eval_t){true, res->mean, res->std, res->at_steps};
    if (!rp->best_eval.done || res->mean > rp->best_eval.mean)
        rp->best_eval = rp->last_eval;
    log_info("eval at %" PRId64 " env steps: mean %.2f std %.2f (min %.0f, max %.0f) over %d "
             "episodes, %.3f s",
             res->at_steps, res->mean, res->std, res->min, res->max, res->episodes,
             res->seconds);
    log_row(rp, t, res);
}

/* -------------------------------------------------------------- summary */

static void tjson_eval(text_t *t, const report_eval_t *ev, int episodes)
{
    if (!ev->done) {
        text_printf(t, "null");
        return;
    }
    text_printf(t, "{\"mean\": ");
    text_json_num(t, ev->mean);
    text_printf(t, ", \"std\": ");
    text_json_num(t, ev->std);
    text_printf(t, ", \"episodes\": %d, \"at_env_steps\": %" PRId64 "}", episodes, ev->at_steps);
}

/* null without --save; else the path, whether the final save worked and
 * why not, and the env steps of what the path holds from this run (the
 * final save, or the last periodic one that worked; null: nothing). */
static void tjson_checkpoint(text_t *t, const report_t *rp)
{
    if (!rp->cfg->save_path) {
        text_printf(t, "null");
        return;
    }
    text_printf(t, "{\"path\": ");
    text_json_str(t, rp->cfg->save_path);
    text_printf(t, ", \"saved\": %s, \"saved_at_env_steps\": ", rp->final_saved ? "true" : "false");
    if (rp->saved_at_steps >= 0)
        text_printf(t, "%" PRId64, rp->saved_at_steps);
    else
        text_printf(t, "null");
    text_printf(t, ", \"failed_saves\": %" PRId64 ", \"error\": ", rp->failed_saves);
    if (rp->final_saved)
        text_printf(t, "null");
    else
        text_json_str(t, rp->save_error);
    text_printf(t, "}");
}

static void summary_json(const report_t *rp, int status, double wall, bool solved)
{
    const train_config_t *c = rp->cfg;
    const run_state_t *s = rp->s;
    text_t t = {0};
    text_printf(&t, "{\n  \"env_id\": ");
    text_json_str(&t, c->env_id);
    text_printf(&t, ",\n  \"solved\": %s,\n  \"stop_reason\": ", solved ? "true" : "false");
    text_json_str(&t, rp->stop_reason);
    text_printf(&t, ",\n  \"exit_status\": %d,\n  \"seed\": %" PRIu64 ",\n", status, c->seed);
    text_printf(&t, "  \"target_return\": ");
    text_json_num(&t, c->target_return);
    text_printf(&t, ",\n  \"env_steps\": %" PRId64 ",\n  \"env_steps_to_target\": ", s->n.env_steps);
    if (solved)
        text_printf(&t, "%" PRId64, rp->solved_at_steps);
    else
        text_printf(&t, "null");
    text_printf(&t, ",\n  \"wall_seconds\": ");
    text_json_num(&t, wall);
    text_printf(&t, ",\n  \"wall_seconds_to_target\": ");
    text_json_num(&t, solved ? rp->solved_at_s : NAN);
    text_printf(&t, ",\n  \"episodes\": %" PRId64 ",\n  \"gradient_steps\": %" PRId64
                ",\n  \"evaluations\": %" PRId64 ",\n  \"evaluations_skipped\": %" PRId64
                ",\n  \"eval_env_steps\": %" PRId64 ",\n  \"eval_seconds\": ",
                s->n.episodes, s->dqn ? dqn_updates(s->dqn) : 0, rp->evaluations,
                rp->evals_skipped, rp->eval_steps);
    text_json_num(&t, rp->eval_seconds);
    text_printf(&t, ",\n  \"train_return_mean100\": ");
    text_json_num(&t, mean_return(s));
    text_printf(&t, ",\n  \"final_eval\": ");
    tjson_eval(&t, &rp->last_eval, (int)c->eval_episodes);
    text_printf(&t, ",\n  \"best_eval\": ");
    tjson_eval(&t, &rp->best_eval, (int)c->eval_episodes);
    text_printf(&t, ",\n  \"run_id\": ");
    text_json_str(&t, s->run_id);
    text_printf(&t, ",\n  \"logdir\": ");
    text_json_str(&t, runlog_dir(rp->log));
    text_printf(&t, ",\n  \"resumed_from\": ");
    text_json_str(&t, c->load_path);
    /* The endpoints at the end: --env ones and the --env-dns replicas that
     * hold a place now (vacant places skipped). Summaries follow a setup
     * that made the fleet. */
    text_printf(&t, ",\n  \"resumed_at_env_steps\": %" PRId64 ",\n  \"checkpoint\": ",
                rp->start_steps);
    tjson_checkpoint(&t, rp);
    text_printf(&t, ",\n  \"endpoints\": [");
    size_t listed = 0;
    for (size_t i = 0; i < fleet_nendpoints(s->fleet); i++) {
        const char *ep = fleet_endpoint(s->fleet, i);
        if (!ep)
            continue;
        text_printf(&t, listed++ ? ", " : "");
        text_json_str(&t, ep);
    }
    text_printf(&t, "],\n  \"hyperparameters\": {%s}\n}\n", c->options_json ? c->options_json : "");
    if (t.failed || !t.data)
        log_warn("--logdir: summary.json: out of memory");
    else if (runlog_write_text(rp->log, "summary.json", t.data) < 0)
        log_warn("--logdir: summary.json: %s", runlog_error(rp->log));
    text_free(&t);
}

void report_summary(report_t *rp, int status)
{
    const train_config_t *c = rp->cfg;
    const run_state_t *s = rp->s;
    double wall = clock_s() - rp->t0;
    bool solved = rp->solved_at_steps >= 0;
    if (rp->tty && c->progress_s > 0)
        fputc('\n', stderr);
    if (c->eval_only) {
        printf("agentd: %s eval mean %.2f std %.2f over %" PRId64 " episodes (%s)\n", c->env_id,
               rp->last_eval.mean, rp->last_eval.std, c->eval_episodes, c->load_path);
    } else if (c->no_train) {
        printf("agentd: acted %" PRId64 " env steps in %.2f s: %.0f steps/s on %zu sessions\n",
               s->n.env_steps - rp->start_steps, wall,
               (s->n.env_steps - rp->start_steps) / (wall > 0 ? wall : 1),
               fleet_nslots(s->fleet));
    } else {
        if (solved)
            printf("agentd: solved %s in %" PRId64 " env steps and %.2f s (seed %" PRIu64 ")\n",
                   c->env_id, rp->solved_at_steps, rp->solved_at_s, c->seed);
        else
            printf("agentd: %s not solved (%s) after %" PRId64 " env steps and %.2f s (seed %" PRIu64
                   ")\n",
                   c->env_id, rp->stop_reason, s->n.env_steps, wall, c->seed);
        if (rp->last_eval.done)
            printf("agentd: final eval mean %.2f std %.2f over %" PRId64
                   " episodes; best %.2f at %" PRId64 " env steps\n",
                   rp->last_eval.mean, rp->last_eval.std, c->eval_episodes, rp->best_eval.mean,
                   rp->best_eval.at_steps);
        printf("agentd: %" PRId64 " episodes, %" PRId64 " gradient steps, %" PRId64
               " evaluations (%" PRId64 " eval env steps, %.2f s)\n",
               s->n.episodes, s->dqn ? dqn_updates(s->dqn) : 0, rp->evaluations, rp->eval_steps,
               rp->eval_seconds);
    }
    if (c->save_path && !c->eval_only) { /* --eval-only saves nothing */
        if (rp->final_saved)
            printf("agentd: checkpoint %s\n", c->save_path);
        else
            printf("agentd: checkpoint %s NOT saved (%s)\n", c->save_path, rp->save_error);
    }
    if (rp->log)
        printf("agentd: logs in %s (progress.csv, TensorBoard events, summary.json)\n",
               runlog_dir(rp->log));
    fflush(stdout);
    if (rp->log)
        summary_json(rp, status, wall, solved);
}
