/*
 * retry.h — the last reply sent to each retrying client, for resent requests.
 *
 * A client that times out resends the same request (same client_id, same
 * id) on a fresh socket; envd must answer it without acting twice. The
 * service keeps, per session, the (client, id) of the last request that
 * changed it (to recognize a duplicate at all) and here, per client, the
 * encoded reply to that client's last state-changing request (to answer
 * one). Only the last reply per client is kept: a client waits for each
 * reply before it sends the next request on the same session, so a resend
 * is always of its latest request. A duplicate whose reply is not here is
 * refused by the service, never executed again (docs/protocol.md,
 * "Retries").
 *
 * Fairness: every entry belongs to an origin, the connection (or, under
 * CURVE, the client key) its reply was stored from, and only that origin's
 * own traffic can push it out before its TTL. An origin holds at most
 * 1/RETRY_SHARES of the clients bound, and of the byte bound beyond its
 * newest reply; when the cache is full, a put makes room among its own
 * origin's entries only, oldest first, and is not kept when that origin
 * has nothing else to give. So a flood of fresh client ids from one
 * connection churns that connection's share, and a flood from many
 * connections can at worst keep new clients out for a TTL: neither can
 * take an entry from anyone else. Every operation is O(1) (amortized for
 * expiry), and a client in a steady state allocates nothing.
 *
 * The service passes clients and origins as 64-bit values it has already
 * mixed with a secret key (SipHash), so they index open-addressed tables
 * without further hashing and a peer cannot aim them at one slot.
 */
#ifndef RETRY_H
#define RETRY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct retry_cache retry_cache_t;

/* An origin's share: at most max_clients / RETRY_SHARES entries (at least
 * one) and max_bytes / RETRY_SHARES bytes, unless that is its one entry. */
#define RETRY_SHARES 64

/* Bounds: at most max_clients entries holding at most max_bytes of replies
 * in all, each dropped ttl_ms after it was stored. 0, or ERR_NOMEM with
 * *out NULL. */
int retry_cache_new(size_t max_clients, size_t max_bytes, uint64_t ttl_ms, retry_cache_t **out,
                    errbuf_t *e);
void retry_cache_destroy(retry_cache_t **self_p);

/* The reply stored for (client, id), or NULL when this client's last
 * stored reply is another request's, or expired, or was evicted. On a hit
 * *len and *code are set; the bytes are borrowed until the next put. */
const void *retry_cache_find(retry_cache_t *rc, uint64_t client, uint64_t id, uint64_t now_ms,
                             size_t *len, int *code);

/* Stores reply bytes as client's last reply (to request id, answered with
 * code), coming from origin; replaces the client's previous reply unless
 * that answered a later id (then nothing is stored and 0 returned: ids of
 * one client increase). The entry's buffer is reused, so a client in a
 * steady state allocates nothing. Drops expired entries first, then makes
 * room only among origin's own entries (see above). 0 when stored;
 * ERR_RESOURCE_EXHAUSTED when the reply is not kept because the room it
 * needs is held by other origins (or it alone is over the byte bound);
 * ERR_NOMEM. On either error nothing is stored for the client. */
int retry_cache_put(retry_cache_t *rc, uint64_t client, uint64_t origin, uint64_t id, int code,
                    const void *reply, size_t len, uint64_t now_ms);

/* Drops entries stored more than ttl_ms before now_ms; returns how many. */
size_t retry_cache_expire(retry_cache_t *rc, uint64_t now_ms);

size_t retry_cache_count(const retry_cache_t *rc);
size_t retry_cache_bytes(const retry_cache_t *rc); /* reply buffers, as allocated */
size_t retry_cache_origins(const retry_cache_t *rc); /* origins holding entries */

#endif
