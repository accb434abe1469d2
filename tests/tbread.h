/*
 * tbread.h — reads a TFRecord file back for the tests, checking every
 * record's framing and both masked CRC-32Cs with Check assertions.
 * Header-only, test-side: agentd itself never reads event files.
 */
#ifndef TBREAD_H
#define TBREAD_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "tmpdir.h"

typedef struct tbread_rec {
    const uint8_t *data; /* points into the file buffer */
    size_t len;
} tbread_rec_t;

typedef struct tbread {
    char *file;          /* the whole file */
    size_t size;
    tbread_rec_t *recs;  /* (n) */
    size_t n;
} tbread_t;

static inline uint64_t tbread_le(const unsigned char *p, int width)
{
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline void tbread_load(const char *path, tbread_t *r)
{
    memset(r, 0, sizeof *r);
    r->file = tmpdir_slurp(path, &r->size);
    ck_assert_msg(r->file != NULL, "cannot read %s", path);
    const unsigned char *p = (const unsigned char *)r->file;
    size_t off = 0, cap = 0;
    while (off < r->size) {
        ck_assert_msg(r->size - off >= 12, "record %zu: header cut short", r->n);
        uint64_t len = tbread_le(p + off, 8);
        ck_assert_uint_eq(tbread_le(p + off + 8, 4), crc32c_mask(crc32c(p + off, 8)));
        off += 12;
        ck_assert_msg(r->size - off >= len + 4, "record %zu: data cut short", r->n);
        ck_assert_uint_eq(tbread_le(p + off + len, 4), crc32c_mask(crc32c(p + off, (size_t)len)));
        if (r->n == cap) {
            cap = cap ? 2 * cap : 16;
            r->recs = realloc(r->recs, cap * sizeof *r->recs);
            ck_assert_ptr_nonnull(r->recs);
        }
        r->recs[r->n++] = (tbread_rec_t){p + off, (size_t)len};
        off += (size_t)len + 4;
    }
}

static inline void tbread_free(tbread_t *r)
{
    free(r->file);
    free(r->recs);
    memset(r, 0, sizeof *r);
}

#endif
