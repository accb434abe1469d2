/*
 * arena.c — chunked bump allocation (see arena.h).
 */
#include "arena.h"

#include <stdlib.h>

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_chunk_t;

struct arena {
    arena_chunk_t *head; /* the chunk being filled; older ones follow */
};

static arena_chunk_t *arena_chunk_new(size_t cap)
{
    arena_chunk_t *c = malloc(sizeof *c + cap);
    if (c) {
        c->next = NULL;
        c->used = 0;
        c->cap = cap;
    }
    return c;
}

int arena_new(size_t initial, arena_t **out, errbuf_t *e)
{
    *out = NULL;
    arena_t *a = calloc(1, sizeof *a);
    if (!a)
        return err_set(e, ERR_NOMEM, "out of memory for an arena");
    a->head = arena_chunk_new(initial < 4096 ? 4096 : initial);
    if (!a->head) {
        free(a);
        return err_set(e, ERR_NOMEM, "out of memory for an arena of %zu bytes", initial);
    }
    *out = a;
    return 0;
}

void arena_destroy(arena_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    arena_chunk_t *c = (*self_p)->head;
    while (c) {
        arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(*self_p);
    *self_p = NULL;
}

void arena_reset(arena_t *a)
{
    /* Keep the largest chunk so that a steady workload stops allocating. */
    arena_chunk_t *keep = a->head;
    for (arena_chunk_t *c = a->head; c; c = c->next)
        if (c->cap > keep->cap)
            keep = c;
    arena_chunk_t *c = a->head;
    while (c) {
        arena_chunk_t *next = c->next;
        if (c != keep)
            free(c);
        c = next;
    }
    keep->next = NULL;
    keep->used = 0;
    a->head = keep;
}

void *arena_alloc(arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_chunk_t *c = a->head;
    if (c->cap - c->used < n) {
        size_t cap = c->cap * 2;
        while (cap < n)
            cap *= 2;
        arena_chunk_t *fresh = arena_chunk_new(cap);
        if (!fresh)
            return NULL;
        fresh->next = c;
        a->head = c = fresh;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}
