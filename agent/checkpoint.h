/*
 * checkpoint.h — agentd's crash-safe checkpoint file: a list of tagged,
 * opaque byte sections (network weights, optimizer state, counters, ...).
 *
 * Format, version 1, every integer little-endian:
 *
 *     "AGENTDCK"          8 bytes, magic
 *     version             u32, 1
 *     count               u32, number of sections
 *     count times:
 *       tag               8 bytes, NUL-padded, not empty, unique in the file
 *       len               u64
 *       data              len bytes, stored as given (the caller's layout)
 *     crc                 u32, CRC-32C (Castagnoli, see crc32c.h) of every
 *                         byte before it
 *
 * A new version keeps the magic and the version field where they are, so an
 * older agentd can say the file is too new rather than that it is damaged.
 *
 * Saving goes through fsutil's atomic replacement: a kill or power loss at
 * any moment leaves at path the previous checkpoint or the new one, never a
 * part. A killed save may leave "<path>.tmp.<pid>": it is never read as the
 * checkpoint, and the next agentd saving to path deletes it at start-up.
 */
#ifndef CHECKPOINT_H
#define CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CKPT_MAGIC "AGENTDCK"
#define CKPT_VERSION 1u
#define CKPT_TAG_LEN 8

/* One section. tag is a C string of 1..8 characters; exactly 8 needs no
 * NUL ({"replay01", ...} is fine). On load, data is borrowed from the
 * ckpt_t and has no particular alignment: copy it out (ckpt_get_exact)
 * before reading it as floats or integers. */
typedef struct ckpt_section {
    char tag[CKPT_TAG_LEN];
    const void *data;
    uint64_t len;
} ckpt_section_t;

/* Writes the n sections to path atomically and durably. A bad tag (empty,
 * garbage after its NUL, duplicate) or NULL data with len > 0 is
 * ERR_INVALID_ARGUMENT; a file-system failure is ERR_IO naming the file and
 * the cause, and leaves path as it was. */
int ckpt_save(const char *path, const ckpt_section_t *sections, size_t n, errbuf_t *e);

/* A checkpoint read into memory. */
typedef struct ckpt ckpt_t;

/* Reads and checks path. A file that cannot be read is ERR_IO (errno is left
 * as the failing call set it, so ENOENT tells "no checkpoint yet"); one that
 * fails any check is ERR_CORRUPT with a message saying which. */
int ckpt_load(const char *path, ckpt_t **out, errbuf_t *e);

/* ckpt_load's checks on len bytes in memory (copied; buf stays the
 * caller's). Never reads outside buf, whatever it holds: ERR_CORRUPT for
 * anything but a whole, valid version-1 checkpoint. */
int ckpt_parse(const void *buf, size_t len, ckpt_t **out, errbuf_t *e);

/* Frees *c and sets it NULL; safe on NULL and twice. */
void ckpt_destroy(ckpt_t **c);

/* The section called tag, or NULL if there is none; *len (if len is not
 * NULL) gets its length. Borrowed: valid until ckpt_destroy. */
const void *ckpt_get(const ckpt_t *c, const char *tag, uint64_t *len);

/* Copies section tag into dst, which holds exactly len bytes. A missing
 * section, or one of another length (say, a network of another shape), is
 * ERR_CORRUPT naming the tag and both lengths; dst is then untouched. */
int ckpt_get_exact(const ckpt_t *c, const char *tag, void *dst, uint64_t len, errbuf_t *e);

/* All sections in file order; *n gets their number. Borrowed. */
const ckpt_section_t *ckpt_sections(const ckpt_t *c, size_t *n);

#endif
