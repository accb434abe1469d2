/*
 * tmpdir.h — a scratch directory per test, for the suites that write files.
 *
 * tmpdir_make creates a fresh directory under $TMPDIR (or /tmp);
 * tmpdir_remove deletes it with everything in it. Header-only: tests are
 * the only users and Check forks each test, so nothing outlives it.
 */
#ifndef TMPDIR_H
#define TMPDIR_H

#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct tmpdir {
    char path[512];
} tmpdir_t;

static inline void tmpdir_make(tmpdir_t *t)
{
    const char *base = getenv("TMPDIR");
    snprintf(t->path, sizeof t->path, "%s/agentd-test-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(t->path));
}

static inline int tmpdir_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static inline void tmpdir_remove(tmpdir_t *t)
{
    nftw(t->path, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Returns a path inside the directory; the buffer is the caller's. */
static inline const char *tmpdir_file(const tmpdir_t *t, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", t->path, name);
    return buf;
}

/* Number of entries in the directory whose name starts with prefix. */
static inline int tmpdir_count(const tmpdir_t *t, const char *prefix)
{
    DIR *d = opendir(t->path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Reads a whole file into a malloc'ed, NUL-terminated buffer. */
static inline char *tmpdir_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, (cap *= 2) + 1);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

#endif
