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
 * Re-opening a directory whose progress.csv has the same header appends to
 * it, so a run resumed from a checkpoint continues its curve (rows written
 * after that checkpoint appear twice, with their steps); a cut-off last
 * line is dropped first. A different header is refused.
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

typedef struct runlog runlog_t;

/* Creates dir (and parents) if missing, opens or resumes dir/progress.csv
 * with the ncolumns column names (copied) and a new TensorBoard event file
 * in dir. A name that is empty or holds ',', '"', CR or LF, or appears
 * twice, is ERR_INVALID_ARGUMENT; an existing progress.csv with another
 * header is ERR_FAILED_PRECONDITION; ERR_IO for file-system failures. */
int runlog_open(const char *dir, const char *const *columns, size_t ncolumns, runlog_t **out, errbuf_t *e);

/* Appends one row: values[i] is column i (ncolumns of them); step is the
 * TensorBoard step (agentd: environment steps). 0 or ERR_IO, with the text
 * in runlog_error. Allocates nothing. */
int runlog_row(runlog_t *r, int64_t step, const double *values);

/* Replaces dir/name with text, atomically (see fsutil.h). name is a plain
 * file name: no '/', not "." or "..", not progress.csv; else
 * ERR_INVALID_ARGUMENT. */
int runlog_write_text(runlog_t *r, const char *name, const char *text);

/* Flushes and closes everything, frees *r, sets it NULL; safe on NULL and
 * twice. */
void runlog_close(runlog_t **r);

/* The message of the last failure, "" if none. Borrowed. */
const char *runlog_error(const runlog_t *r);

#endif
