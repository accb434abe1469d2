/*
 * retry.c — per-client reply cache: two open-addressed indexes (clients,
 * origins), two age-ordered lists (all entries, each origin's), TTL.
 *
 * Each index has a fixed power-of-two capacity of at least twice its bound
 * (an origin exists only while it holds an entry, so origins never
 * outnumber entries by more than the one a put is adding to), so neither
 * ever grows; deletion shifts entries back (no tombstones). Both index the
 * structs through their first member, the 64-bit key. Every put moves its
 * entry to the tail of both lists, so the lists run from the oldest put
 * (head) to the newest: expiry looks only at the global head, and making
 * room for an origin only at that origin's head.
 */
#include "retry.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlist.h"
#include "err.h"

typedef struct origin origin_t;

typedef struct entry {
    uint64_t client; /* first: the index reads its key here */
    uint64_t id;
    uint64_t stored_ms;
    int code;
    uint8_t *data;
    size_t len, cap;
    origin_t *origin;
    dlist_node_t all; /* in the cache's list of all entries */
    dlist_node_t own; /* in its origin's list */
} entry_t;

struct origin {
    uint64_t key; /* first: the index reads its key here */
    size_t count, bytes;
    dlist_t entries; /* of entry_t.own, oldest first */
};

typedef struct index {
    void **slots; /* (mask + 1) entry_t * or origin_t * */
    size_t mask, count;
} index_t;

struct retry_cache {
    index_t clients, origins;
    size_t count, max_clients, bytes, max_bytes;
    size_t share_clients, share_bytes; /* one origin's, see RETRY_SHARES */
    uint64_t ttl_ms;
    dlist_t all; /* of entry_t.all, oldest first */
};

/* ----------------------------------------------------------------- index */

static int index_init(index_t *ix, size_t bound)
{
    size_t cap = 16;
    while (cap < 2 * bound)
        cap *= 2;
    ix->slots = calloc(cap, sizeof *ix->slots);
    ix->mask = cap - 1;
    ix->count = 0;
    return ix->slots ? 0 : ERR_NOMEM;
}

static uint64_t key_of(const void *item) { return *(const uint64_t *)item; }

/* The item's slot, or the empty slot where it would go. */
static size_t index_slot(const index_t *ix, uint64_t key)
{
    size_t i = key & ix->mask;
    while (ix->slots[i] && key_of(ix->slots[i]) != key)
        i = (i + 1) & ix->mask;
    return i;
}

static void index_remove(index_t *ix, uint64_t key)
{
    size_t i = index_slot(ix, key);
    ix->slots[i] = NULL;
    ix->count--;
    /* Backward-shift deletion: pull later members of the probe run into
     * the hole when their home slot is at or before it. */
    for (size_t j = (i + 1) & ix->mask; ix->slots[j]; j = (j + 1) & ix->mask) {
        size_t home = key_of(ix->slots[j]) & ix->mask;
        if (((j - home) & ix->mask) >= ((j - i) & ix->mask)) {
            ix->slots[i] = ix->slots[j];
            ix->slots[j] = NULL;
            i = j;
        }
    }
}

/* ------------------------------------------------------------- lifecycle */

int retry_cache_new(size_t max_clients, size_t max_bytes, uint64_t ttl_ms, retry_cache_t **out,
                    errbuf_t *e)
{
    *out = NULL;
    retry_cache_t *rc = calloc(1, sizeof *rc);
    if (!rc)
        return err_set(e, ERR_NOMEM, "out of memory for the retry cache");
    if (index_init(&rc->clients, max_clients) < 0 || index_init(&rc->origins, max_clients + 1) < 0) {
        retry_cache_destroy(&rc);
        return err_set(e, ERR_NOMEM, "out of memory for a retry cache index of %zu clients",
                       max_clients);
    }
    rc->max_clients = max_clients;
    rc->max_bytes = max_bytes;
    rc->share_clients = max_clients / RETRY_SHARES ? max_clients / RETRY_SHARES : 1;
    rc->share_bytes = max_bytes / RETRY_SHARES;
    rc->ttl_ms = ttl_ms;
    *out = rc;
    return 0;
}

void retry_cache_destroy(retry_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    retry_cache_t *rc = *self_p;
    for (dlist_node_t *n = rc->all.head, *next; n; n = next) {
        next = n->next;
        entry_t *en = DLIST_ITEM(n, entry_t, all);
        free(en->data);
        free(en);
    }
    if (rc->origins.slots)
        for (size_t i = 0; i <= rc->origins.mask; i++)
            free(rc->origins.slots[i]);
    free(rc->clients.slots);
    free(rc->origins.slots);
    free(rc);
    *self_p = NULL;
}

size_t retry_cache_count(const retry_cache_t *rc) { return rc->count; }
size_t retry_cache_bytes(const retry_cache_t *rc) { return rc->bytes; }
size_t retry_cache_origins(const retry_cache_t *rc) { return rc->origins.count; }

/* ----------------------------------------------------------------- lists */

static entry_t *oldest(const retry_cache_t *rc)
{
    return DLIST_ITEM(rc->all.head, entry_t, all);
}

static entry_t *oldest_own(const origin_t *o)
{
    return DLIST_ITEM(o->entries.head, entry_t, own);
}

/* Takes en off its origin's list and out of its origin's counts. */
static void own_unlink(entry_t *en)
{
    origin_t *o = en->origin;
    dlist_unlink(&o->entries, &en->own);
    o->count--;
    o->bytes -= en->cap;
    en->origin = NULL;
}

static void own_append(origin_t *o, entry_t *en)
{
    en->origin = o;
    dlist_append(&o->entries, &en->own);
    o->count++;
    o->bytes += en->cap;
}

/* --------------------------------------------------------------- origins */

static origin_t *origin_get(retry_cache_t *rc, uint64_t key)
{
    size_t i = index_slot(&rc->origins, key);
    if (rc->origins.slots[i])
        return rc->origins.slots[i];
    origin_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->key = key;
    rc->origins.slots[i] = o;
    rc->origins.count++;
    return o;
}

static void origin_drop_if_empty(retry_cache_t *rc, origin_t *o)
{
    if (o->count)
        return;
    index_remove(&rc->origins, o->key);
    free(o);
}

/* --------------------------------------------------------------- entries */

/* Frees en; its origin stays, even when empty (see evict). */
static void evict_entry(retry_cache_t *rc, entry_t *en)
{
    index_remove(&rc->clients, en->client);
    dlist_unlink(&rc->all, &en->all);
    own_unlink(en);
    rc->count--;
    rc->bytes -= en->cap;
    free(en->data);
    free(en);
}

static void evict(retry_cache_t *rc, entry_t *en)
{
    origin_t *o = en->origin;
    evict_entry(rc, en);
    origin_drop_if_empty(rc, o);
}

static bool expired(const retry_cache_t *rc, const entry_t *en, uint64_t now_ms)
{
    return now_ms >= en->stored_ms && now_ms - en->stored_ms > rc->ttl_ms;
}

const void *retry_cache_find(retry_cache_t *rc, uint64_t client, uint64_t id, uint64_t now_ms,
                             size_t *len, int *code)
{
    entry_t *en = rc->clients.slots[index_slot(&rc->clients, client)];
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

int retry_cache_put(retry_cache_t *rc, uint64_t client, uint64_t origin, uint64_t id, int code,
                    const void *reply, size_t len, uint64_t now_ms)
{
    retry_cache_expire(rc, now_ms); /* expired entries give their room back first */
    entry_t *en = rc->clients.slots[index_slot(&rc->clients, client)];
    if (en && id < en->id)
        return 0; /* a stale request's reply must not displace the latest */
    origin_t *o = origin_get(rc, origin);
    if (!o) {
        if (en)
            evict(rc, en);
        return ERR_NOMEM;
    }
    if (en) {
        /* The client may come back on another connection: the entry moves
         * to the origin it is stored from now. */
        origin_t *was = en->origin;
        own_unlink(en);
        dlist_unlink(&rc->all, &en->all);
        if (was != o)
            origin_drop_if_empty(rc, was);
    }
    /* At its share of clients, an origin gives up its own oldest entry. */
    while (o->count >= rc->share_clients)
        evict_entry(rc, oldest_own(o));
    if (!en) {
        en = calloc(1, sizeof *en);
        if (!en) {
            origin_drop_if_empty(rc, o);
            return ERR_NOMEM;
        }
        en->client = client;
        rc->clients.slots[index_slot(&rc->clients, client)] = en; /* evictions moved slots */
        rc->clients.count++;
        rc->count++;
    }
    dlist_append(&rc->all, &en->all);
    own_append(o, en);
    if (len > en->cap) {
        uint8_t *data = realloc(en->data, len);
        if (!data) {
            evict(rc, en);
            return ERR_NOMEM;
        }
        rc->bytes += len - en->cap;
        o->bytes += len - en->cap;
        en->data = data;
        en->cap = len;
    }
    if (len)
        memcpy(en->data, reply, len);
    en->len = len;
    en->id = id;
    en->code = code;
    en->stored_ms = now_ms;
    /* Beyond its newest reply, an origin holds at most its share of bytes. */
    while (o->bytes > rc->share_bytes && o->count > 1)
        evict_entry(rc, oldest_own(o));
    /* A full cache makes room among this origin's entries only, this one
     * last: other origins' entries leave by their TTL alone. */
    while (rc->count > rc->max_clients || rc->bytes > rc->max_bytes) {
        entry_t *old = oldest_own(o);
        bool last = old == en;
        evict_entry(rc, old);
        if (last) {
            origin_drop_if_empty(rc, o);
            return ERR_RESOURCE_EXHAUSTED;
        }
    }
    return 0;
}

size_t retry_cache_expire(retry_cache_t *rc, uint64_t now_ms)
{
    size_t n = 0;
    entry_t *en;
    while ((en = oldest(rc)) && expired(rc, en, now_ms)) {
        evict(rc, en);
        n++;
    }
    return n;
}
