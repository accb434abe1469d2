/*
 * runlog.c — progress.csv plus TensorBoard scalars, one run per folder
 * (see runlog.h).
 *
 * A row is formatted into a buffer sized at open (32 bytes a cell holds
 * any %.17g) and written with one fwrite and one fflush, so a row is never
 * interleaved or half-flushed by the library, and the training loop's row
 * call allocates nothing.
 */
#include "runlog.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "rng.h"
#include "tblog.h"

#define CELL_MAX 32
#define RUN_PREFIX "agentd_" /* DIR/agentd_N: the runs after the first */
#define EVENTS_PREFIX "events.out.tfevents."

struct runlog {
    char *dir;
    char *csv_path;
    FILE *csv;
    tblog_t *tb;
    char **columns; /* (ncolumns) */
    size_t ncolumns;
    char *line;     /* (ncolumns * CELL_MAX + 1) */
    bool continued; /* the folder held this run already */
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
 * existing one must start with it, and loses a cut-off last line and,
 * with resume_step >= 0, every row from the first whose step (first cell)
 * is above resume_step. */
static int open_csv(runlog_t *r, const char *header, int64_t resume_step, errbuf_t *e)
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
    rewind(r->csv);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, r->csv);
    if (n < 0 || strcmp(line, header) != 0) {
        free(line);
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "%s has other columns than this run's (%.*s); use another log directory",
                       r->csv_path, (int)(strlen(header) - 1), header);
    }
    /* Keep the whole lines up to the first one past the resume step. */
    off_t keep = (off_t)n;
    while ((n = getline(&line, &cap, r->csv)) > 0 && line[n - 1] == '\n') {
        char *end;
        double step = strtod(line, &end);
        if (resume_step >= 0 && end != line && *end == ',' && step > (double)resume_step)
            break;
        keep += (off_t)n;
    }
    free(line);
    if (ferror(r->csv))
        return err_set(e, ERR_IO, "read %s: %s", r->csv_path, strerror(errno));
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

/* "dir/name", malloc'ed, or NULL. */
static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ------------------------------------------------------------------ runs */

int runlog_new_id(char id[RUNLOG_ID_LEN + 1], errbuf_t *e)
{
    unsigned char b[RUNLOG_ID_LEN / 2];
    if (rng_os_bytes(b, sizeof b) != 0)
        return err_set(e, ERR_IO, "no random bytes for a run id");
    for (size_t i = 0; i < sizeof b; i++)
        sprintf(id + 2 * i, "%02x", b[i]);
    return 0;
}

int runlog_id_valid(const char *id)
{
    size_t n = 0;
    for (; id[n] && n <= RUNLOG_ID_LEN; n++)
        if (!isdigit((unsigned char)id[n]) && !(id[n] >= 'a' && id[n] <= 'f'))
            return 0;
    return n == RUNLOG_ID_LEN && !id[n];
}

/* True if file name exists in dir. */
static bool has_file(const char *dir, const char *name)
{
    char *p = path_join(dir, name);
    struct stat st;
    bool yes = p && stat(p, &st) == 0;
    free(p);
    return yes;
}

/* True if dir/run_id says id. */
static bool folder_is_run(const char *dir, const char *id)
{
    char *p = path_join(dir, "run_id");
    FILE *f = p ? fopen(p, "re") : NULL;
    char have[RUNLOG_ID_LEN + 3] = "";
    if (f) {
        if (!fgets(have, sizeof have, f))
            have[0] = '\0';
        fclose(f);
    }
    free(p);
    have[strcspn(have, "\n")] = '\0';
    return strcmp(have, id) == 0;
}

/* N of a folder named agentd_N (N >= 1, decimal), else 0. */
static long run_number(const char *name)
{
    size_t k = strlen(RUN_PREFIX);
    if (strncmp(name, RUN_PREFIX, k) != 0 || !isdigit((unsigned char)name[k]) || name[k] == '0')
        return 0;
    char *end;
    long n = strtol(name + k, &end, 10);
    return *end || n > 1000000000 ? 0 : n;
}

/* Picks the run's folder in dir (see runlog.h) into *out, malloc'ed, and
 * whether it holds the run already. */
static int pick_folder(const char *dir, const char *id, bool resuming, char **out, bool *continued,
                       errbuf_t *e)
{
    *out = NULL;
    *continued = false;
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, ERR_IO, "open %s: %s", dir, strerror(errno));
    bool busy = has_file(dir, "progress.csv") || has_file(dir, "summary.json") ||
                has_file(dir, "run_id");
    long last = 1;
    char *mine = resuming && folder_is_run(dir, id) ? strdup(dir) : NULL;
    for (struct dirent *de; !mine && (de = readdir(d));) {
        busy = busy || strncmp(de->d_name, EVENTS_PREFIX, strlen(EVENTS_PREFIX)) == 0;
        long n = run_number(de->d_name);
        if (n == 0)
            continue;
        last = n > last ? n : last;
        char *sub = path_join(dir, de->d_name);
        if (sub && resuming && folder_is_run(sub, id))
            mine = sub;
        else
            free(sub);
    }
    closedir(d);
    if (mine) {
        *out = mine;
        *continued = true;
        return 0;
    }
    if (!busy)
        return (*out = strdup(dir)) ? 0 : err_set(e, ERR_NOMEM, "out of memory");
    for (long n = last + 1; n < last + 100; n++) {
        char name[32];
        snprintf(name, sizeof name, RUN_PREFIX "%ld", n);
        char *sub = path_join(dir, name);
        if (!sub)
            return err_set(e, ERR_NOMEM, "out of memory");
        if (mkdir(sub, 0777) == 0) {
            *out = sub;
            return 0;
        }
        int err = errno;
        free(sub);
        if (err != EEXIST)
            return err_set(e, ERR_IO, "create %s/%s: %s", dir, name, strerror(err));
    }
    return err_set(e, ERR_IO, "%s: no free " RUN_PREFIX "N folder for a new run", dir);
}

/* A continued run: its event files lose what follows step. */
static int truncate_events(const char *dir, int64_t step, errbuf_t *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, ERR_IO, "open %s: %s", dir, strerror(errno));
    int rc = 0;
    for (struct dirent *de; rc == 0 && (de = readdir(d));) {
        if (strncmp(de->d_name, EVENTS_PREFIX, strlen(EVENTS_PREFIX)) != 0)
            continue;
        char *p = path_join(dir, de->d_name);
        rc = p ? tblog_truncate(p, step, NULL, e) : err_set(e, ERR_NOMEM, "out of memory");
        free(p);
    }
    closedir(d);
    return rc;
}

/* ------------------------------------------------------------------ public */

int runlog_open(const char *dir, const char *run_id, int64_t resume_step,
                const char *const *columns, size_t ncolumns, runlog_t **out, errbuf_t *e)
{
    *out = NULL;
    int rc = check_columns(columns, ncolumns, e);
    if (rc)
        return rc;
    if (!run_id || !runlog_id_valid(run_id))
        return err_set(e, ERR_INVALID_ARGUMENT, "runlog: '%s' is not a run id", run_id ? run_id : "");
    if ((rc = fsutil_mkdirs(dir, e)) != 0)
        return rc;
    runlog_t *r = calloc(1, sizeof *r);
    char *header = header_line(columns, ncolumns);
    if (!r || !header || !(r->columns = calloc(ncolumns, sizeof *r->columns)) ||
        !(r->line = malloc(ncolumns * CELL_MAX + 1))) {
        rc = err_set(e, ERR_NOMEM, "runlog %s: out of memory", dir);
        goto err;
    }
    r->ncolumns = ncolumns;
    for (size_t i = 0; i < ncolumns; i++)
        if (!(r->columns[i] = strdup(columns[i]))) {
            rc = err_set(e, ERR_NOMEM, "runlog %s: out of memory", dir);
            goto err;
        }
    if ((rc = pick_folder(dir, run_id, resume_step >= 0, &r->dir, &r->continued, e)) != 0)
        goto err;
    if (!(r->csv_path = path_join(r->dir, "progress.csv"))) {
        rc = err_set(e, ERR_NOMEM, "runlog %s: out of memory", dir);
        goto err;
    }
    if (!r->continued) {
        char text[RUNLOG_ID_LEN + 2];
        snprintf(text, sizeof text, "%s\n", run_id);
        char *p = path_join(r->dir, "run_id");
        rc = p ? fsutil_write_atomic(p, text, strlen(text), e)
               : err_set(e, ERR_NOMEM, "runlog %s: out of memory", dir);
        free(p);
        if (rc != 0)
            goto err;
    }
    /* The CSV first: a header that is not this run's is refused before
     * any event is dropped. */
    if ((rc = open_csv(r, header, r->continued ? resume_step : -1, e)) != 0 ||
        (r->continued && (rc = truncate_events(r->dir, resume_step, e)) != 0) ||
        (rc = tblog_open(r->dir, &r->tb, e)) != 0)
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
        !strcmp(name, "progress.csv") || !strcmp(name, "run_id"))
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

const char *runlog_dir(const runlog_t *r)
{
    return r->dir;
}

int runlog_continued(const runlog_t *r)
{
    return r->continued;
}

const char *runlog_error(const runlog_t *r)
{
    return r->err.msg;
}
