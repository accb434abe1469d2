/*
 * fsutil.h — the file-system steps agentd's writers share: create a
 * directory path, and replace a file atomically and durably.
 *
 * An atomic write goes to "<path>.tmp.<pid>" in the same directory, is
 * flushed and fsync'ed, renamed over path, and the directory is fsync'ed.
 * A crash at any moment leaves at path either the old file or the new one,
 * whole: never a mix, never a half file. A process killed mid-write leaves
 * its "<path>.tmp.<pid>" behind; such files are never read as the real
 * thing, and fsutil_remove_stale deletes those whose process is gone. Two
 * writers must not replace the same path at the same time.
 */
#ifndef FSUTIL_H
#define FSUTIL_H

#include <stddef.h>

#include "err.h"

/* Creates dir and any missing parents (mode 0755, like mkdir -p). An
 * existing directory is fine; an existing non-directory is ERR_IO. */
int fsutil_mkdirs(const char *dir, errbuf_t *e);

/* A file being written to its temporary name. */
typedef struct fsutil_atomic fsutil_atomic_t;

/* Starts replacing path: creates "<path>.tmp.<pid>". ERR_IO if it cannot. */
int fsutil_atomic_open(const char *path, fsutil_atomic_t **out, errbuf_t *e);

/* Appends n bytes. On ERR_IO the caller still ends with abort. */
int fsutil_atomic_write(fsutil_atomic_t *a, const void *buf, size_t n, errbuf_t *e);

/* Flushes, fsyncs, renames over path, fsyncs the directory, frees *a and
 * sets it NULL. On failure before the rename the temporary file is removed
 * and path is untouched; the error is ERR_IO naming the file and strerror. */
int fsutil_atomic_commit(fsutil_atomic_t **a, errbuf_t *e);

/* Gives up: removes the temporary file, frees *a, sets it NULL. Safe on
 * NULL and twice. */
void fsutil_atomic_abort(fsutil_atomic_t **a);

/* Deletes the "<path>.tmp.<pid>" files that killed writers left: those
 * whose pid is no live process, or is the caller's own (a restart in a
 * container gets the same pid; call this before the first write). Files
 * of a live process, and any other name, are left alone. Returns how many
 * were deleted; a directory that cannot be read deletes nothing. */
int fsutil_remove_stale(const char *path);

/* The whole open/write/commit for one buffer. */
int fsutil_write_atomic(const char *path, const void *buf, size_t n, errbuf_t *e);

#endif
