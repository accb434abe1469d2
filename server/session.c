/*
 * session.c — session table: open-addressed index, LRU list, reclaim.
 *
 * The index is a power-of-two array of session pointers probed linearly
 * from id & mask; ids are random, so they need no further hashing. It
 * grows by doubling at 50% load and uses backward-shift deletion, so there
 * are no tombstones to clean up.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define ID_POOL 512

struct session_table {
    session_t **slots; /* (cap) */
    uint64_t ids[ID_POOL]; /* OS random bytes, fetched ID_POOL ids at a time */
    size_t ids_left;
    size_t cap, count, max;
    uint32_t touch_slack_ms;
    dlist_t lru; /* of session_t.lru; head = least recently used */
};

int session_table_new(size_t max_sessions, session_table_t **out, errbuf_t *e)
{
    *out = NULL;
    session_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return err_set(e, ERR_NOMEM, "out of memory for the session table");
    t->cap = 1024;
    t->max = max_sessions;
    t->slots = calloc(t->cap, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return err_set(e, ERR_NOMEM, "out of memory for the session index");
    }
    *out = t;
    return 0;
}

void session_table_destroy(session_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    session_table_t *t = *self_p;
    dlist_node_t *n = t->lru.head;
    while (n) {
        dlist_node_t *next = n->next;
        free(DLIST_ITEM(n, session_t, lru));
        n = next;
    }
    free(t->slots);
    free(t);
    *self_p = NULL;
}

size_t session_count(const session_table_t *t) { return t->count; }
size_t session_max(const session_table_t *t) { return t->max; }
size_t session_index_bytes(const session_table_t *t) { return t->cap * sizeof *t->slots; }
void session_set_touch_slack(session_table_t *t, uint32_t slack_ms) { t->touch_slack_ms = slack_ms; }

static void index_put(session_t **slots, size_t mask, session_t *s)
{
    size_t i = s->id & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = s;
}

static int index_grow(session_table_t *t)
{
    size_t cap = t->cap * 2;
    session_t **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return ERR_NOMEM;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            index_put(slots, cap - 1, t->slots[i]);
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

session_t *session_find(session_table_t *t, uint64_t id)
{
    size_t mask = t->cap - 1;
    for (size_t i = id & mask;; i = (i + 1) & mask) {
        session_t *s = t->slots[i];
        if (!s)
            return NULL;
        if (s->id == id)
            return s;
    }
}

/* How far ahead session_find_many reads: index slots PREFETCH_SLOT rows
 * ahead, the sessions they point to PREFETCH_SESSION rows ahead, by which
 * time those slots have arrived. With a million sessions every row misses
 * the caches twice; fetched ahead, the misses overlap. */
#define PREFETCH_SLOT 16
#define PREFETCH_SESSION 8

size_t session_find_many(session_table_t *t, const uint64_t *ids, size_t n, session_t **out)
{
    size_t mask = t->cap - 1;
    for (size_t i = 0; i < n && i < PREFETCH_SLOT; i++)
        __builtin_prefetch(&t->slots[ids[i] & mask]);
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_SLOT < n)
            __builtin_prefetch(&t->slots[ids[i + PREFETCH_SLOT] & mask]);
        if (i + PREFETCH_SESSION < n) {
            /* The home slot usually holds the session itself (load < 50%). */
            const char *ahead = (const char *)t->slots[ids[i + PREFETCH_SESSION] & mask];
            if (ahead) {
                /* The header, the env and the class state after it: a
                 * CartPole session spans three cache lines or four. */
                __builtin_prefetch(ahead);
                __builtin_prefetch(ahead + 64);
                __builtin_prefetch(ahead + 128);
                __builtin_prefetch(ahead + 191);
            }
        }
        if (!(out[i] = session_find(t, ids[i])))
            return i;
    }
    return n;
}

static void index_remove(session_table_t *t, session_t *s)
{
    size_t mask = t->cap - 1;
    size_t i = s->id & mask;
    while (t->slots[i] != s)
        i = (i + 1) & mask;
    /* Backward-shift: pull later members of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        size_t home = t->slots[j]->id & mask;
        size_t dist_j = (j - home) & mask, dist_hole = (hole - home) & mask;
        if (dist_hole < dist_j) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole] = NULL;
}

int session_create(session_table_t *t, const env_class_t *cls, const option_t *opts,
                   size_t nopts, uint64_t now_ms, session_t **out, errbuf_t *e)
{
    if (t->count >= t->max)
        return err_set(e, ERR_RESOURCE_EXHAUSTED, "session limit reached (%zu open)", t->max);
    if ((t->count + 1) * 2 > t->cap && index_grow(t) < 0)
        return err_set(e, ERR_RESOURCE_EXHAUSTED, "out of memory growing the session index");
    session_t *s = malloc(offsetof(session_t, env) + env_size(cls));
    if (!s)
        return err_set(e, ERR_RESOURCE_EXHAUSTED, "out of memory creating a session");
    int rc = env_init(&s->env, cls, opts, nopts, e);
    if (rc < 0) {
        free(s);
        return rc;
    }
    do {
        if (t->ids_left == 0) {
            if (rng_os_bytes(t->ids, sizeof t->ids) < 0) {
                free(s);
                return err_set(e, ERR_INTERNAL, "OS random source failed");
            }
            t->ids_left = ID_POOL;
        }
        s->id = t->ids[--t->ids_left];
    } while (s->id == 0 || session_find(t, s->id));
    s->mark = 0;
    s->last_client_id = s->last_request_id = 0;
    s->last_used_ms = now_ms;
    s->moved_ms = (uint32_t)now_ms;
    index_put(t->slots, t->cap - 1, s);
    dlist_append(&t->lru, &s->lru);
    t->count++;
    *out = s;
    return 0;
}

void session_touch(session_table_t *t, session_t *s, uint64_t now_ms)
{
    s->last_used_ms = now_ms;
    /* The list stays ordered by the time of the last move. A session moved
     * less than the slack ago expires at most the slack after the sessions
     * behind it, so the reaper, which stops at the first head that has not
     * expired, is late by at most the slack. (uint32 arithmetic: correct
     * across the 49-day wrap.) */
    if (t->lru.tail != &s->lru && (uint32_t)now_ms - s->moved_ms >= t->touch_slack_ms) {
        dlist_unlink(&t->lru, &s->lru);
        dlist_append(&t->lru, &s->lru);
        s->moved_ms = (uint32_t)now_ms;
    }
}

void session_close(session_table_t *t, session_t *s)
{
    index_remove(t, s);
    dlist_unlink(&t->lru, &s->lru);
    t->count--;
    free(s);
}

size_t session_reap(session_table_t *t, uint64_t now_ms, uint64_t ttl_ms)
{
    size_t n = 0;
    session_t *s;
    while ((s = DLIST_ITEM(t->lru.head, session_t, lru)) && s->last_used_ms + ttl_ms <= now_ms) {
        session_close(t, s);
        n++;
    }
    return n;
}
