/*
 * checkpoint.c — writing and checking agentd checkpoints (see checkpoint.h).
 *
 * The loader reads the whole file into one buffer and checks it in the order
 * that gives the most useful message: magic (is this ours at all?), version
 * (is it too new?), CRC (is it whole?), then the section table. The table is
 * still bounds-checked after a good CRC, because ckpt_parse is fed arbitrary
 * bytes by a fuzzer, which can forge a CRC.
 */
#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "fsutil.h"

/* magic + version + count */
#define HEADER_LEN 16u
/* tag + len */
#define SECTION_HEADER_LEN 16u
#define CRC_LEN 4u

struct ckpt {
    char *name;               /* the path, or "<memory>", for messages */
    unsigned char *buf;       /* the whole file (len) */
    size_t len;
    ckpt_section_t *sections; /* (n), data pointing into buf */
    size_t n;
};

/* ------------------------------------------------------------ byte order */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ------------------------------------------------------------------ tags */

/* A tag is 1..8 non-NUL bytes followed by NUL padding: one spelling per
 * name, so comparing all 8 bytes is comparing names. */
static int tag_valid(const char tag[CKPT_TAG_LEN])
{
    size_t k = strnlen(tag, CKPT_TAG_LEN);
    if (k == 0)
        return 0;
    for (size_t i = k; i < CKPT_TAG_LEN; i++)
        if (tag[i] != '\0')
            return 0;
    return 1;
}

/* The 8-byte form of a C-string tag; 0 if it is empty or too long. */
static int tag_pad(const char *name, char tag[CKPT_TAG_LEN])
{
    size_t k = strnlen(name, CKPT_TAG_LEN + 1);
    if (k == 0 || k > CKPT_TAG_LEN)
        return 0;
    memset(tag, 0, CKPT_TAG_LEN);
    memcpy(tag, name, k);
    return 1;
}

static int section_cmp(const void *a, const void *b)
{
    return memcmp(((const ckpt_section_t *)a)->tag, ((const ckpt_section_t *)b)->tag, CKPT_TAG_LEN);
}

/* A duplicate tag among n sections, or NULL. Sorting a copy keeps this
 * O(n log n) even for the 10^5 sections a forged file can declare. */
static const char *find_duplicate(const ckpt_section_t *s, size_t n, char dup[CKPT_TAG_LEN + 1], int *nomem)
{
    *nomem = 0;
    if (n < 2)
        return NULL;
    ckpt_section_t *sorted = malloc(n * sizeof *sorted);
    if (!sorted) {
        *nomem = 1;
        return NULL;
    }
    memcpy(sorted, s, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, section_cmp);
    const char *found = NULL;
    for (size_t i = 1; i < n && !found; i++)
        if (section_cmp(&sorted[i - 1], &sorted[i]) == 0) {
            memcpy(dup, sorted[i].tag, CKPT_TAG_LEN);
            dup[CKPT_TAG_LEN] = '\0';
            found = dup;
        }
    free(sorted);
    return found;
}

/* ------------------------------------------------------------------ save */

int ckpt_save(const char *path, const ckpt_section_t *sections, size_t n, errbuf_t *e)
{
    if (n > UINT32_MAX)
        return err_set(e, ERR_INVALID_ARGUMENT, "checkpoint %s: %zu sections, at most %u", path, n, UINT32_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!tag_valid(sections[i].tag))
            return err_set(e, ERR_INVALID_ARGUMENT, "checkpoint %s: section %zu has an empty or badly padded tag",
                           path, i);
        if (!sections[i].data && sections[i].len > 0)
            return err_set(e, ERR_INVALID_ARGUMENT, "checkpoint %s: section '%.8s' has no data", path,
                           sections[i].tag);
        if (sections[i].len > SIZE_MAX)
            return err_set(e, ERR_INVALID_ARGUMENT, "checkpoint %s: section '%.8s' is too large", path,
                           sections[i].tag);
    }
    char dup[CKPT_TAG_LEN + 1];
    int nomem;
    if (find_duplicate(sections, n, dup, &nomem))
        return err_set(e, ERR_INVALID_ARGUMENT, "checkpoint %s: section '%s' appears twice", path, dup);
    if (nomem)
        return err_set(e, ERR_NOMEM, "checkpoint %s: out of memory", path);

    fsutil_atomic_t *a;
    int rc = fsutil_atomic_open(path, &a, e);
    if (rc)
        return rc;
    unsigned char head[HEADER_LEN];
    memcpy(head, CKPT_MAGIC, 8);
    put_u32(head + 8, CKPT_VERSION);
    put_u32(head + 12, (uint32_t)n);
    uint32_t crc = crc32c(head, sizeof head);
    rc = fsutil_atomic_write(a, head, sizeof head, e);
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char sh[SECTION_HEADER_LEN];
        memcpy(sh, sections[i].tag, CKPT_TAG_LEN);
        put_u64(sh + 8, sections[i].len);
        crc = crc32c_extend(crc, sh, sizeof sh);
        crc = crc32c_extend(crc, sections[i].data, (size_t)sections[i].len);
        rc = fsutil_atomic_write(a, sh, sizeof sh, e);
        if (rc == 0)
            rc = fsutil_atomic_write(a, sections[i].data, (size_t)sections[i].len, e);
    }
    if (rc == 0) {
        unsigned char tail[CRC_LEN];
        put_u32(tail, crc);
        rc = fsutil_atomic_write(a, tail, sizeof tail, e);
    }
    if (rc) {
        fsutil_atomic_abort(&a);
        return rc;
    }
    return fsutil_atomic_commit(&a, e);
}

/* ------------------------------------------------------------------ load */

/* Checks c->buf (c->len bytes) and fills c->sections. */
static int check(ckpt_t *c, errbuf_t *e)
{
    const unsigned char *b = c->buf;
    size_t len = c->len;
    const char *name = c->name;

    if (len == 0)
        return err_set(e, ERR_CORRUPT, "checkpoint %s: empty file", name);
    size_t m = len < 8 ? len : 8;
    if (memcmp(b, CKPT_MAGIC, m) != 0)
        return err_set(e, ERR_CORRUPT, "checkpoint %s: not an agentd checkpoint (bad magic)", name);
    if (len < HEADER_LEN + CRC_LEN)
        return err_set(e, ERR_CORRUPT, "checkpoint %s: truncated: %zu bytes, the header alone is %u", name, len,
                       HEADER_LEN + CRC_LEN);
    uint32_t version = get_u32(b + 8);
    if (version > CKPT_VERSION)
        return err_set(e, ERR_CORRUPT, "checkpoint %s: version %u is newer than this agentd supports (%u)", name,
                       version, CKPT_VERSION);
    if (version == 0)
        return err_set(e, ERR_CORRUPT, "checkpoint %s: version 0 is not a valid version", name);
    size_t body = len - CRC_LEN;
    if (crc32c(b, body) != get_u32(b + body))
        return err_set(e, ERR_CORRUPT, "checkpoint %s: CRC mismatch (file damaged or truncated)", name);

    uint32_t count = get_u32(b + 12);
    if (count > (body - HEADER_LEN) / SECTION_HEADER_LEN)
        return err_set(e, ERR_CORRUPT, "checkpoint %s: %u sections cannot fit in %zu bytes", name, count, len);
    c->sections = calloc(count ? count : 1, sizeof *c->sections);
    if (!c->sections)
        return err_set(e, ERR_NOMEM, "checkpoint %s: out of memory for %u sections", name, count);
    size_t off = HEADER_LEN;
    for (uint32_t i = 0; i < count; i++) {
        if (body - off < SECTION_HEADER_LEN)
            return err_set(e, ERR_CORRUPT, "checkpoint %s: section %u's header runs past the end", name, i);
        ckpt_section_t *s = &c->sections[i];
        memcpy(s->tag, b + off, CKPT_TAG_LEN);
        if (!tag_valid(s->tag))
            return err_set(e, ERR_CORRUPT, "checkpoint %s: section %u has an empty or badly padded tag", name, i);
        s->len = get_u64(b + off + 8);
        off += SECTION_HEADER_LEN;
        if (s->len > body - off)
            return err_set(e, ERR_CORRUPT, "checkpoint %s: section '%.8s' claims %llu bytes, only %zu remain", name,
                           s->tag, (unsigned long long)s->len, body - off);
        s->data = b + off;
        off += (size_t)s->len;
        c->n = i + 1;
    }
    if (off != body)
        return err_set(e, ERR_CORRUPT, "checkpoint %s: %zu stray bytes after the last section", name, body - off);
    char dup[CKPT_TAG_LEN + 1];
    int nomem;
    if (find_duplicate(c->sections, c->n, dup, &nomem))
        return err_set(e, ERR_CORRUPT, "checkpoint %s: section '%s' appears twice", name, dup);
    if (nomem)
        return err_set(e, ERR_NOMEM, "checkpoint %s: out of memory", name);
    return 0;
}

/* Takes buf (malloc'ed, len bytes) whatever happens. */
static int adopt(const char *name, unsigned char *buf, size_t len, ckpt_t **out, errbuf_t *e)
{
    ckpt_t *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(name))) {
        free(c);
        free(buf);
        return err_set(e, ERR_NOMEM, "checkpoint %s: out of memory", name);
    }
    c->buf = buf;
    c->len = len;
    int rc = check(c, e);
    if (rc) {
        ckpt_destroy(&c);
        return rc;
    }
    *out = c;
    return 0;
}

int ckpt_parse(const void *buf, size_t len, ckpt_t **out, errbuf_t *e)
{
    *out = NULL;
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        return err_set(e, ERR_NOMEM, "checkpoint <memory>: out of memory for %zu bytes", len);
    if (len)
        memcpy(copy, buf, len);
    return adopt("<memory>", copy, len, out, e);
}

int ckpt_load(const char *path, ckpt_t **out, errbuf_t *e)
{
    *out = NULL;
    FILE *f = fopen(path, "rbe");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        int saved = errno;
        err_set(e, ERR_IO, "checkpoint %s: %s", path, strerror(saved));
        if (f)
            fclose(f);
        errno = saved;
        return ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return err_set(e, ERR_IO, "checkpoint %s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        fclose(f);
        return err_set(e, ERR_NOMEM, "checkpoint %s: out of memory for %zu bytes", path, len);
    }
    /* Read what is there now: a size from fstat is only a hint if the file
     * were replaced meanwhile, and a short read is caught as a bad CRC. */
    size_t got = fread(buf, 1, len, f);
    if (ferror(f)) {
        int saved = errno;
        err_set(e, ERR_IO, "checkpoint %s: read: %s", path, strerror(saved));
        fclose(f);
        free(buf);
        errno = saved;
        return ERR_IO;
    }
    fclose(f);
    return adopt(path, buf, got, out, e);
}

void ckpt_destroy(ckpt_t **cp)
{
    ckpt_t *c = cp ? *cp : NULL;
    if (!c)
        return;
    free(c->sections);
    free(c->buf);
    free(c->name);
    free(c);
    *cp = NULL;
}

/* ---------------------------------------------------------------- access */

static const ckpt_section_t *find(const ckpt_t *c, const char *name)
{
    char tag[CKPT_TAG_LEN];
    if (!tag_pad(name, tag))
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (memcmp(c->sections[i].tag, tag, CKPT_TAG_LEN) == 0)
            return &c->sections[i];
    return NULL;
}

const void *ckpt_get(const ckpt_t *c, const char *tag, uint64_t *len)
{
    const ckpt_section_t *s = find(c, tag);
    if (len)
        *len = s ? s->len : 0;
    return s ? s->data : NULL;
}

int ckpt_get_exact(const ckpt_t *c, const char *tag, void *dst, uint64_t len, errbuf_t *e)
{
    const ckpt_section_t *s = find(c, tag);
    if (!s)
        return err_set(e, ERR_CORRUPT, "checkpoint %s: no section '%s' (expected %llu bytes)", c->name, tag,
                       (unsigned long long)len);
    if (s->len != len)
        return err_set(e, ERR_CORRUPT, "checkpoint %s: section '%s' is %llu bytes, expected %llu", c->name, tag,
                       (unsigned long long)s->len, (unsigned long long)len);
    if (len)
        memcpy(dst, s->data, (size_t)len);
    return 0;
}

const ckpt_section_t *ckpt_sections(const ckpt_t *c, size_t *n)
{
    *n = c->n;
    return c->sections;
}
