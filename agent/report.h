/*
 * report.h — what agentd tells the user about a run: the progress line on
 * stderr, the progress.csv rows (and their TensorBoard scalars, runlog.c)
 * under --logdir, the evaluation log lines, and at the end the summary on
 * stdout and summary.json.
 *
 * A report reads the run's state (run_ckpt.h: counters, returns, learner,
 * fleet) and keeps the figures the state does not hold: losses since the
 * last row, the last and best evaluations, when the target was reached,
 * how the saves went. The run loop sets the fields it decides
 * (stop_reason, solved_at_*, the save outcome) and calls the report when a
 * row, a line or the summary is due; the report decides nothing.
 *
 * While a report is initialised, log lines first clear a progress line
 * drawn on a terminal (log_set_hook), so the two never share a line.
 */
#ifndef REPORT_H
#define REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "evaluator.h"
#include "run_ckpt.h"
#include "runlog.h"
#include "train.h"

typedef struct report_eval {
    bool done;
    double mean, std;
    int64_t at_steps;     /* env steps when it ran */
} report_eval_t;

typedef struct report {
    const train_config_t *cfg;
    const run_state_t *s;
    runlog_t *log;        /* --logdir; NULL without it or with --eval-only */
    double t0;            /* wall clock at start */
    bool tty;             /* stderr is a terminal: the progress line redraws itself */

    double loss_sum;      /* since the last progress.csv row */
    int64_t loss_count;
    double last_loss;     /* mean loss of the last tick that trained */
    report_eval_t last_eval, best_eval;
    int64_t evaluations, eval_steps;
    int64_t evals_skipped;        /* due while TRAIN_LIVE_EVALS were still running */
    double eval_seconds;
    double solved_at_s;
    int64_t solved_at_steps;      /* -1: not solved */
    int64_t start_steps;          /* env steps at start (resume) */
    double row_t, row_steps;      /* time and steps of the last progress.csv row */
    double line_t, line_steps;    /* ... of the last progress line */
    const char *stop_reason;

    /* --save: how this run's saves went, for the exit status and summary */
    int64_t saved_at_steps;   /* env steps of the last save that worked; -1: none */
    int64_t failed_saves;     /* periodic and final */
    bool final_saved;
    char save_error[256];     /* why the last failed save failed */
} report_t;

/* Starts the report of a run of c over s (both borrowed) at the current
 * time, and hooks the log. */
void report_init(report_t *rp, const train_config_t *c, const run_state_t *s);

/* Once the run's state is loaded: notes its env steps as the start and
 * opens --logdir (unless --eval-only). */
int report_open(report_t *rp, errbuf_t *e);

/* Unhooks the log and closes --logdir. */
void report_deinit(report_t *rp);

/* Steps per second are measured from now on (the loop starts). */
void report_begin(report_t *rp);

/* k gradient steps that lost sum in all, during the tick. */
void report_loss(report_t *rp, double sum, int64_t k);

/* An evaluation that ran: counted, kept as the last (and best), logged,
 * and written as a progress.csv row. */
void report_eval(report_t *rp, const evaluator_result_t *res);

/* A progress.csv row without an evaluation, at time t. */
void report_row(report_t *rp, double t);

/* The progress line, at time t. */
void report_progress(report_t *rp, double t);

/* The run's end: the summary on stdout and, with --logdir, summary.json
 * with the exit status. */
void report_summary(report_t *rp, int status);

#endif
