/*
 * fsutil.c — mkdir -p and atomic file replacement (see fsutil.h).
 *
 * The order in fsutil_atomic_commit is what makes a replacement survive
 * power loss as well as a kill: the data must be on disk (fsync of the
 * file) before the rename makes it visible, and the rename itself is only
 * durable once the directory is fsync'ed.
 */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fsutil_atomic {
    FILE *f;
    char *path;
    char *tmp; /* "<path>.tmp.<pid>" */
};

/* ------------------------------------------------------------ directories */

int fsutil_mkdirs(const char *dir, errbuf_t *e)
{
    if (!dir || !*dir)
        return err_set(e, ERR_INVALID_ARGUMENT, "mkdir: empty directory name");
    char *p = strdup(dir);
    if (!p)
        return err_set(e, ERR_NOMEM, "mkdir %s: out of memory", dir);
    /* Walk the path's prefixes ending at each '/', then the whole path. */
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        struct stat st;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int rc = err_set(e, ERR_IO, "mkdir %s: %s", p, strerror(errno));
            free(p);
            return rc;
        }
        if (saved == '\0') {
            int ok = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
            int rc = ok ? 0 : err_set(e, ERR_IO, "mkdir %s: exists and is not a directory", p);
            free(p);
            return rc;
        }
        *s = saved;
    }
}

/* -------------------------------------------------------- atomic replace */

int fsutil_atomic_open(const char *path, fsutil_atomic_t **out, errbuf_t *e)
{
    *out = NULL;
    fsutil_atomic_t *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path)) || asprintf(&a->tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
        if (a)
            free(a->path);
        free(a);
        return err_set(e, ERR_NOMEM, "write %s: out of memory", path);
    }
    a->f = fopen(a->tmp, "wbe");
    if (!a->f) {
        int rc = err_set(e, ERR_IO, "create %s: %s", a->tmp, strerror(errno));
        free(a->tmp);
        free(a->path);
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int fsutil_atomic_write(fsutil_atomic_t *a, const void *buf, size_t n, errbuf_t *e)
{
    if (n > 0 && fwrite(buf, 1, n, a->f) != n)
        return err_set(e, ERR_IO, "write %s: %s", a->tmp, strerror(errno));
    return 0;
}

static int fsync_dir_of(const char *path, errbuf_t *e)
{
    char *copy = strdup(path);
    if (!copy)
        return err_set(e, ERR_NOMEM, "fsync directory of %s: out of memory", path);
    const char *dir = dirname(copy);
    int rc = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rc = err_set(e, ERR_IO, "fsync directory %s: %s", dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

int fsutil_atomic_commit(fsutil_atomic_t **ap, errbuf_t *e)
{
    fsutil_atomic_t *a = *ap;
    const char *step = NULL;
    int saved = 0;
    if (fflush(a->f) != 0)
        step = "flush", saved = errno;
    else if (fsync(fileno(a->f)) != 0)
        step = "fsync", saved = errno;
    if (fclose(a->f) != 0 && !step)
        step = "close", saved = errno;
    a->f = NULL;
    if (step) {
        int rc = err_set(e, ERR_IO, "%s %s: %s", step, a->tmp, strerror(saved));
        fsutil_atomic_abort(ap);
        return rc;
    }
    if (rename(a->tmp, a->path) != 0) {
        int rc = err_set(e, ERR_IO, "rename %s to %s: %s", a->tmp, a->path, strerror(errno));
        fsutil_atomic_abort(ap);
        return rc;
    }
    int rc = fsync_dir_of(a->path, e);
    free(a->tmp);
    free(a->path);
    free(a);
    *ap = NULL;
    return rc;
}

void fsutil_atomic_abort(fsutil_atomic_t **ap)
{
    fsutil_atomic_t *a = ap ? *ap : NULL;
    if (!a)
        return;
    if (a->f)
        fclose(a->f);
    unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    free(a);
    *ap = NULL;
}

int fsutil_remove_stale(const char *path)
{
    char *dcopy = strdup(path), *bcopy = strdup(path);
    const char *dir = dcopy ? dirname(dcopy) : NULL, *base = bcopy ? basename(bcopy) : NULL;
    DIR *d = dir && base ? opendir(dir) : NULL;
    int removed = 0;
    size_t blen = base ? strlen(base) : 0;
    struct dirent *ent;
    while (d && (ent = readdir(d))) {
        const char *name = ent->d_name, *num = name + blen + 5;
        if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0)
            continue;
        char *end;
        errno = 0;
        long pid = strtol(num, &end, 10);
        if (errno || end == num || *end || pid <= 0)
            continue;
        int gone = kill((pid_t)pid, 0) != 0 && errno == ESRCH;
        if (!gone && pid != (long)getpid())
            continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", dir, name);
        removed += unlink(full) == 0;
    }
    if (d)
        closedir(d);
    free(dcopy);
    free(bcopy);
    return removed;
}

int fsutil_write_atomic(const char *path, const void *buf, size_t n, errbuf_t *e)
{
    fsutil_atomic_t *a;
    int rc = fsutil_atomic_open(path, &a, e);
    if (rc == 0 && (rc = fsutil_atomic_write(a, buf, n, e)) != 0)
        fsutil_atomic_abort(&a);
    if (rc == 0)
        rc = fsutil_atomic_commit(&a, e);
    return rc;
}
