/*
 * check_tblog.c — TensorBoard event files: the file name, the first
 * record's bytes as every TensorFlow event file has them, each record's
 * framing and CRCs, and each Event decoded back (protobuf-c here, Google's
 * protobuf through tb_read.py) to the tag, step and value written,
 * 0.0 included; and the truncation a resumed run does.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tb_event.pb-c.h"
#include "tblog.h"
#include "tbread.h"
#include "tmpdir.h"

typedef struct scalar {
    const char *tag;
    int64_t step;
    double value;
} scalar_t;

static char long_tag[301];

static const scalar_t scalars[] = {
    {"train/return", 0, 1.5},
    {"zero", 10, 0.0},
    {"negative", 20, -3.25},
    {"train/return", 30, 0.1}, /* not a float: comes back as (float)0.1 */
    {"big_step", (int64_t)1 << 40, 475},
    {long_tag, 40, 1e30},
    {"neg_zero", 50, -0.0},
};
#define NSCALARS (sizeof scalars / sizeof scalars[0])

static void write_scalars(const char *dir, char *path, size_t n)
{
    memset(long_tag, 'x', sizeof long_tag - 1);
    tblog_t *t;
    errbuf_t e;
    ck_assert_msg(tblog_open(dir, &t, &e) == 0, "%s", e.msg);
    for (size_t i = 0; i < NSCALARS; i++)
        ck_assert_int_eq(tblog_scalar(t, scalars[i].tag, scalars[i].step, scalars[i].value), 0);
    ck_assert_int_eq(tblog_flush(t), 0);
    snprintf(path, n, "%s", tblog_path(t));
    tblog_close(&t);
    ck_assert_ptr_null(t);
    tblog_close(&t);
}

START_TEST(test_open_creates_dir_and_names_file_by_time_and_host)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char dir[600], path[900], host[256], want[900];
    tmpdir_file(&d, "runs/a", dir, sizeof dir);
    long long before = (long long)time(NULL);
    write_scalars(dir, path, sizeof path);
    long long after = (long long)time(NULL);
    ck_assert_int_eq(gethostname(host, sizeof host), 0);
    int ok = 0;
    for (long long s = before; s <= after; s++) {
        snprintf(want, sizeof want, "%s/events.out.tfevents.%lld.%s", dir, s, host);
        ok |= strcmp(path, want) == 0;
    }
    ck_assert_msg(ok, "unexpected file name %s", path);
    ck_assert_int_eq(access(path, R_OK), 0);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_first_record_is_file_version_as_in_tensorflow_files)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char path[900];
    double before = (double)time(NULL);
    write_scalars(d.path, path, sizeof path);
    tbread_t r;
    tbread_load(path, &r);
    /* Length 24, then its masked CRC: the 12 bytes every TF event file starts with. */
    static const unsigned char tf_start[12] = {0x18, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0x7f, 0x4b, 0x22};
    ck_assert_mem_eq(r.file, tf_start, sizeof tf_start);
    Tensorflow__Event *ev = tensorflow__event__unpack(NULL, r.recs[0].len, r.recs[0].data);
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_eq(ev->what_case, TENSORFLOW__EVENT__WHAT_FILE_VERSION);
    ck_assert_str_eq(ev->file_version, "brain.Event:2");
    ck_assert_int_eq(ev->step, 0);
    ck_assert(ev->wall_time >= before && ev->wall_time <= (double)time(NULL) + 1);
    tensorflow__event__free_unpacked(ev, NULL);
    tbread_free(&r);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_scalars_decode_to_what_was_written)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char path[900];
    write_scalars(d.path, path, sizeof path);
    tbread_t r;
    tbread_load(path, &r);
    ck_assert_uint_eq(r.n, 1 + NSCALARS);
    for (size_t i = 0; i < NSCALARS; i++) {
        const scalar_t *want = &scalars[i];
        Tensorflow__Event *ev = tensorflow__event__unpack(NULL, r.recs[i + 1].len, r.recs[i + 1].data);
        ck_assert_ptr_nonnull(ev);
        ck_assert_int_eq(ev->what_case, TENSORFLOW__EVENT__WHAT_SUMMARY);
        ck_assert_int_eq(ev->step, want->step);
        ck_assert(ev->wall_time > 1.6e9);
        ck_assert_uint_eq(ev->summary->n_value, 1);
        Tensorflow__Summary__Value *v = ev->summary->value[0];
        ck_assert_str_eq(v->tag, want->tag);
        /* Present on the wire, not defaulted: the case is set only by a field seen. */
        ck_assert_int_eq(v->value_case, TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE);
        float f = (float)want->value;
        ck_assert_mem_eq(&v->simple_value, &f, sizeof f);
        tensorflow__event__free_unpacked(ev, NULL);
    }
    tbread_free(&r);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_zero_value_is_on_the_wire)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char path[900];
    write_scalars(d.path, path, sizeof path);
    tbread_t r;
    tbread_load(path, &r);
    /* Record 2 is {"zero", 10, 0.0}: its Summary.Value must hold field 2 as
     * fixed32 (key 0x15) followed by four zero bytes. */
    const tbread_rec_t *rec = &r.recs[2];
    static const unsigned char value_bytes[] = {0x0a, 0x04, 'z', 'e', 'r', 'o', 0x15, 0, 0, 0, 0};
    ck_assert_ptr_nonnull(memmem(rec->data, rec->len, value_bytes, sizeof value_bytes));
    tbread_free(&r);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_google_protobuf_reads_the_same_scalars)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char path[900], cmd[1200];
    write_scalars(d.path, path, sizeof path);
    char want[4096] = "file_version\tbrain.Event:2\n";
    for (size_t i = 0; i < NSCALARS; i++) {
        size_t k = strlen(want);
        snprintf(want + k, sizeof want - k, "%s\t%lld\t%.9g\n", scalars[i].tag, (long long)scalars[i].step,
                 (double)(float)scalars[i].value);
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/tb_read.py '%s'", path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char got[4096];
    size_t n = fread(got, 1, sizeof got - 1, p);
    got[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_str_eq(got, want);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_second_file_in_same_second_does_not_clobber_first)
{
    tmpdir_t d;
    tmpdir_make(&d);
    tblog_t *a, *b;
    errbuf_t e;
    ck_assert_int_eq(tblog_open(d.path, &a, &e), 0);
    ck_assert_int_eq(tblog_open(d.path, &b, &e), 0);
    ck_assert_str_ne(tblog_path(a), tblog_path(b));
    ck_assert_int_eq(tblog_scalar(a, "a", 1, 1.0), 0);
    ck_assert_int_eq(tblog_scalar(b, "b", 1, 2.0), 0);
    tblog_close(&a);
    tblog_close(&b);
    ck_assert_int_eq(tmpdir_count(&d, "events.out.tfevents."), 2);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(test_bad_tag_and_bad_dir_are_refused)
{
    tmpdir_t d;
    tmpdir_make(&d);
    tblog_t *t;
    errbuf_t e;
    ck_assert_int_eq(tblog_open(d.path, &t, &e), 0);
    ck_assert_int_eq(tblog_scalar(t, "", 1, 1.0), ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(tblog_error(t), "empty scalar tag"));
    tblog_close(&t);
    char file[600], under[700];
    tmpdir_file(&d, "plain", file, sizeof file);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(under, sizeof under, "%s/logs", file);
    t = (tblog_t *)&e;
    ck_assert_int_eq(tblog_open(under, &t, &e), ERR_IO);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(e.msg, file));
    tmpdir_remove(&d);
}
END_TEST

/* The steps of the scalar records of path, in order; their number. */
static size_t file_steps(const char *path, int64_t *steps, size_t max)
{
    tbread_t rd;
    tbread_load(path, &rd); /* fails on any cut-off or damaged record */
    size_t n = 0;
    for (size_t k = 1; k < rd.n && n < max; k++) {
        Tensorflow__Event *ev = tensorflow__event__unpack(NULL, rd.recs[k].len, rd.recs[k].data);
        ck_assert_ptr_nonnull(ev);
        steps[n++] = ev->step;
        tensorflow__event__free_unpacked(ev, NULL);
    }
    tbread_free(&rd);
    return n;
}

START_TEST(test_truncate_drops_records_after_the_step_and_a_damaged_tail)
{
    tmpdir_t d;
    tmpdir_make(&d);
    char path[700];
    write_scalars(d.path, path, sizeof path);
    errbuf_t e;
    int64_t dropped = -1, steps[16];
    /* Steps 0, 10, 20, 30, 2^40, 40, 50: from 30 on, 4 records go. */
    ck_assert_msg(tblog_truncate(path, 20, &dropped, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(dropped, 4);
    ck_assert_uint_eq(file_steps(path, steps, 16), 3);
    ck_assert_int_eq(steps[2], 20);
    ck_assert_int_eq(tblog_truncate(path, 20, &dropped, &e), 0); /* again: nothing to do */
    ck_assert_int_eq(dropped, 0);

    /* A record cut off by a crash, then one damaged: both cut, the whole
     * records before them kept. */
    size_t len = 0;
    char *whole = tmpdir_slurp(path, &len);
    FILE *f = fopen(path, "ab");
    fwrite(whole + len - 30, 1, 20, f);
    fclose(f);
    ck_assert_int_eq(tblog_truncate(path, 1000, &dropped, &e), 0);
    ck_assert_int_eq(dropped, 0);
    ck_assert_uint_eq(file_steps(path, steps, 16), 3);
    whole[len - 1] ^= 1; /* the last record's data CRC */
    f = fopen(path, "wb");
    fwrite(whole, 1, len, f);
    fclose(f);
    ck_assert_int_eq(tblog_truncate(path, 1000, &dropped, &e), 0);
    ck_assert_uint_eq(file_steps(path, steps, 16), 2);
    ck_assert_int_eq(steps[1], 10);
    free(whole);

    ck_assert_int_eq(tblog_truncate(tmpdir_file(&d, "none", path, sizeof path), 0, NULL, &e), ERR_IO);
    tmpdir_remove(&d);
}
END_TEST

Suite *tblog_suite(void)
{
    Suite *s = suite_create("tblog");
    TCase *tc = tcase_create("events");
    tcase_add_test(tc, test_open_creates_dir_and_names_file_by_time_and_host);
    tcase_add_test(tc, test_first_record_is_file_version_as_in_tensorflow_files);
    tcase_add_test(tc, test_scalars_decode_to_what_was_written);
    tcase_add_test(tc, test_zero_value_is_on_the_wire);
    tcase_add_test(tc, test_second_file_in_same_second_does_not_clobber_first);
    tcase_add_test(tc, test_bad_tag_and_bad_dir_are_refused);
    tcase_add_test(tc, test_truncate_drops_records_after_the_step_and_a_damaged_tail);
    suite_add_tcase(s, tc);
    tc = tcase_create("python");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_google_protobuf_reads_the_same_scalars);
    suite_add_tcase(s, tc);
    return s;
}
