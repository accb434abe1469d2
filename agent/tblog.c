/*
 * tblog.c — TensorBoard event-file writer (see tblog.h).
 *
 * This and the wire codec are the only places that include generated
 * protobuf headers. An Event is packed into a buffer the writer keeps, so
 * logging a scalar allocates only when a longer tag than any before comes.
 */
#include "tblog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "fsutil.h"
#include "tb_event.pb-c.h"

struct tblog {
    FILE *f;
    char *path;
    uint8_t *buf; /* (cap) the packed Event being written */
    size_t cap;
    int failed;   /* a write failed: the file may end in a partial record */
    errbuf_t err;
};

/* ---------------------------------------------------------------- records */

static double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int write_record(tblog_t *t, const uint8_t *data, size_t n)
{
    unsigned char head[12], foot[4];
    uint32_t len_crc, data_crc;
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)((uint64_t)n >> (8 * i));
    len_crc = crc32c_mask(crc32c(head, 8));
    data_crc = crc32c_mask(crc32c(data, n));
    for (int i = 0; i < 4; i++) {
        head[8 + i] = (unsigned char)(len_crc >> (8 * i));
        foot[i] = (unsigned char)(data_crc >> (8 * i));
    }
    if (fwrite(head, 1, sizeof head, t->f) != sizeof head || fwrite(data, 1, n, t->f) != n ||
        fwrite(foot, 1, sizeof foot, t->f) != sizeof foot) {
        t->failed = 1;
        return err_set(&t->err, ERR_IO, "write %s: %s", t->path, strerror(errno));
    }
    return 0;
}

static int write_event(tblog_t *t, const Tensorflow__Event *ev)
{
    if (t->failed)
        return err_set(&t->err, ERR_IO, "%s: an earlier write failed; the file is closed to further events",
                       t->path);
    size_t n = tensorflow__event__get_packed_size(ev);
    if (n > t->cap) {
        uint8_t *bigger = realloc(t->buf, n);
        if (!bigger)
            return err_set(&t->err, ERR_NOMEM, "%s: out of memory for a %zu-byte event", t->path, n);
        t->buf = bigger;
        t->cap = n;
    }
    tensorflow__event__pack(ev, t->buf);
    return write_record(t, t->buf, n);
}

/* ------------------------------------------------------------------ files */

/* Creates the event file with O_EXCL: two writers, or two runs started in
 * the same second, must not share or truncate one. */
static int create_file(tblog_t *t, const char *dir, errbuf_t *e)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0])
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    long long now = (long long)time(NULL);
    for (int k = 0; k < 100; k++) {
        free(t->path);
        t->path = NULL;
        int r = k == 0 ? asprintf(&t->path, "%s/events.out.tfevents.%010lld.%s", dir, now, host)
                       : asprintf(&t->path, "%s/events.out.tfevents.%010lld.%s.%d", dir, now, host, k);
        if (r < 0) {
            t->path = NULL;
            return err_set(e, ERR_NOMEM, "tblog %s: out of memory", dir);
        }
        int fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0 || !(t->f = fdopen(fd, "wb"))) {
            int rc = err_set(e, ERR_IO, "create %s: %s", t->path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return rc;
        }
        return 0;
    }
    return err_set(e, ERR_IO, "tblog %s: 100 event files already started this second", dir);
}

/* TensorBoard identifies the file's format by this first event. */
static int write_file_version(tblog_t *t)
{
    Tensorflow__Event ev = TENSORFLOW__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.what_case = TENSORFLOW__EVENT__WHAT_FILE_VERSION;
    ev.file_version = "brain.Event:2";
    return write_event(t, &ev);
}

int tblog_open(const char *dir, tblog_t **out, errbuf_t *e)
{
    *out = NULL;
    int rc = fsutil_mkdirs(dir, e);
    if (rc)
        return rc;
    tblog_t *t = calloc(1, sizeof *t);
    if (!t)
        return err_set(e, ERR_NOMEM, "tblog %s: out of memory", dir);
    err_clear(&t->err);
    if ((rc = create_file(t, dir, e)) != 0)
        goto err;
    if ((rc = write_file_version(t)) != 0 || (rc = tblog_flush(t)) != 0) {
        err_set(e, rc, "%s", t->err.msg);
        goto err;
    }
    *out = t;
    return 0;
err:
    if (t->f) {
        fclose(t->f);
        unlink(t->path);
    }
    free(t->path);
    free(t->buf);
    free(t);
    return rc;
}

/* ------------------------------------------------------------- truncation */

static uint64_t le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* The offset of the first record to drop (the file's size if none) and
 * how many whole records lie from there on. */
static int scan_records(FILE *f, const char *path, int64_t step, off_t *cut, int64_t *after,
                        errbuf_t *e)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    off_t at = 0;
    int rc = 0;
    *cut = -1;
    *after = 0;
    for (;;) {
        unsigned char head[12], foot[4];
        size_t got = fread(head, 1, sizeof head, f);
        if (got == 0 && !ferror(f))
            break; /* the end, on a record boundary */
        uint64_t n = got == sizeof head ? le(head, 8) : 0;
        bool whole = got == sizeof head && (uint32_t)le(head + 8, 4) == crc32c_mask(crc32c(head, 8)) &&
                     n <= (1u << 30);
        if (whole && n > cap) {
            uint8_t *bigger = realloc(buf, n);
            if (!bigger) {
                rc = err_set(e, ERR_NOMEM, "%s: out of memory for a %" PRIu64 "-byte record", path, n);
                break;
            }
            buf = bigger;
            cap = n;
        }
        whole = whole && fread(buf, 1, n, f) == n && fread(foot, 1, 4, f) == 4 &&
                (uint32_t)le(foot, 4) == crc32c_mask(crc32c(buf, n));
        if (!whole) {
            if (*cut < 0)
                *cut = at;
            break;
        }
        if (*cut < 0) {
            Tensorflow__Event *ev = tensorflow__event__unpack(NULL, n, buf);
            if (!ev || ev->step > step)
                *cut = at;
            if (ev)
                tensorflow__event__free_unpacked(ev, NULL);
        }
        if (*cut >= 0)
            (*after)++;
        at += (off_t)(12 + n + 4);
    }
    if (ferror(f) && rc == 0)
        rc = err_set(e, ERR_IO, "read %s: %s", path, strerror(errno));
    if (*cut < 0)
        *cut = at;
    free(buf);
    return rc;
}

int tblog_truncate(const char *path, int64_t step, int64_t *dropped, errbuf_t *e)
{
    FILE *f = fopen(path, "r+be");
    if (!f)
        return err_set(e, ERR_IO, "open %s: %s", path, strerror(errno));
    off_t cut;
    int64_t after;
    int rc = scan_records(f, path, step, &cut, &after, e);
    struct stat st;
    if (rc == 0 && fstat(fileno(f), &st) != 0)
        rc = err_set(e, ERR_IO, "stat %s: %s", path, strerror(errno));
    if (rc == 0 && cut < st.st_size && ftruncate(fileno(f), cut) != 0)
        rc = err_set(e, ERR_IO, "truncate %s: %s", path, strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "close %s: %s", path, strerror(errno));
    if (rc == 0 && dropped)
        *dropped = after;
    return rc;
}

/* ---------------------------------------------------------------- scalars */

int tblog_scalar(tblog_t *t, const char *tag, int64_t step, double value)
{
    if (!tag || !*tag)
        return err_set(&t->err, ERR_INVALID_ARGUMENT, "%s: empty scalar tag", t->path);
    Tensorflow__Summary__Value v = TENSORFLOW__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
    v.simple_value = (float)value;
    Tensorflow__Summary__Value *values[1] = {&v};
    Tensorflow__Summary s = TENSORFLOW__SUMMARY__INIT;
    s.n_value = 1;
    s.value = values;
    Tensorflow__Event ev = TENSORFLOW__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.step = step;
    ev.what_case = TENSORFLOW__EVENT__WHAT_SUMMARY;
    ev.summary = &s;
    return write_event(t, &ev);
}

int tblog_flush(tblog_t *t)
{
    if (fflush(t->f) != 0) {
        t->failed = 1;
        return err_set(&t->err, ERR_IO, "flush %s: %s", t->path, strerror(errno));
    }
    return 0;
}

void tblog_close(tblog_t **tp)
{
    tblog_t *t = tp ? *tp : NULL;
    if (!t)
        return;
    fclose(t->f);
    free(t->path);
    free(t->buf);
    free(t);
    *tp = NULL;
}

const char *tblog_path(const tblog_t *t)
{
    return t->path;
}

const char *tblog_error(const tblog_t *t)
{
    return t->err.msg;
}
