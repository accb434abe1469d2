/*
 * check_checkpoint.c — the checkpoint file: byte layout, round trip, every
 * way a file can be damaged, and atomicity under SIGKILL.
 *
 * The raw files for the damage tests are built here by a second, separate
 * encoder (build_*), so a forged-but-CRC-valid file can say anything: that
 * is what a fuzzer will do to ckpt_parse.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "tmpdir.h"

/* --------------------------------------------------------------- helpers */

typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes_t;

static void put(bytes_t *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_le(bytes_t *b, uint64_t v, int width)
{
    unsigned char tmp[8];
    for (int i = 0; i < width; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    put(b, tmp, (size_t)width);
}

static void build_header(bytes_t *b, uint32_t version, uint32_t count)
{
    put(b, "AGENTDCK", 8);
    put_le(b, version, 4);
    put_le(b, count, 4);
}

static void build_section(bytes_t *b, const char *tag8, uint64_t len, const void *data, size_t ndata)
{
    put(b, tag8, 8);
    put_le(b, len, 8);
    put(b, data, ndata);
}

static void build_crc(bytes_t *b)
{
    put_le(b, crc32c(b->p, b->n), 4);
}

/* The small file the damage tests start from: three sections, one empty. */
static bytes_t small_file(void)
{
    bytes_t b = {0};
    build_header(&b, 1, 3);
    build_section(&b, "net\0\0\0\0\0", 12, "0123456789ab", 12);
    build_section(&b, "empty\0\0\0", 0, NULL, 0);
    build_section(&b, "counters", 5, "hello", 5);
    build_crc(&b);
    return b;
}

static int parse_code(const void *p, size_t n, errbuf_t *e)
{
    ckpt_t *c = (ckpt_t *)e; /* must come back NULL on failure */
    int rc = ckpt_parse(p, n, &c, e);
    if (rc)
        ck_assert_ptr_null(c);
    ckpt_destroy(&c);
    return rc;
}

static void fill_pattern(unsigned char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

/* ----------------------------------------------------------- round trip */

START_TEST(test_file_bytes_match_the_documented_layout)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char path[600];
    errbuf_t e;
    tmpdir_file(&t, "ck", path, sizeof path);
    ckpt_section_t s[] = {{"net", "0123456789ab", 12}, {"empty", NULL, 0}, {"counters", "hello", 5}};
    ck_assert_int_eq(ckpt_save(path, s, 3, &e), 0);
    size_t n;
    char *got = tmpdir_slurp(path, &n);
    bytes_t want = small_file();
    ck_assert_uint_eq(n, want.n);
    ck_assert_mem_eq(got, want.p, n);
    free(got);
    free(want.p);
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_round_trip_keeps_every_section_including_empty_and_10mb)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char path[600];
    errbuf_t e;
    tmpdir_file(&t, "ck", path, sizeof path);
    size_t big_n = 10u << 20;
    unsigned char *big = malloc(big_n);
    fill_pattern(big, big_n, 7);
    double cfg[3] = {0.5, -1e300, 42};
    ckpt_section_t s[] = {
        {"config", cfg, sizeof cfg}, {"empty", NULL, 0}, {"weights", big, big_n}, {"replay01", "r", 1}};
    ck_assert_int_eq(ckpt_save(path, s, 4, &e), 0);

    ckpt_t *c;
    ck_assert_msg(ckpt_load(path, &c, &e) == 0, "%s", e.msg);
    size_t n;
    const ckpt_section_t *got = ckpt_sections(c, &n);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++) {
        ck_assert_mem_eq(got[i].tag, s[i].tag, 8);
        ck_assert_uint_eq(got[i].len, s[i].len);
        if (s[i].len)
            ck_assert_mem_eq(got[i].data, s[i].data, s[i].len);
    }
    uint64_t len = 99;
    ck_assert_ptr_nonnull(ckpt_get(c, "empty", &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_eq(ckpt_get(c, "weights", &len), got[2].data);
    ck_assert_uint_eq(len, big_n);
    ck_assert_ptr_eq(ckpt_get(c, "replay01", NULL), got[3].data);
    ck_assert_ptr_null(ckpt_get(c, "absent", &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(ckpt_get(c, "replay01x", NULL));
    ck_assert_ptr_null(ckpt_get(c, "", NULL));
    double cfg2[3];
    ck_assert_int_eq(ckpt_get_exact(c, "config", cfg2, sizeof cfg2, &e), 0);
    ck_assert_mem_eq(cfg2, cfg, sizeof cfg);
    ckpt_destroy(&c);
    ck_assert_ptr_null(c);
    ckpt_destroy(&c);
    free(big);
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_zero_sections_round_trip)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char path[600];
    errbuf_t e;
    tmpdir_file(&t, "ck", path, sizeof path);
    ck_assert_int_eq(ckpt_save(path, NULL, 0, &e), 0);
    ckpt_t *c;
    ck_assert_int_eq(ckpt_load(path, &c, &e), 0);
    size_t n = 9;
    ckpt_sections(c, &n);
    ck_assert_uint_eq(n, 0);
    ckpt_destroy(&c);
    tmpdir_remove(&t);
}
END_TEST

/* --------------------------------------------------------------- damage */

START_TEST(test_every_truncation_is_corrupt)
{
    bytes_t b = small_file();
    errbuf_t e;
    ck_assert_int_eq(parse_code(b.p, b.n, &e), 0);
    for (size_t k = 0; k < b.n; k++) {
        /* An exact-size copy, so an over-read would be a real one. */
        unsigned char *p = malloc(k ? k : 1);
        memcpy(p, b.p, k);
        int rc = parse_code(p, k, &e);
        ck_assert_msg(rc == ERR_CORRUPT, "truncated to %zu of %zu bytes: %d %s", k, b.n, rc, e.msg);
        free(p);
    }
    free(b.p);
}
END_TEST

START_TEST(test_truncated_file_on_disk_is_corrupt_naming_the_path)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char path[600];
    errbuf_t e;
    tmpdir_file(&t, "ck", path, sizeof path);
    bytes_t b = small_file();
    FILE *f = fopen(path, "wb");
    fwrite(b.p, 1, b.n - 7, f);
    fclose(f);
    ckpt_t *c;
    ck_assert_int_eq(ckpt_load(path, &c, &e), ERR_CORRUPT);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(e.msg, path));
    ck_assert_ptr_nonnull(strstr(e.msg, "CRC mismatch (file damaged or truncated)"));
    free(b.p);
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_every_flipped_bit_is_corrupt)
{
    bytes_t b = small_file();
    errbuf_t e;
    for (size_t i = 0; i < b.n * 8; i++) {
        b.p[i / 8] ^= (unsigned char)(1u << (i % 8));
        int rc = parse_code(b.p, b.n, &e);
        ck_assert_msg(rc == ERR_CORRUPT, "bit %zu flipped: %d %s", i, rc, e.msg);
        b.p[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    ck_assert_int_eq(parse_code(b.p, b.n, &e), 0);
    free(b.p);
}
END_TEST

START_TEST(test_bad_magic_is_not_an_agentd_checkpoint)
{
    errbuf_t e;
    const char *text = "this is a text file, certainly not a checkpoint\n";
    ck_assert_int_eq(parse_code(text, strlen(text), &e), ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(e.msg, "not an agentd checkpoint"));
    bytes_t b = small_file();
    b.p[7] = 'X';
    ck_assert_int_eq(parse_code(b.p, b.n, &e), ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(e.msg, "not an agentd checkpoint"));
    ck_assert_int_eq(parse_code("AGE", 3, &e), ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(e.msg, "truncated"));
    ck_assert_int_eq(parse_code("", 0, &e), ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(e.msg, "empty"));
    free(b.p);
}
END_TEST

START_TEST(test_future_version_says_newer)
{
    errbuf_t e;
    bytes_t b = {0};
    build_header(&b, 7, 0);
    build_crc(&b);
    ck_assert_int_eq(parse_code(b.p, b.n, &e), ERR_CORRUPT);
    ck_assert_str_eq(e.msg, "checkpoint <memory>: version 7 is newer than this agentd supports (1)");
    b.n = 0;
    build_header(&b, 0, 0);
    build_crc(&b);
    ck_assert_int_eq(parse_code(b.p, b.n, &e), ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(e.msg, "version 0"));
    free(b.p);
}
END_TEST

/* A file with a valid CRC whose table lies: forged, or written by a bug. */
static void expect_forged(bytes_t *b, const char *needle)
{
    errbuf_t e;
    build_crc(b);
    int rc = parse_code(b->p, b->n, &e);
    ck_assert_msg(rc == ERR_CORRUPT && strstr(e.msg, needle), "want '%s', got %d '%s'", needle, rc, e.msg);
    free(b->p);
    *b = (bytes_t){0};
}

START_TEST(test_forged_tables_with_valid_crc_are_corrupt)
{
    bytes_t b = {0};
    /* More sections than bytes could hold. */
    build_header(&b, 1, 0xFFFFFFFFu);
    expect_forged(&b, "cannot fit");
    /* A length running past the end, and one that would wrap a size_t. */
    build_header(&b, 1, 1);
    build_section(&b, "net\0\0\0\0\0", 13, "0123456789ab", 12);
    expect_forged(&b, "claims 13 bytes, only 12 remain");
    build_header(&b, 1, 1);
    build_section(&b, "net\0\0\0\0\0", UINT64_MAX, "x", 1);
    expect_forged(&b, "claims 18446744073709551615 bytes");
    /* Two sections declared, the second's header cut short. */
    build_header(&b, 1, 2);
    build_section(&b, "a\0\0\0\0\0\0\0", 10, "0123456789", 10);
    put(&b, "b\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    b.n -= 1;
    expect_forged(&b, "header runs past the end");
    /* Bytes after the last section. */
    build_header(&b, 1, 1);
    build_section(&b, "a\0\0\0\0\0\0\0", 1, "xy", 2);
    expect_forged(&b, "1 stray bytes");
    /* Tags: empty, garbage after the NUL, twice the same. */
    build_header(&b, 1, 1);
    build_section(&b, "\0\0\0\0\0\0\0\0", 0, NULL, 0);
    expect_forged(&b, "empty or badly padded tag");
    build_header(&b, 1, 1);
    build_section(&b, "ab\0c\0\0\0\0", 0, NULL, 0);
    expect_forged(&b, "empty or badly padded tag");
    build_header(&b, 1, 3);
    build_section(&b, "w\0\0\0\0\0\0\0", 1, "1", 1);
    build_section(&b, "v\0\0\0\0\0\0\0", 1, "2", 1);
    build_section(&b, "w\0\0\0\0\0\0\0", 1, "3", 1);
    expect_forged(&b, "section 'w' appears twice");
}
END_TEST

/* Random overwrites with the CRC fixed up, so the table checks are what is
 * exercised: never a crash (Check would report the signal), and any file
 * accepted has its sections inside the buffer. */
START_TEST(test_random_forgeries_never_crash)
{
    bytes_t base = small_file();
    size_t body = base.n - 4;
    uint32_t x = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        unsigned char p[128];
        ck_assert_uint_le(base.n, sizeof p);
        memcpy(p, base.p, base.n);
        size_t n = base.n;
        int edits = 1 + iter % 4;
        for (int k = 0; k < edits; k++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            p[8 + x % (body - 8)] = (unsigned char)(x >> 8);
        }
        uint32_t crc = crc32c(p, body);
        for (int i = 0; i < 4; i++)
            p[body + i] = (unsigned char)(crc >> (8 * i));
        ckpt_t *c = NULL;
        errbuf_t e;
        int rc = ckpt_parse(p, n, &c, &e);
        ck_assert(rc == 0 || rc == ERR_CORRUPT);
        if (rc == 0) {
            size_t ns;
            const ckpt_section_t *s = ckpt_sections(c, &ns);
            uint64_t total = 16 + 4;
            for (size_t i = 0; i < ns; i++)
                total += 16 + s[i].len;
            ck_assert_uint_eq(total, n);
        }
        ckpt_destroy(&c);
    }
    free(base.p);
}
END_TEST

/* ----------------------------------------------------------------- access */

START_TEST(test_get_exact_reports_shape_mismatch_and_leaves_dst)
{
    bytes_t b = small_file();
    errbuf_t e;
    ckpt_t *c;
    ck_assert_int_eq(ckpt_parse(b.p, b.n, &c, &e), 0);
    char dst[16];
    memset(dst, '#', sizeof dst);
    ck_assert_int_eq(ckpt_get_exact(c, "net", dst, 16, &e), ERR_CORRUPT);
    ck_assert_str_eq(e.msg, "checkpoint <memory>: section 'net' is 12 bytes, expected 16");
    for (size_t i = 0; i < sizeof dst; i++)
        ck_assert_int_eq(dst[i], '#');
    ck_assert_int_eq(ckpt_get_exact(c, "qnet", dst, 16, &e), ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(e.msg, "no section 'qnet'"));
    ck_assert_int_eq(ckpt_get_exact(c, "net", dst, 12, &e), 0);
    ck_assert_mem_eq(dst, "0123456789ab", 12);
    ck_assert_int_eq(dst[12], '#');
    ck_assert_int_eq(ckpt_get_exact(c, "empty", NULL, 0, &e), 0);
    ckpt_destroy(&c);
    free(b.p);
}
END_TEST

START_TEST(test_missing_file_is_io_error_with_enoent)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char path[600];
    errbuf_t e;
    tmpdir_file(&t, "never-saved", path, sizeof path);
    ckpt_t *c = (ckpt_t *)&e;
    ck_assert_int_eq(ckpt_load(path, &c, &e), ERR_IO);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(e.msg, path));
    ck_assert_ptr_nonnull(strstr(e.msg, "No such file or directory"));
    ck_assert_int_eq(ckpt_load(t.path, &c, &e), ERR_IO); /* a directory */
    tmpdir_remove(&t);
}
END_TEST

START_TEST(test_save_rejects_bad_sections_and_writes_nothing)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char path[600];
    errbuf_t e;
    tmpdir_file(&t, "ck", path, sizeof path);
    ckpt_section_t empty_tag[] = {{"", "x", 1}};
    ck_assert_int_eq(ckpt_save(path, empty_tag, 1, &e), ERR_INVALID_ARGUMENT);
    ckpt_section_t dup[] = {{"a", "x", 1}, {"b", "y", 1}, {"a", "z", 1}};
    ck_assert_int_eq(ckpt_save(path, dup, 3, &e), ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(e.msg, "'a' appears twice"));
    ckpt_section_t no_data[] = {{"a", NULL, 4}};
    ck_assert_int_eq(ckpt_save(path, no_data, 1, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(tmpdir_count(&t, ""), 0);
    tmpdir_file(&t, "no/such/dir/ck", path, sizeof path);
    ckpt_section_t ok[] = {{"a", "x", 1}};
    ck_assert_int_eq(ckpt_save(path, ok, 1, &e), ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, path));
    tmpdir_remove(&t);
}
END_TEST

/* ------------------------------------------------------------- atomicity */

#define ATOM_A_LEN (1u << 20)
#define ATOM_B_LEN (2u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 'A' or 'B' if path holds exactly that checkpoint, else 0. */
static char which(const char *path, const unsigned char *a, const unsigned char *b)
{
    ckpt_t *c;
    errbuf_t e;
    if (ckpt_load(path, &c, &e) != 0)
        return 0;
    size_t n;
    const ckpt_section_t *s = ckpt_sections(c, &n);
    char r = 0;
    if (n == 2 && memcmp(s[0].tag, "name\0\0\0\0", 8) == 0 && s[0].len == 1 &&
        memcmp(s[1].tag, "payload\0", 8) == 0) {
        const char *name = s[0].data;
        if (*name == 'A' && s[1].len == ATOM_A_LEN && memcmp(s[1].data, a, ATOM_A_LEN) == 0)
            r = 'A';
        if (*name == 'B' && s[1].len == ATOM_B_LEN && memcmp(s[1].data, b, ATOM_B_LEN) == 0)
            r = 'B';
    }
    ckpt_destroy(&c);
    return r;
}

START_TEST(test_sigkill_during_save_leaves_old_or_new_never_a_mix)
{
    tmpdir_t t;
    tmpdir_make(&t);
    char path[600], probe[600], tmp[700];
    errbuf_t e;
    tmpdir_file(&t, "ck", path, sizeof path);
    tmpdir_file(&t, "probe", probe, sizeof probe);
    unsigned char *a = malloc(ATOM_A_LEN), *b = malloc(ATOM_B_LEN);
    fill_pattern(a, ATOM_A_LEN, 1);
    fill_pattern(b, ATOM_B_LEN, 2);
    ckpt_section_t sa[] = {{"name", "A", 1}, {"payload", a, ATOM_A_LEN}};
    ckpt_section_t sb[] = {{"name", "B", 1}, {"payload", b, ATOM_B_LEN}};

    /* How long a save of B takes here, so the kills land all through it. */
    double t0 = now_s();
    ck_assert_int_eq(ckpt_save(probe, sb, 2, &e), 0);
    double save_s = now_s() - t0;
    unlink(probe);

    int last_b = 0, mid_write = 0;
    uint32_t x = 2024;
    for (int iter = 0; iter < 50; iter++) {
        if (iter == 0 || last_b) /* start each round from A */
            ck_assert_int_eq(ckpt_save(path, sa, 2, &e), 0);
        ck_assert_int_eq(which(path, a, b), 'A');
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        double delay = save_s * 2.5 * (x % 1000) / 1000.0;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(ckpt_save(path, sb, 2, NULL) == 0 ? 0 : 1);
        usleep((useconds_t)(delay * 1e6));
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)pid);
        if (access(tmp, F_OK) == 0)
            mid_write++;
        char got = which(path, a, b);
        ck_assert_msg(got == 'A' || got == 'B', "round %d: path holds neither A nor B", iter);
        last_b = got == 'B';
    }
    /* The kills must actually have hit saves in progress for this to prove
     * anything; stale temporaries were left and are not the checkpoint. */
    ck_assert_msg(mid_write > 0, "no kill landed mid-write (save took %.3f s)", save_s);
    ck_assert_int_eq(tmpdir_count(&t, "ck.tmp."), mid_write);
    ck_assert_int_eq(tmpdir_count(&t, ""), 1 + mid_write);
    char got = which(path, a, b);
    ck_assert(got == 'A' || got == 'B');
    free(a);
    free(b);
    tmpdir_remove(&t);
}
END_TEST

Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_file_bytes_match_the_documented_layout);
    tcase_add_test(tc, test_round_trip_keeps_every_section_including_empty_and_10mb);
    tcase_add_test(tc, test_zero_sections_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("damage");
    tcase_add_test(tc, test_every_truncation_is_corrupt);
    tcase_add_test(tc, test_truncated_file_on_disk_is_corrupt_naming_the_path);
    tcase_add_test(tc, test_every_flipped_bit_is_corrupt);
    tcase_add_test(tc, test_bad_magic_is_not_an_agentd_checkpoint);
    tcase_add_test(tc, test_future_version_says_newer);
    tcase_add_test(tc, test_forged_tables_with_valid_crc_are_corrupt);
    tcase_add_test(tc, test_random_forgeries_never_crash);
    suite_add_tcase(s, tc);

    tc = tcase_create("access");
    tcase_add_test(tc, test_get_exact_reports_shape_mismatch_and_leaves_dst);
    tcase_add_test(tc, test_missing_file_is_io_error_with_enoent);
    tcase_add_test(tc, test_save_rejects_bad_sections_and_writes_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("atomic");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sigkill_during_save_leaves_old_or_new_never_a_mix);
    suite_add_tcase(s, tc);
    return s;
}
