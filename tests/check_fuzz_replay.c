/*
 * check_fuzz_replay.c — the fuzz targets as ordinary tests: each one's
 * LLVMFuzzerTestOneInput, built without libFuzzer under another name (see
 * FUZZ_ENTRY in the Makefile), is fed every file of its corpus in
 * tests/fuzz/corpus/<target>/ in name order: the generated seeds and any
 * crash the fuzzer found, kept as a regression entry. A target aborts on a
 * broken invariant, which fails the test; under `make asan` the sanitizers
 * watch the same run.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fuzz_envd_one(const uint8_t *data, size_t size);
int fuzz_ckpt_one(const uint8_t *data, size_t size);

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds every regular file of dir to fn; returns how many. */
static size_t replay_dir(const char *dir, int (*fn)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s (run from the repository root)", dir);
    char *names[4096];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < sizeof names / sizeof names[0])
        if (de->d_name[0] != '.')
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], name_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        rewind(f);
        uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
        ck_assert(buf != NULL);
        ck_assert_int_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        ck_assert_int_eq(fn(buf, (size_t)len), 0);
        free(buf);
        free(names[i]);
    }
    return n;
}

START_TEST(envd_corpus_replays_without_a_broken_invariant)
{
    ck_assert_uint_ge(replay_dir("tests/fuzz/corpus/envd", fuzz_envd_one), 8);
}
END_TEST

START_TEST(ckpt_corpus_replays_without_a_broken_invariant)
{
    ck_assert_uint_ge(replay_dir("tests/fuzz/corpus/ckpt", fuzz_ckpt_one), 8);
}
END_TEST

Suite *fuzz_replay_suite(void)
{
    Suite *s = suite_create("fuzz_replay");
    TCase *tc = tcase_create("corpus");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, envd_corpus_replays_without_a_broken_invariant);
    tcase_add_test(tc, ckpt_corpus_replays_without_a_broken_invariant);
    suite_add_tcase(s, tc);
    return s;
}
