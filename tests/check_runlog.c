/*
 * check_runlog.c — the --logdir writer: progress.csv text and round trip,
 * NaN as an empty cell, the same values as TensorBoard scalars, resuming,
 * and whole-file writes.
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

static void write_rows(const char *dir, size_t from, size_t to)
{
    runlog_t *r;
    errbuf_t e;
    ck_assert_msg(runlog_open(dir, cols, NCOLS, &r, &e) == 0, "%s", e.msg);
    for (size_t i = from; i < to; i++)
        ck_assert_int_eq(runlog_row(r, (int64_t)rows[i][0], rows[i]), 0);
    runlog_close(&r);
    ck_assert_ptr_null(r);
    runlog_close(&r);
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
    ck_assert_int_eq(runlog_open(d.path, cols, NCOLS, &r, &e), 0);
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

START_TEST(test_reopen_appends_without_second_header)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char want[1024];
    write_rows(d.path, 0, 1);
    write_rows(d.path, 1, NROWS);
    char *csv = csv_of(d.path);
    snprintf(want, sizeof want, "env_steps,train_return_mean100,eval_mean,eval_std\n%s", rows_text);
    ck_assert_str_eq(csv, want);
    free(csv);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_reopen_drops_a_cut_off_last_line)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char path[700];
    tmpdir_file(&d, "progress.csv", path, sizeof path);
    FILE *f = fopen(path, "w");
    fputs("env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n2000,35.", f);
    fclose(f);
    write_rows(d.path, 1, 2);
    char *csv = csv_of(d.path);
    ck_assert_str_eq(csv, "env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n2000,35.25,0,12.5\n");
    free(csv);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_reopen_with_other_columns_is_refused)
{
    tmpdir_t d;
    tmpdir_make(&d);
    write_rows(d.path, 0, 1);
    const char *const other[] = {"env_steps", "loss"};
    runlog_t *r = (runlog_t *)&d;
    errbuf_t e;
    ck_assert_int_eq(runlog_open(d.path, other, 2, &r, &e), ERR_FAILED_PRECONDITION);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(e.msg, "progress.csv has other columns"));
    /* A prefix of the old header is another header too. */
    ck_assert_int_eq(runlog_open(d.path, cols, 3, &r, &e), ERR_FAILED_PRECONDITION);
    char *csv = csv_of(d.path);
    ck_assert_str_eq(csv, "env_steps,train_return_mean100,eval_mean,eval_std\n1000,20.5,,\n");
    free(csv);
    tmpdir_remove(&d);
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
    ck_assert_int_eq(runlog_open(d.path, comma, 2, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(runlog_open(d.path, quote, 1, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(runlog_open(d.path, empty, 2, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(runlog_open(d.path, twice, 3, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(e.msg, "'a' appears twice"));
    ck_assert_int_eq(runlog_open(d.path, cols, 0, &r, &e), ERR_INVALID_ARGUMENT);
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
    ck_assert_int_eq(runlog_open(d.path, cols, NCOLS, &r, &e), 0);
    ck_assert_int_eq(runlog_write_text(r, "summary.json", "{\"solved\": false}\n"), 0);
    ck_assert_int_eq(runlog_write_text(r, "summary.json", "{\"solved\": true}\n"), 0);
    char *s = tmpdir_slurp(tmpdir_file(&d, "summary.json", path, sizeof path), NULL);
    ck_assert_str_eq(s, "{\"solved\": true}\n");
    free(s);
    const char *bad[] = {"", ".", "..", "../x", "a/b", "progress.csv"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(runlog_write_text(r, bad[i], "x"), ERR_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(runlog_error(r), "not a plain file name"));
    }
    runlog_close(&r);
    /* progress.csv, the event file, summary.json: nothing else. */
    ck_assert_int_eq(tmpdir_count(&d, ""), 3);
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
    tc = tcase_create("reopen");
    tcase_add_test(tc, test_reopen_appends_without_second_header);
    tcase_add_test(tc, test_reopen_drops_a_cut_off_last_line);
    tcase_add_test(tc, test_reopen_with_other_columns_is_refused);
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
