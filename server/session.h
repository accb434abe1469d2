/*
 * session.h — the table of live sessions: ids, lookup, idle reclaim.
 *
 * A session is one env_t plus its bookkeeping. Ids are 64-bit values from
 * the OS random source, so a client cannot guess another client's session;
 * 0 is never issued. Lookup is O(1) (open addressing keyed by the id, which
 * is already uniformly random). Sessions sit on an LRU list ordered by last
 * use, so reclaiming idle ones touches only the expired head of the list.
 * Moving a session to the tail writes to three others scattered in memory,
 * so a table may skip moves that would change the order by little (see
 * session_set_touch_slack).
 */
#ifndef SESSION_H
#define SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "dlist.h"
#include "env.h"

typedef struct session {
    uint64_t id;
    uint64_t last_used_ms;
    dlist_node_t lru; /* in the table's LRU list */
    uint32_t mark; /* scratch for one request, e.g. duplicate detection in a batch */
    uint32_t moved_ms; /* low 32 bits of the time it last moved to the LRU tail */
    /* The (client, id) of the last request that changed this session, so
     * that a resent duplicate is recognized (docs/protocol.md, Retries);
     * client is the retry identity (service_retry.c), not the raw client_id. */
    uint64_t last_client_id, last_request_id;
    env_t env; /* must stay last: the class state follows it */
} session_t;

typedef struct session_table session_table_t;

/* max_sessions: the hard limit; the index is sized for it lazily.
 * 0, or ERR_NOMEM with *out NULL. */
int session_table_new(size_t max_sessions, session_table_t **out, errbuf_t *e);
void session_table_destroy(session_table_t **self_p);

size_t session_count(const session_table_t *t);
size_t session_max(const session_table_t *t);

/* Creates a session of class cls with make options; on success *out is
 * owned by the table. ERR_RESOURCE_EXHAUSTED at the limit. */
int session_create(session_table_t *t, const env_class_t *cls, const option_t *opts,
                   size_t nopts, uint64_t now_ms, session_t **out, errbuf_t *e);

/* The session with this id, or NULL. Does not touch its LRU position. */
session_t *session_find(session_table_t *t, uint64_t id);

/* session_find for ids[0..n) into out[0..n); returns the first i whose id
 * is unknown (out[i] is then NULL), or n. Faster than n session_find calls
 * on a big table: it fetches index slots and sessions ahead of use. */
size_t session_find_many(session_table_t *t, const uint64_t *ids, size_t n, session_t **out);

/* Marks s as used now (moves it to the LRU tail, see session_set_touch_slack). */
void session_touch(session_table_t *t, session_t *s, uint64_t now_ms);

/* A session that moved to the LRU tail less than slack_ms ago is not moved
 * again when touched (its last use is still recorded): reclaiming may then
 * run up to slack_ms late. 0 (the default) keeps the list exact. */
void session_set_touch_slack(session_table_t *t, uint32_t slack_ms);

/* Closes and frees one session. */
void session_close(session_table_t *t, session_t *s);

/* Closes every session idle since before now_ms - ttl_ms; returns how many. */
size_t session_reap(session_table_t *t, uint64_t now_ms, uint64_t ttl_ms);

/* Bytes the table's index occupies (for metrics and the memory goal). */
size_t session_index_bytes(const session_table_t *t);

#endif
