/*
 * runlog.c — progress.csv plus TensorBoard scalars (see runlog.h).
 *
 * A row is formatted into a buffer sized at open (32 bytes a cell holds
 * any %.17g) and written with one fwrite and one fflush, so a row is never
 * interleaved or half-flushed by the library, and the training loop's row
 * call allocates nothing.
 */
#include "runlog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "tblog.h"

#define CELL_MAX 32

struct runlog {
    char *dir;
    char *csv_path;
    FILE *csv;
    tblog_t *tb;
    char **columns; /* (ncolumns) */
    size_t ncolumns;
    char *line;     /* (ncolumns * CELL_MAX + 1) */
    errbuf_t err;
};

/* ---------------------------------------------------------------- columns */

static int check_columns(const char *const *columns, size_t n, errbuf_t *e)
{
    if (n == 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "runlog: no columns");
    for (size_t i = 0; i < n; i++) {
        if (!columns[i] || !*columns[i] || strpbrk(columns[i], ",\"\r\n"))
            return err_set(e, ERR_INVALID_ARGUMENT, "runlog: column %zu ('%s') is empty or holds , \" CR or LF", i,
                           columns[i] ? columns[i] : "");
        for (size_t j = 0; j < i; j++)
            if (strcmp(columns[i], columns[j]) == 0)
                return err_set(e, ERR_INVALID_ARGUMENT, "runlog: column '%s' appears twice", columns[i]);
    }
    return 0;
}

/* "a,b,c\n", malloc'ed. */
static char *header_line(const char *const *columns, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(columns[i]) + 1;
    char *h = malloc(len), *p = h;
    if (!h)
        return NULL;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", columns[i]);
    strcpy(p, "\n");
    return h;
}

/* ------------------------------------------------------------ progress.csv */

/* Opens the CSV for appending. A new or empty file gets the header; an
 * existing one must start with it, and loses a cut-off last line. */
static int open_csv(runlog_t *r, const char *header, errbuf_t *e)
{
    r->csv = fopen(r->csv_path, "a+e");
    if (!r->csv)
        return err_set(e, ERR_IO, "open %s: %s", r->csv_path, strerror(errno));
    struct stat st;
    if (fstat(fileno(r->csv), &st) != 0)
        return err_set(e, ERR_IO, "stat %s: %s", r->csv_path, strerror(errno));
    if (st.st_size == 0) {
        if (fputs(header, r->csv) == EOF || fflush(r->csv) != 0)
            return err_set(e, ERR_IO, "write %s: %s", r->csv_path, strerror(errno));
        return 0;
    }
    size_t hlen = strlen(header);
    char *have = malloc(hlen);
    if (!have)
        return err_set(e, ERR_NOMEM, "runlog %s: out of memory", r->csv_path);
    rewind(r->csv);
    size_t got = fread(have, 1, hlen, r->csv);
    int same = got == hlen && memcmp(have, header, hlen) == 0;
    free(have);
    if (!same)
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "%s has other columns than this run's (%.*s); use another log directory", r->csv_path,
                       (int)(hlen - 1), header);
    /* Find the end of the last whole line. */
    off_t keep = st.st_size;
    for (int c; keep > 0; keep--) {
        if (fseeko(r->csv, keep - 1, SEEK_SET) != 0 || (c = fgetc(r->csv)) == EOF)
            return err_set(e, ERR_IO, "read %s: %s", r->csv_path, strerror(errno));
        if (c == '\n')
            break;
    }
    if (keep != st.st_size && ftruncate(fileno(r->csv), keep) != 0)
        return err_set(e, ERR_IO, "truncate %s: %s", r->csv_path, strerror(errno));
    /* C requires a seek between reading a stream and writing it. */
    if (fseeko(r->csv, 0, SEEK_END) != 0)
        return err_set(e, ERR_IO, "seek %s: %s", r->csv_path, strerror(errno));
    return 0;
}

/* The shortest of %.15g, %.16g, %.17g that reads back as v. */
static int format_cell(char *dst, double v)
{
    if (isnan(v))
        return 0;
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(dst, CELL_MAX, "%.*g", prec, v);
        if (strtod(dst, NULL) == v)
            break;
    }
    return n;
}

/* ------------------------------------------------------------------ public */

/* "dir/name", malloc'ed, or NULL. */
static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int runlog_open(const char *dir, const char *const *columns, size_t ncolumns, runlog_t **out, errbuf_t *e)
{
    *out = NULL;
    int rc = check_columns(columns, ncolumns, e);
    if (rc)
        return rc;
    if ((rc = fsutil_mkdirs(dir, e)) != 0)
        return rc;
    runlog_t *r = calloc(1, sizeof *r);
    char *header = header_line(columns, ncolumns);
    if (!r || !header || !(r->dir = strdup(dir)) || !(r->csv_path = path_join(dir, "progress.csv")) ||
        !(r->columns = calloc(ncolumns, sizeof *r->columns)) || !(r->line = malloc(ncolumns * CELL_MAX + 1))) {
        rc = err_set(e, ERR_NOMEM, "runlog %s: out of memory", dir);
        goto err;
    }
    r->ncolumns = ncolumns;
    for (size_t i = 0; i < ncolumns; i++)
        if (!(r->columns[i] = strdup(columns[i]))) {
            rc = err_set(e, ERR_NOMEM, "runlog %s: out of memory", dir);
            goto err;
        }
    if ((rc = open_csv(r, header, e)) != 0 || (rc = tblog_open(dir, &r->tb, e)) != 0)
        goto err;
    err_clear(&r->err);
    free(header);
    *out = r;
    return 0;
err:
    free(header);
    runlog_close(&r);
    return rc;
}

int runlog_row(runlog_t *r, int64_t step, const double *values)
{
    char *p = r->line;
    for (size_t i = 0; i < r->ncolumns; i++) {
        if (i)
            *p++ = ',';
        p += format_cell(p, values[i]);
    }
    *p++ = '\n';
    size_t n = (size_t)(p - r->line);
    if (fwrite(r->line, 1, n, r->csv) != n || fflush(r->csv) != 0)
        return err_set(&r->err, ERR_IO, "write %s: %s", r->csv_path, strerror(errno));
    for (size_t i = 0; i < r->ncolumns; i++)
        if (!isnan(values[i]) && tblog_scalar(r->tb, r->columns[i], step, values[i]) != 0)
            return err_set(&r->err, ERR_IO, "%s", tblog_error(r->tb));
    if (tblog_flush(r->tb) != 0)
        return err_set(&r->err, ERR_IO, "%s", tblog_error(r->tb));
    return 0;
}

int runlog_write_text(runlog_t *r, const char *name, const char *text)
{
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
        !strcmp(name, "progress.csv"))
        return err_set(&r->err, ERR_INVALID_ARGUMENT, "runlog: '%s' is not a plain file name for %s",
                       name ? name : "", r->dir);
    char *path = path_join(r->dir, name);
    if (!path)
        return err_set(&r->err, ERR_NOMEM, "runlog: out of memory");
    int rc = fsutil_write_atomic(path, text, strlen(text), &r->err);
    free(path);
    return rc;
}

void runlog_close(runlog_t **rp)
{
    runlog_t *r = rp ? *rp : NULL;
    if (!r)
        return;
    if (r->csv)
        fclose(r->csv);
    tblog_close(&r->tb);
    for (size_t i = 0; r->columns && i < r->ncolumns; i++)
        free(r->columns[i]);
    free(r->columns);
    free(r->line);
    free(r->csv_path);
    free(r->dir);
    free(r);
    *rp = NULL;
}

const char *runlog_error(const runlog_t *r)
{
    return r->err.msg;
}
