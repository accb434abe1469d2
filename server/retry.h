/*
 * retry.h — the last reply sent to each retrying client, for resent requests.
 *
 * A client that times out resends the same request (same client_id, same
 * id) on a fresh socket; envd must answer it without acting twice. The
 * service keeps, per session, the (client_id, id) of the last request that
 * changed it (to recognize a duplicate at all) and here, per client, the
 * encoded reply to that client's last state-changing request (to answer
 * one). Only the last reply per client is kept: a client waits for each
 * reply before it sends the next request on the same session, so a resend
 * is always of its latest request. The cache is bounded three ways —
 * clients, bytes and age — and evicts the least recently used client
 * first; a duplicate whose reply was evicted is refused by the service,
 * never executed again (see docs/protocol.md, "Retries").
 *
 * Client ids are chosen at random by the clients, so they index an
 * open-addressed table without further hashing, as session ids do.
 */
#ifndef RETRY_H
#define RETRY_H

#include <stddef.h>
#include <stdint.h>

typedef struct retry_cache retry_cache_t;

/* Bounds: at most max_clients entries holding at most max_bytes of replies
 * in all, each dropped ttl_ms after it was stored. */
retry_cache_t *retry_cache_new(size_t max_clients, size_t max_bytes, uint64_t ttl_ms);
void retry_cache_destroy(retry_cache_t **self_p);

/* The reply stored for (client_id, id), or NULL when this client's last
 * stored reply is another request's, or expired, or was evicted. On a hit
 * *len and *code are set; the bytes are borrowed until the next put. */
const void *retry_cache_find(retry_cache_t *rc, uint64_t client_id, uint64_t id, uint64_t now_ms,
                             size_t *len, int *code);

/* Stores reply bytes as client_id's last reply (to request id, answered
 * with code), replacing its previous one unless that answered a later id
 * (then nothing is stored: ids of one client increase). The entry's buffer is reused, so
 * a client in a steady state allocates nothing. May evict other clients
 * (least recently stored first) and, if the reply alone is over the byte
 * bound, this one too. 0, or ERR_NOMEM with nothing stored for the client. */
int retry_cache_put(retry_cache_t *rc, uint64_t client_id, uint64_t id, int code, const void *reply,
                    size_t len, uint64_t now_ms);

/* Drops entries stored more than ttl_ms before now_ms; returns how many. */
size_t retry_cache_expire(retry_cache_t *rc, uint64_t now_ms);

size_t retry_cache_count(const retry_cache_t *rc);
size_t retry_cache_bytes(const retry_cache_t *rc); /* reply buffers, as allocated */

#endif
