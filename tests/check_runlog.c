/*
 * check_runlog.c — the --logdir writer: progress.csv text and round trip,
 * NaN as an empty cell, the same values as TensorBoard scalars, one folder
 * per run (a second run in DIR/agentd_2, ...), resuming a run in its own
 * folder with one header and steps that go on from the checkpoint's, and
 * whole-file writes.
 */
#include <check.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runlog.h"
#include "tb_event.pb-c.h"
#include "tbread.h"
#include "tmpdir.h"

static const char *const cols[] = {RUNLOG_ENV_STEPS, RUNLOG_TRAIN_RETURN_MEAN100, RUNLOG_EVAL_MEAN,
                                   RUNLOG_EVAL_STD};
#define NCOLS 4

static const double rows[][NCOLS] = {
    {1000, 20.5, NAN, NAN},
    {2000, 35.25, 0.0, 12.5},
    {3000, 0.1, 1.0 / 3.0, 0.1 + 0.2}, /* 15, 16 and 17 digits */
};
#define NROWS 3
static const char *const rows_text = "1000,20.5,,\n"
                                     "2000,35.25,0,12.5\n"
                                     "3000,0.1,0.3333333333333333,0.30000000000000004\n";

#define ID_A "0123456789abcdef"
#define ID_B "fedcba9876543210"

/* Rows [from, to) of run id, resumed at resume_step (-1: fresh); the
 * folder the run went to, relative to dir ("" for dir itself), into
 * where. */
static void write_run(const char *dir, const char *id, int64_t resume_step, size_t from,
                      size_t to, char *where, size_t n)
{
    runlog_t *r;
    errbuf_t e;
    ck_assert_msg(runlog_open(dir, id, resume_step, cols, NCOLS, &r, &e) == 0, "%s", e.msg);
    for (size_t i = from; i < to; i++)
        ck_assert_int_eq(runlog_row(r, (int64_t)rows[i][0], rows[i]), 0);
    const char *got = runlog_dir(r);
    ck_assert_uint_ge(strlen(got), strlen(dir));
    ck_assert_mem_eq(got, dir, strlen(dir));
    if (where)
        snprintf(where, n, "%s", got[strlen(dir)] ? got + strlen(dir) + 1 : "");
    runlog_close(&r);
    ck_assert_ptr_null(r);
    runlog_close(&r);
}

static void write_rows(const char *dir, size_t from, size_t to)
{
    write_run(dir, ID_A, -1, from, to, NULL, 0);
}

static char *csv_of(const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/progress.csv", dir);
    char *s = tmpdir_slurp(path, NULL);
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(test_csv_has_header_rows_and_empty_nan_cells)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char dir[600], want[1024];
    tmpdir_file(&d, "logs/run1", dir, sizeof dir);
    write_rows(dir, 0, NROWS);
    char *csv = csv_of(dir);
    snprintf(want, sizeof want, "env_steps,train_return_mean100,eval_mean,eval_std\n%s", rows_text);
    ck_assert_str_eq(csv, want);
    free(csv);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_csv_cells_read_back_as_the_same_doubles)
{
    tmpdir_t d;
    tmpdir_make(&d);
    write_rows(d.path, 0, NROWS);
    char *csv = csv_of(d.path);
    char *line = strchr(csv, '\n') + 1;
    for (size_t i = 0; i < NROWS; i++) {
        char *p = line;
        for (size_t j = 0; j < NCOLS; j++) {
            char *end;
            if (*p == ',' || *p == '\n') {
                ck_assert(isnan(rows[i][j]));
                end = p;
            } else {
                double v = strtod(p, &end);
                ck_assert_mem_eq(&v, &rows[i][j], sizeof v);
            }
            ck_assert_int_eq(*end, j + 1 < NCOLS ? ',' : '\n');
            p = end + 1;
        }
        line = p;
    }
    ck_assert_int_eq(*line, '\0');
    free(csv);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_row_is_on_disk_before_close)
{
    tmpdir_t d;
    tmpdir_make(&d);
    runlog_t *r;
    errbuf_t e;
    ck_assert_int_eq(runlog_open(d.path, ID_A, -1, cols, NCOLS, &r, &e), 0);
    ck_assert_int_eq(runlog_row(r, 1000, rows[0]), 0);
    char *csv = csv_of(d.path);
    ck_assert_str_eq(csv, "env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n");
    free(csv);
    runlog_close(&r);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_non_nan_values_are_tensorboard_scalars)
{
    tmpdir_t d;
    tmpdir_make(&d);
    write_rows(d.path, 0, NROWS);
    char pattern[700];
    snprintf(pattern, sizeof pattern, "%s/events.out.tfevents.*", d.path);
    glob_t g;
    ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
    ck_assert_uint_eq(g.gl_pathc, 1);
    tbread_t rd;
    tbread_load(g.gl_pathv[0], &rd);
    globfree(&g);
    size_t k = 1; /* record 0 is the file version */
    for (size_t i = 0; i < NROWS; i++)
        for (size_t j = 0; j < NCOLS; j++) {
            if (isnan(rows[i][j]))
                continue;
            ck_assert_uint_lt(k, rd.n);
            Tensorflow__Event *ev = tensorflow__event__unpack(NULL, rd.recs[k].len, rd.recs[k].data);
            ck_assert_ptr_nonnull(ev);
            ck_assert_int_eq(ev->what_case, TENSORFLOW__EVENT__WHAT_SUMMARY);
            ck_assert_int_eq(ev->step, (int64_t)rows[i][0]);
            Tensorflow__Summary__Value *v = ev->summary->value[0];
            ck_assert_str_eq(v->tag, cols[j]);
            ck_assert_int_eq(v->value_case, TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE);
            float f = (float)rows[i][j];
            ck_assert_mem_eq(&v->simple_value, &f, sizeof f);
            tensorflow__event__free_unpacked(ev, NULL);
            k++;
        }
    ck_assert_uint_eq(k, rd.n); /* 10 scalars: 2 NaNs skipped */
    ck_assert_uint_eq(rd.n, 1 + NROWS * NCOLS - 2);
    tbread_free(&rd);
    tmpdir_remove(&d);
}
END_TEST

/* Every scalar step of every event file in dir, in file-name order (as
 * TensorBoard reads them), into steps; their number. */
static size_t event_steps(const char *dir, int64_t *steps, size_t max, size_t *nfiles)
{
    char pattern[700];
    snprintf(pattern, sizeof pattern, "%s/events.out.tfevents.*", dir);
    glob_t g;
    ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
    size_t n = 0;
    for (size_t f = 0; f < g.gl_pathc; f++) {
        tbread_t rd;
        tbread_load(g.gl_pathv[f], &rd);
        for (size_t k = 1; k < rd.n; k++) {
            Tensorflow__Event *ev = tensorflow__event__unpack(NULL, rd.recs[k].len, rd.recs[k].data);
            ck_assert_ptr_nonnull(ev);
            ck_assert_uint_lt(n, max);
            steps[n++] = ev->step;
            tensorflow__event__free_unpacked(ev, NULL);
        }
        tbread_free(&rd);
    }
    *nfiles = g.gl_pathc;
    globfree(&g);
    return n;
}

START_TEST(test_resume_keeps_one_header_and_continuous_steps)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char want[1024], where[64];
    /* A run writes three rows, is checkpointed at 2000 and killed; its
     * resume writes the third row again. */
    write_run(d.path, ID_A, -1, 0, NROWS, where, sizeof where);
    ck_assert_str_eq(where, "");
    write_run(d.path, ID_A, 2000, 2, NROWS, where, sizeof where);
    ck_assert_str_eq(where, "");
    char *csv = csv_of(d.path);
    snprintf(want, sizeof want, "env_steps,train_return_mean100,eval_mean,eval_std\n%s", rows_text);
    ck_assert_str_eq(csv, want);
    free(csv);
    /* The events: 1000 (2 scalars), 2000 (4) in the first file, 3000 (4)
     * in the second, once each: every curve rises. */
    int64_t steps[64];
    size_t nfiles, n = event_steps(d.path, steps, 64, &nfiles);
    ck_assert_uint_eq(nfiles, 2);
    ck_assert_uint_eq(n, 10);
    for (size_t i = 1; i < n; i++)
        ck_assert_int_ge(steps[i], steps[i - 1]);
    ck_assert_int_eq(steps[0], 1000);
    ck_assert_int_eq(steps[n - 1], 3000);
    ck_assert_int_eq(steps[6], 3000);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_resume_drops_a_cut_off_last_line)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char path[700];
    FILE *f = fopen(tmpdir_file(&d, "run_id", path, sizeof path), "w");
    fputs(ID_A "\n", f);
    fclose(f);
    tmpdir_file(&d, "progress.csv", path, sizeof path);
    f = fopen(path, "w");
    fputs("env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n2000,35.", f);
    fclose(f);
    write_run(d.path, ID_A, 1000, 1, 2, NULL, 0);
    char *csv = csv_of(d.path);
    ck_assert_str_eq(csv, "env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n2000,35.25,0,12.5\n");
    free(csv);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_each_fresh_run_gets_its_own_folder)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char where[64], path[700];
    /* A folder with only a checkpoint in it holds no run. */
    FILE *f = fopen(tmpdir_file(&d, "agentd.ckpt", path, sizeof path), "w");
    fclose(f);
    write_run(d.path, ID_A, -1, 0, 1, where, sizeof where);
    ck_assert_str_eq(where, "");
    write_run(d.path, ID_B, -1, 0, 2, where, sizeof where);
    ck_assert_str_eq(where, "agentd_2");
    /* The same id again without a resume is a new run too. */
    write_run(d.path, ID_B, -1, 0, 3, where, sizeof where);
    ck_assert_str_eq(where, "agentd_3");
    char *csv = csv_of(d.path);
    ck_assert_str_eq(csv, "env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n");
    free(csv);
    csv = csv_of(tmpdir_file(&d, "agentd_2", path, sizeof path));
    ck_assert_str_eq(csv, "env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n"
                          "2000,35.25,0,12.5\n");
    free(csv);
    char *id = tmpdir_slurp(tmpdir_file(&d, "agentd_2/run_id", path, sizeof path), NULL);
    ck_assert_str_eq(id, ID_B "\n");
    free(id);
    /* Resuming A continues the top folder, not the newest. */
    write_run(d.path, ID_A, 1000, 1, 2, where, sizeof where);
    ck_assert_str_eq(where, "");
    csv = csv_of(d.path);
    ck_assert_str_eq(csv, "env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n"
                          "2000,35.25,0,12.5\n");
    free(csv);
    /* A resume whose run is in no folder here starts one, numbered after
     * the highest (a gap left by a deleted run is not reused). */
    tmpdir_file(&d, "agentd_3", path, sizeof path);
    ck_assert_int_eq(rename(path, tmpdir_file(&d, "agentd_7", (char[700]){0}, 700)), 0);
    write_run(d.path, "00000000000000ff", 2000, 2, 3, where, sizeof where);
    ck_assert_str_eq(where, "agentd_8");
    csv = csv_of(tmpdir_file(&d, "agentd_8", path, sizeof path));
    ck_assert_str_eq(csv, "env_steps,train_return_mean100,eval_mean,eval_std\n"
                          "3000,0.1,0.3333333333333333,0.30000000000000004\n");
    free(csv);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_resume_into_an_empty_logdir_uses_it)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char where[64], path[700];
    write_run(d.path, ID_A, 2000, 2, 3, where, sizeof where);
    ck_assert_str_eq(where, "");
    char *id = tmpdir_slurp(tmpdir_file(&d, "run_id", path, sizeof path), NULL);
    ck_assert_str_eq(id, ID_A "\n");
    free(id);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_resume_with_other_columns_is_refused)
{
    tmpdir_t d;
    tmpdir_make(&d);
    write_rows(d.path, 0, 1);
    /* Resumed at 0: the row at 1000 would go, were the header this run's. */
    const char *const other[] = {"env_steps", "loss"};
    runlog_t *r = (runlog_t *)&d;
    errbuf_t e;
    ck_assert_int_eq(runlog_open(d.path, ID_A, 0, other, 2, &r, &e), ERR_FAILED_PRECONDITION);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(e.msg, "progress.csv has other columns"));
    /* A prefix of the old header is another header too. */
    ck_assert_int_eq(runlog_open(d.path, ID_A, 0, cols, 3, &r, &e), ERR_FAILED_PRECONDITION);
    char *csv = csv_of(d.path);
    ck_assert_str_eq(csv, "env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n");
    free(csv);
    int64_t steps[8];
    size_t nfiles;
    ck_assert_uint_eq(event_steps(d.path, steps, 8, &nfiles), 2); /* no event dropped */
    ck_assert_uint_eq(nfiles, 1);
    /* And a run id that is not one is refused before anything is made. */
    ck_assert_int_eq(runlog_open(d.path, "../x", -1, cols, NCOLS, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(runlog_open(d.path, "0123456789ABCDEF", -1, cols, NCOLS, &r, &e),
                     ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(tmpdir_count(&d, "agentd_"), 0);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_new_ids_are_valid_and_differ)
{
    char a[RUNLOG_ID_LEN + 1], b[RUNLOG_ID_LEN + 1];
    errbuf_t e;
    ck_assert_int_eq(runlog_new_id(a, &e), 0);
    ck_assert_int_eq(runlog_new_id(b, &e), 0);
    ck_assert(runlog_id_valid(a));
    ck_assert(runlog_id_valid(b));
    ck_assert_str_ne(a, b);
    ck_assert(!runlog_id_valid(""));
    ck_assert(!runlog_id_valid("0123456789abcde"));
    ck_assert(!runlog_id_valid("0123456789abcdef0"));
    ck_assert(!runlog_id_valid("0123456789abcdeg"));
}
END_TEST

START_TEST(test_bad_columns_are_refused)
{
    tmpdir_t d;
    tmpdir_make(&d);
    runlog_t *r;
    errbuf_t e;
    const char *const comma[] = {"a", "b,c"};
    const char *const quote[] = {"a\"b"};
    const char *const empty[] = {"a", ""};
    const char *const twice[] = {"a", "b", "a"};
    ck_assert_int_eq(runlog_open(d.path, ID_A, -1, comma, 2, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(runlog_open(d.path, ID_A, -1, quote, 1, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(runlog_open(d.path, ID_A, -1, empty, 2, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(runlog_open(d.path, ID_A, -1, twice, 3, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(e.msg, "'a' appears twice"));
    ck_assert_int_eq(runlog_open(d.path, ID_A, -1, cols, 0, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(tmpdir_count(&d, ""), 0);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_write_text_replaces_whole_file_and_refuses_paths)
{
    tmpdir_t d;
    tmpdir_make(&d);
    runlog_t *r;
    errbuf_t e;
    char path[700];
    ck_assert_int_eq(runlog_open(d.path, ID_A, -1, cols, NCOLS, &r, &e), 0);
    ck_assert_int_eq(runlog_write_text(r, "summary.json", "{\"solved\": false}\n"), 0);
    ck_assert_int_eq(runlog_write_text(r, "summary.json", "{\"solved\": true}\n"), 0);
    char *s = tmpdir_slurp(tmpdir_file(&d, "summary.json", path, sizeof path), NULL);
    ck_assert_str_eq(s, "{\"solved\": true}\n");
    free(s);
    const char *bad[] = {"", ".", "..", "../x", "a/b", "progress.csv", "run_id"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(runlog_write_text(r, bad[i], "x"), ERR_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(runlog_error(r), "not a plain file name"));
    }
    runlog_close(&r);
    /* progress.csv, run_id, the event file, summary.json: nothing else. */
    ck_assert_int_eq(tmpdir_count(&d, ""), 4);
    tmpdir_remove(&d);
}
END_TEST

/* The plot script reads the columns runlog writes (smoke test: the picture
 * itself was checked by eye when plot.gp changed). */
START_TEST(test_plot_script_renders_a_png_from_progress_csv)
{
    tmpdir_t d;
    tmpdir_make(&d);
    write_rows(d.path, 0, NROWS);
    char cmd[1200], png[700];
    snprintf(cmd, sizeof cmd, "gnuplot -e \"run='%s'\" agent/plot.gp 2>&1", d.path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[2048];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    ck_assert_msg(pclose(p) == 0, "gnuplot failed: %s", out);
    ck_assert_msg(n == 0, "gnuplot complained: %s", out);
    size_t len;
    char *img = tmpdir_slurp(tmpdir_file(&d, "learning_curve.png", png, sizeof png), &len);
    ck_assert_ptr_nonnull(img);
    ck_assert_uint_gt(len, 1000);
    ck_assert_mem_eq(img, "\x89PNG\r\n\x1a\n", 8);
    free(img);
    tmpdir_remove(&d);
}
END_TEST

Suite *runlog_suite(void)
{
    Suite *s = suite_create("runlog");
    TCase *tc = tcase_create("csv");
    tcase_add_test(tc, test_csv_has_header_rows_and_empty_nan_cells);
    tcase_add_test(tc, test_csv_cells_read_back_as_the_same_doubles);
    tcase_add_test(tc, test_row_is_on_disk_before_close);
    tcase_add_test(tc, test_non_nan_values_are_tensorboard_scalars);
    suite_add_tcase(s, tc);
    tc = tcase_create("runs");
    tcase_add_test(tc, test_resume_keeps_one_header_and_continuous_steps);
    tcase_add_test(tc, test_resume_drops_a_cut_off_last_line);
    tcase_add_test(tc, test_each_fresh_run_gets_its_own_folder);
    tcase_add_test(tc, test_resume_into_an_empty_logdir_uses_it);
    tcase_add_test(tc, test_resume_with_other_columns_is_refused);
    tcase_add_test(tc, test_new_ids_are_valid_and_differ);
    tcase_add_test(tc, test_bad_columns_are_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("text");
    tcase_add_test(tc, test_write_text_replaces_whole_file_and_refuses_paths);
    suite_add_tcase(s, tc);
    tc = tcase_create("plot");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_plot_script_renders_a_png_from_progress_csv);
    suite_add_tcase(s, tc);
    return s;
}
