/*
 * service_retry.c — resent requests never act twice: the client's retry
 * identity, the reply cache, the session marks (docs/protocol.md,
 * "Retries").
 *
 * A request that carries a client_id and changes state is remembered twice
 * over: its (client_id, id) on every session it changed, and its encoded
 * reply in the per-client reply cache (retry.c). A resend of it is
 * answered from the cache, byte for byte; one whose reply is gone is
 * recognized by the session marks and refused, so no request ever acts
 * twice. Both key on the client's retry identity rather than the
 * client_id it sent: the client_id bound to the CURVE key it
 * authenticated with, hashed under a secret drawn at start, so that
 * another key reusing the client_id is another client, and no peer can
 * aim its ids at one slot of the cache's index.
 */
#include "service_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The operations whose replies a resend must get back rather than cause
 * again; the others are re-executed, which changes nothing. */
static bool op_changes_state(int op)
{
    switch (op) {
    case WIRE_OP_MAKE:
    case WIRE_OP_RESET:
    case WIRE_OP_STEP:
    case WIRE_OP_RESET_BATCH:
    case WIRE_OP_STEP_BATCH:
    case WIRE_OP_CLOSE: return true;
    default: return false;
    }
}

/* Where the cache accounts a reply: the CURVE key when there is one (a
 * flooder cannot mint those), else the connection; 0 for an unknown peer.
 * The tag byte keeps a key and a routing id with the same bytes apart. */
static uint64_t retry_origin(const service_t *svc, const service_peer_t *peer)
{
    if (!peer)
        return 0;
    uint8_t buf[1 + 255]; /* ZMTP routing ids are at most 255 bytes, Z85 keys 40 */
    const void *id = peer->key ? peer->key : peer->conn;
    size_t n = peer->key ? peer->key_len : peer->conn_len;
    if (n > sizeof buf - 1)
        n = sizeof buf - 1;
    buf[0] = peer->key ? 'K' : 'C';
    if (n)
        memcpy(buf + 1, id, n);
    return siphash24(svc->secret, buf, 1 + n);
}

/* The retry identity of a request's client_id: bound to the CURVE key
 * (through origin, its hash) when there is one, never to a connection,
 * since resends come on fresh ones. 0 stays "no protection". */
static uint64_t retry_client(const service_t *svc, uint64_t client_id, const service_peer_t *peer,
                             uint64_t origin)
{
    if (!client_id)
        return 0;
    uint64_t in[2] = {client_id, peer && peer->key ? origin : 0};
    uint8_t buf[16];
    for (int i = 0; i < 16; i++) /* little-endian on every host */
        buf[i] = (uint8_t)(in[i / 8] >> (8 * (i % 8)));
    uint64_t h = siphash24(svc->secret, buf, sizeof buf);
    return h ? h : 1;
}

bool service__retry_begin(service_t *svc, wire_request_t *req, const service_peer_t *peer,
                          uint64_t *origin)
{
    *origin = 0;
    if (req->client_id == 0 || !op_changes_state(req->op))
        return false;
    /* From here on client_id is the retry identity: the cache and the
     * session marks only ever compare it. */
    *origin = retry_origin(svc, peer);
    req->client_id = retry_client(svc, req->client_id, peer, *origin);
    return true;
}

bool service__retry_replay(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                           wire_buf_t *out, service_result_t *res)
{
    size_t len;
    int code;
    const void *bytes = retry_cache_find(svc->retry, req->client_id, req->id, now_ms, &len, &code);
    if (!bytes)
        return false;
    if (out->cap < len) {
        uint8_t *data = realloc(out->data, len);
        if (!data)
            return false; /* the session marks refuse it instead */
        out->data = data;
        out->cap = len;
    }
    memcpy(out->data, bytes, len);
    out->len = len;
    svc->stats.requests_by_op[req->op]++;
    svc->stats.retries_replayed++;
    if (res) {
        res->op = req->op;
        res->code = code;
    }
    return true;
}

void service__retry_keep(service_t *svc, const wire_request_t *req, uint64_t origin, int code,
                         const wire_buf_t *reply, uint64_t now_ms)
{
    /* If the put fails, the session marks still refuse a resend rather
     * than execute it again. */
    if (retry_cache_put(svc->retry, req->client_id, origin, req->id, code, reply->data,
                        reply->len, now_ms) < 0)
        svc->stats.retries_not_kept++;
}

/* The same id (a resend whose cached reply is gone: executing it again
 * would act twice) or an older one (a stale copy overtaken by later
 * requests): ids of one client increase, so both are duplicates. */
int service__retry_check(service_t *svc, const wire_request_t *req, const session_t *s,
                         errbuf_t *e)
{
    if (!req->client_id || s->last_client_id != req->client_id || req->id > s->last_request_id)
        return 0;
    svc->stats.retries_refused++;
    if (req->id == s->last_request_id)
        return err_set(e, ERR_FAILED_PRECONDITION,
                       "duplicate request id %" PRIu64 ": already executed on session %016" PRIx64
                       ", reply no longer cached",
                       req->id, s->id);
    return err_set(e, ERR_FAILED_PRECONDITION,
                   "stale request id %" PRIu64 ": session %016" PRIx64
                   " already executed request %" PRIu64 " of this client",
                   req->id, s->id, s->last_request_id);
}

void service__retry_mark(const wire_request_t *req, session_t *s)
{
    s->last_client_id = req->client_id;
    s->last_request_id = req->id;
}
