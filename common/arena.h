/*
 * arena.h — a bump allocator in chunks, for memory that lives exactly as
 * long as one message.
 *
 * The codec decodes a message into an arena (protobuf-c allocates through
 * it) and the handler's scratch arrays come from it too; arena_reset()
 * after the reply frees everything at once and keeps the largest chunk, so
 * a steady workload stops allocating once the arena has grown to its size.
 */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

#include "err.h"

typedef struct arena arena_t;

/* An arena whose first chunk holds initial bytes (at least 4 KiB).
 * 0, or ERR_NOMEM with *out NULL. */
int arena_new(size_t initial, arena_t **out, errbuf_t *e);
void arena_destroy(arena_t **self_p);

/* Frees all but the largest chunk, which is kept for the next message. */
void arena_reset(arena_t *a);

/* n bytes aligned to 16, valid until the next reset; NULL when out of memory. */
void *arena_alloc(arena_t *a, size_t n);

#endif
