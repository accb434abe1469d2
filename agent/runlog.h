/*
 * runlog.h — what agentd's --logdir holds: progress.csv, TensorBoard
 * curves, and whole files such as summary.json.
 *
 * progress.csv has a header of the column names given at open, then one
 * line per runlog_row: the values in column order, written so that strtod
 * reads back the same double, a NaN as an empty cell. Every value that is
 * not NaN also goes to TensorBoard as a scalar tagged with its column name
 * at the row's step. Both are flushed at each row, so a crash loses at most
 * the row being written and a live run can be watched or plotted
 * (`make plot RUN=DIR`).
 *
 * One folder holds one run, so that TensorBoard, which draws each folder
 * as one run, never joins two into one zig-zag line. A run has an id
 * (runlog_new_id), kept in its folder's run_id file and in its
 * checkpoints. runlog_open(DIR, ...) writes into DIR itself when DIR holds
 * no run yet, and otherwise into a new DIR/agentd_N beside the others (N
 * from 2 on, one more than the highest there), as Stable-Baselines3 puts
 * its runs in PPO_1, PPO_2, ... under its tensorboard_log: a second run
 * with the same --logdir is a second line in `tensorboard --logdir DIR`,
 * nothing is refused and nothing is overwritten. A folder "holds a run"
 * when it has a progress.csv, summary.json, run_id or event file.
 *
 * The exception is the run being resumed: given the id and the step of
 * the checkpoint it resumes from, runlog_open finds the folder (DIR or a
 * DIR/agentd_N) whose run_id is that id and continues it: progress.csv
 * keeps its one header and loses its rows after that step (and a cut-off
 * last line), the event files lose their records after it, and a new event
 * file carries on, so each curve goes on from the checkpoint's step as if
 * the run had never stopped. A resumed run whose folder is not there
 * (another --logdir, or the checkpoint of a run without one) starts one
 * as a fresh run does, under its id. An existing progress.csv with
 * another header is refused.
 */
#ifndef RUNLOG_H
#define RUNLOG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The column names agent/plot.gp draws (`make plot RUN=DIR`); any others
 * are kept in the CSV and TensorBoard but not plotted. */
#define RUNLOG_ENV_STEPS "env_steps"                       /* x axis */
#define RUNLOG_TRAIN_RETURN_MEAN100 "train_return_mean100" /* mean of the last 100 training episodes */
#define RUNLOG_EVAL_MEAN "eval_mean"                       /* NaN on rows without an evaluation */
#define RUNLOG_EVAL_STD "eval_std"                         /* error bars, if the column exists */

#define RUNLOG_ID_LEN 16 /* hex digits */

typedef struct runlog runlog_t;

/* A new run id: RUNLOG_ID_LEN random lowercase hex digits and a NUL.
 * 0 or ERR_IO. */
int runlog_new_id(char id[RUNLOG_ID_LEN + 1], errbuf_t *e);

/* True for what runlog_new_id makes. */
int runlog_id_valid(const char *id);

/* Creates dir (and parents) if missing, picks the run's folder in it (see
 * above; resume_step < 0 for a fresh run, else the step of the checkpoint
 * that run run_id is resumed from), and opens its progress.csv with the
 * ncolumns column names (copied; the first holds the row's step) and a
 * new TensorBoard event file. A name that is empty or holds ',', '"', CR
 * or LF, or appears twice, or an invalid run_id, is ERR_INVALID_ARGUMENT;
 * an existing progress.csv with another header is ERR_FAILED_PRECONDITION;
 * ERR_IO for file-system failures. */
int runlog_open(const char *dir, const char *run_id, int64_t resume_step,
                const char *const *columns, size_t ncolumns, runlog_t **out, errbuf_t *e);

/* The run's folder: dir or dir/agentd_N. Borrowed. */
const char *runlog_dir(const runlog_t *r);

/* True when the folder already held this run (a resume continues it). */
int runlog_continued(const runlog_t *r);

/* Appends one row: values[i] is column i (ncolumns of them); step is the
 * TensorBoard step (agentd: environment steps). 0 or ERR_IO, with the text
 * in runlog_error. Allocates nothing. */
int runlog_row(runlog_t *r, int64_t step, const double *values);

/* Replaces dir/name with text, atomically (see fsutil.h). name is a plain
 * file name: no '/', not "." or "..", not progress.csv or run_id; else
 * ERR_INVALID_ARGUMENT. */
int runlog_write_text(runlog_t *r, const char *name, const char *text);

/* Flushes and closes everything, frees *r, sets it NULL; safe on NULL and
 * twice. */
void runlog_close(runlog_t **r);

/* The message of the last failure, "" if none. Borrowed. */
const char *runlog_error(const runlog_t *r);

#endif
