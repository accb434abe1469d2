/*
 * check_fsutil.c — mkdir -p and atomic replacement: what ends up on disk,
 * and that a failed replacement leaves the old file and no temporary.
 */
#include <check.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "tmpdir.h"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

START_TEST(test_mkdirs_creates_every_level_and_is_idempotent)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char p[600];
    errbuf_t e;
    tmpdir_file(&t, "a/b//c/", p, sizeof p);
    ck_assert_int_eq(fsutil_mkdirs(p, &e), 0);
    ck_assert(is_dir(p));
    ck_assert_int_eq(fsutil_mkdirs(p, &e), 0);
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_mkdirs_refuses_a_file_in_the_way)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char p[600], q[600];
    errbuf_t e;
    tmpdir_file(&t, "f", p, sizeof p);
    ck_assert_int_eq(fsutil_write_atomic(p, "x", 1, &e), 0);
    ck_assert_int_eq(fsutil_mkdirs(p, &e), ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, p));
    tmpdir_file(&t, "f/sub", q, sizeof q);
    ck_assert_int_eq(fsutil_mkdirs(q, &e), ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "Not a directory"));
    ck_assert_int_eq(fsutil_mkdirs("", &e), ERR_INVALID_ARGUMENT);
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_write_atomic_replaces_content_and_leaves_no_temporary)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char p[600];
    errbuf_t e;
    tmpdir_file(&t, "out.txt", p, sizeof p);
    ck_assert_int_eq(fsutil_write_atomic(p, "first version\n", 14, &e), 0);
    ck_assert_int_eq(fsutil_write_atomic(p, "second\n", 7, &e), 0);
    size_t n;
    char *got = tmpdir_slurp(p, &n);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(n, 7);
    ck_assert_str_eq(got, "second\n");
    free(got);
    ck_assert_int_eq(tmpdir_count(&t, ""), 1);
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_streamed_pieces_concatenate)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char p[600];
    errbuf_t e;
    fsutil_atomic_t *a;
    tmpdir_file(&t, "out.bin", p, sizeof p);
    ck_assert_int_eq(fsutil_atomic_open(p, &a, &e), 0);
    ck_assert_int_eq(fsutil_atomic_write(a, "ab", 2, &e), 0);
    ck_assert_int_eq(fsutil_atomic_write(a, "", 0, &e), 0);
    ck_assert_int_eq(fsutil_atomic_write(a, "cde", 3, &e), 0);
    /* Not visible until commit. */
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(fsutil_atomic_commit(&a, &e), 0);
    ck_assert_ptr_null(a);
    char *got = tmpdir_slurp(p, NULL);
    ck_assert_str_eq(got, "abcde");
    free(got);
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_abort_keeps_old_file_and_removes_temporary)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char p[600];
    errbuf_t e;
    fsutil_atomic_t *a;
    tmpdir_file(&t, "keep", p, sizeof p);
    ck_assert_int_eq(fsutil_write_atomic(p, "old", 3, &e), 0);
    ck_assert_int_eq(fsutil_atomic_open(p, &a, &e), 0);
    ck_assert_int_eq(fsutil_atomic_write(a, "new!", 4, &e), 0);
    ck_assert_int_eq(tmpdir_count(&t, "keep.tmp."), 1);
    fsutil_atomic_abort(&a);
    ck_assert_ptr_null(a);
    fsutil_atomic_abort(&a);
    ck_assert_int_eq(tmpdir_count(&t, "keep.tmp."), 0);
    char *got = tmpdir_slurp(p, NULL);
    ck_assert_str_eq(got, "old");
    free(got);
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_failed_rename_reports_and_removes_temporary)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char p[600];
    errbuf_t e;
    /* A non-empty directory at path: rename(2) of a file over it fails. */
    tmpdir_file(&t, "busy/inner", p, sizeof p);
    ck_assert_int_eq(fsutil_mkdirs(p, &e), 0);
    tmpdir_file(&t, "busy", p, sizeof p);
    ck_assert_int_eq(fsutil_write_atomic(p, "data", 4, &e), ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "rename"));
    ck_assert_ptr_nonnull(strstr(e.msg, p));
    ck_assert_int_eq(tmpdir_count(&t, "busy.tmp."), 0);
    ck_assert(is_dir(p));
    tmpdir_remove(&t);
}
END_TEST

static int exists(const tmpdir_t *t, const char *name)
{
    char p[600];
    tmpdir_file(t, name, p, sizeof p);
    return access(p, F_OK) == 0;
}

static void touch(const tmpdir_t *t, const char *fmt, long pid)
{
    char name[64], p[600];
    errbuf_t e;
    snprintf(name, sizeof name, fmt, pid);
    tmpdir_file(t, name, p, sizeof p);
    ck_assert_int_eq(fsutil_write_atomic(p, "x", 1, &e), 0);
}

START_TEST(test_remove_stale_deletes_only_temporaries_of_dead_writers)
{
    tmpdir_t t;
    tmpdir_make(&t);
    /* A dead pid: a child that has exited and been reaped. A live one: a
     * child that waits to be killed. */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    ck_assert_int_gt(dead, 0);
    waitpid(dead, NULL, 0);
    pid_t alive = fork();
    if (alive == 0) {
        pause();
        _exit(0);
    }
    ck_assert_int_gt(alive, 0);

    touch(&t, "ck", 0);
    touch(&t, "ck.tmp.%ld", dead);
    touch(&t, "ck.tmp.%ld", getpid());
    touch(&t, "ck.tmp.%ld", alive);
    touch(&t, "ck.tmp.%ldx", dead);
    touch(&t, "ck.tmp.", 0);
    touch(&t, "other.tmp.%ld", dead);
    touch(&t, "ckpt.tmp.%ld", dead);
    char path[600], name[64];
    tmpdir_file(&t, "ck", path, sizeof path);
    ck_assert_int_eq(fsutil_remove_stale(path), 2);

    ck_assert(exists(&t, "ck"));
    snprintf(name, sizeof name, "ck.tmp.%ld", (long)dead);
    ck_assert(!exists(&t, name));
    snprintf(name, sizeof name, "ck.tmp.%ld", (long)getpid());
    ck_assert(!exists(&t, name));
    snprintf(name, sizeof name, "ck.tmp.%ld", (long)alive);
    ck_assert(exists(&t, name));
    snprintf(name, sizeof name, "ck.tmp.%ldx", (long)dead);
    ck_assert(exists(&t, name));
    ck_assert(exists(&t, "ck.tmp."));
    snprintf(name, sizeof name, "other.tmp.%ld", (long)dead);
    ck_assert(exists(&t, name));
    snprintf(name, sizeof name, "ckpt.tmp.%ld", (long)dead);
    ck_assert(exists(&t, name));
    ck_assert_int_eq(fsutil_remove_stale("/nonexistent-dir/ck"), 0);

    kill(alive, SIGKILL);
    waitpid(alive, NULL, 0);
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_open_in_missing_directory_names_path_and_cause)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char p[600];
    errbuf_t e;
    fsutil_atomic_t *a = (fsutil_atomic_t *)&e; /* must be reset to NULL */
    tmpdir_file(&t, "nowhere/file", p, sizeof p);
    ck_assert_int_eq(fsutil_atomic_open(p, &a, &e), ERR_IO);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(e.code, ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, p));
    ck_assert_ptr_nonnull(strstr(e.msg, "No such file or directory"));
    tmpdir_remove(&t);
}
END_TEST

Suite *fsutil_suite(void)
{
    Suite *s = suite_create("fsutil");
    TCase *tc = tcase_create("mkdirs");
    tcase_add_test(tc, test_mkdirs_creates_every_level_and_is_idempotent);
    tcase_add_test(tc, test_mkdirs_refuses_a_file_in_the_way);
    suite_add_tcase(s, tc);
    tc = tcase_create("atomic");
    tcase_add_test(tc, test_write_atomic_replaces_content_and_leaves_no_temporary);
    tcase_add_test(tc, test_streamed_pieces_concatenate);
    tcase_add_test(tc, test_abort_keeps_old_file_and_removes_temporary);
    tcase_add_test(tc, test_failed_rename_reports_and_removes_temporary);
    tcase_add_test(tc, test_open_in_missing_directory_names_path_and_cause);
    tcase_add_test(tc, test_remove_stale_deletes_only_temporaries_of_dead_writers);
    suite_add_tcase(s, tc);
    return s;
}
