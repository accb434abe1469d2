/*
 * retry.c — per-client reply cache: open-addressed index, LRU list, TTL.
 *
 * The index has a fixed power-of-two capacity of at least twice the client
 * bound, so it never grows; deletion shifts entries back (no tombstones).
 * The LRU list runs from the oldest put (head) to the newest (tail); since
 * every put moves its entry to the tail, the list is also ordered by age
 * and expiry only looks at the head.
 */
#include "retry.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

typedef struct entry {
    uint64_t client_id, id;
    uint64_t stored_ms;
    int code;
    uint8_t *data;
    size_t len, cap;
    struct entry *prev, *next; /* LRU: prev is older */
} entry_t;

struct retry_cache {
    entry_t **slots; /* (mask + 1) */
    size_t mask, count, max_clients, bytes, max_bytes;
    uint64_t ttl_ms;
    entry_t *head, *tail;
};

retry_cache_t *retry_cache_new(size_t max_clients, size_t max_bytes, uint64_t ttl_ms)
{
    retry_cache_t *rc = calloc(1, sizeof *rc);
    if (!rc)
        return NULL;
    size_t cap = 16;
    while (cap < 2 * max_clients)
        cap *= 2;
    rc->slots = calloc(cap, sizeof *rc->slots);
    if (!rc->slots) {
        free(rc);
        return NULL;
    }
    rc->mask = cap - 1;
    rc->max_clients = max_clients;
    rc->max_bytes = max_bytes;
    rc->ttl_ms = ttl_ms;
    return rc;
}

void retry_cache_destroy(retry_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    retry_cache_t *rc = *self_p;
    for (entry_t *en = rc->head, *next; en; en = next) {
        next = en->next;
        free(en->data);
        free(en);
    }
    free(rc->slots);
    free(rc);
    *self_p = NULL;
}

size_t retry_cache_count(const retry_cache_t *rc) { return rc->count; }
size_t retry_cache_bytes(const retry_cache_t *rc) { return rc->bytes; }

static size_t slot_of(const retry_cache_t *rc, uint64_t client_id)
{
    size_t i = client_id & rc->mask;
    while (rc->slots[i] && rc->slots[i]->client_id != client_id)
        i = (i + 1) & rc->mask;
    return i; /* the entry's slot, or the empty slot where it would go */
}

static void lru_unlink(retry_cache_t *rc, entry_t *en)
{
    if (en->prev)
        en->prev->next = en->next;
    else
        rc->head = en->next;
    if (en->next)
        en->next->prev = en->prev;
    else
        rc->tail = en->prev;
    en->prev = en->next = NULL;
}

static void lru_append(retry_cache_t *rc, entry_t *en)
{
    en->prev = rc->tail;
    en->next = NULL;
    if (rc->tail)
        rc->tail->next = en;
    else
        rc->head = en;
    rc->tail = en;
}

static void evict(retry_cache_t *rc, entry_t *en)
{
    size_t i = slot_of(rc, en->client_id);
    rc->slots[i] = NULL;
    /* Backward-shift deletion: pull later members of the probe run into
     * the hole when their home slot is at or before it. */
    for (size_t j = (i + 1) & rc->mask; rc->slots[j]; j = (j + 1) & rc->mask) {
        size_t home = rc->slots[j]->client_id & rc->mask;
        if (((j - home) & rc->mask) >= ((j - i) & rc->mask)) {
            rc->slots[i] = rc->slots[j];
            rc->slots[j] = NULL;
            i = j;
        }
    }
    lru_unlink(rc, en);
    rc->count--;
    rc->bytes -= en->cap;
    free(en->data);
    free(en);
}

static bool expired(const retry_cache_t *rc, const entry_t *en, uint64_t now_ms)
{
    return now_ms >= en->stored_ms && now_ms - en->stored_ms > rc->ttl_ms;
}

const void *retry_cache_find(retry_cache_t *rc, uint64_t client_id, uint64_t id, uint64_t now_ms,
                             size_t *len, int *code)
{
    entry_t *en = rc->slots[slot_of(rc, client_id)];
    if (!en)
        return NULL;
    if (expired(rc, en, now_ms)) {
        evict(rc, en);
        return NULL;
    }
    if (en->id != id)
        return NULL;
    *len = en->len;
    *code = en->code;
    return en->data;
}

int retry_cache_put(retry_cache_t *rc, uint64_t client_id, uint64_t id, int code, const void *reply,
                    size_t len, uint64_t now_ms)
{
    size_t i = slot_of(rc, client_id);
    entry_t *en = rc->slots[i];
    if (!en) {
        en = calloc(1, sizeof *en);
        if (!en)
            return ERR_NOMEM;
        en->client_id = client_id;
        rc->slots[i] = en;
        rc->count++;
    } else if (id < en->id) {
        return 0; /* a stale request's reply must not displace the latest */
    } else {
        lru_unlink(rc, en);
    }
    lru_append(rc, en);
    if (len > en->cap) {
        uint8_t *data = realloc(en->data, len);
        if (!data) {
            evict(rc, en);
            return ERR_NOMEM;
        }
        rc->bytes += len - en->cap;
        en->data = data;
        en->cap = len;
    }
    if (len)
        memcpy(en->data, reply, len);
    en->len = len;
    en->id = id;
    en->code = code;
    en->stored_ms = now_ms;
    while (rc->head && (rc->count > rc->max_clients || rc->bytes > rc->max_bytes))
        evict(rc, rc->head);
    return 0;
}

size_t retry_cache_expire(retry_cache_t *rc, uint64_t now_ms)
{
    size_t n = 0;
    while (rc->head && expired(rc, rc->head, now_ms)) {
        evict(rc, rc->head);
        n++;
    }
    return n;
}
