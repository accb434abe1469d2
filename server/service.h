/*
 * service.h — envd's request handling, independent of any transport.
 *
 * service_handle() takes one request message as bytes and always produces
 * one encoded reply: the result, or an error with a code and a message that
 * says what was wrong. It never crashes on input and never changes state
 * when it answers with an error (a batch is validated whole before any
 * session moves). The ZeroMQ/libuv server, the tests and the fuzz target
 * all drive this same function. It is written in three files behind
 * service_internal.h: service.c (the request path, the single-session
 * operations), service_batch.c, service_retry.c.
 */
#ifndef SERVICE_H
#define SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"
#include "wire.h"

#define ENVD_VERSION "0.1.0"

typedef struct service_config {
    size_t max_sessions;
    uint32_t max_batch;        /* sessions per batch request and per make */
    uint64_t session_ttl_ms;   /* idle time after which a session is reclaimed */
    uint64_t max_message_size; /* advertised in hello; enforced by the transport */
    /* The reply cache for resent requests (docs/protocol.md, Retries); 0
     * takes the default in brackets. */
    size_t retry_clients;      /* clients whose last reply is kept [4096] */
    size_t retry_bytes;        /* bytes of replies kept in all [32 MiB] */
    uint64_t retry_ttl_ms;     /* how long a reply is kept [60 s] */
} service_config_t;

#define SERVICE_RETRY_CLIENTS 4096
#define SERVICE_RETRY_BYTES (32u << 20)
#define SERVICE_RETRY_TTL_MS 60000

#define SERVICE_NCODES 8 /* wire status codes 0..7 */
#define SERVICE_NOPS (WIRE_OP_LAST + 1)

typedef struct service_stats {
    uint64_t requests_by_op[SERVICE_NOPS]; /* index: wire_op_t; 0 = undecodable */
    uint64_t errors_by_code[SERVICE_NCODES]; /* index: -code */
    uint64_t env_steps;
    uint64_t sessions_created, sessions_reclaimed;
    uint64_t retries_replayed; /* duplicates answered from the reply cache */
    uint64_t retries_refused;  /* duplicates refused: reply no longer cached, or stale */
    uint64_t retries_not_kept; /* replies the cache had no room for (see retry.h) */
} service_stats_t;

typedef struct service service_t;

/* 0, or a negative code (ERR_NOMEM; ERR_IO when the OS random source
 * fails) with *out NULL and e saying why. */
int service_new(const service_config_t *cfg, service_t **out, errbuf_t *e);
void service_destroy(service_t **self_p);

/* What service_handle learnt about the request, for metrics and logs. */
typedef struct service_result {
    int op;   /* wire_op_t, WIRE_OP_NONE when it did not decode */
    int code; /* ERR_OK or the error code replied */
} service_result_t;

/* Who sent a request, as the transport knows it; the bytes are borrowed
 * for the call. The reply cache keys retries on the client_id bound to
 * key, and shares its room out by origin: key when there is one, else the
 * connection (docs/protocol.md, "Retries"). */
typedef struct service_peer {
    const void *conn; /* the connection: its ZeroMQ routing id */
    size_t conn_len;
    const void *key;  /* the authenticated client: its CURVE public key (Z85) as
                       * the ZAP handler named it; NULL without CURVE */
    size_t key_len;
} service_peer_t;

/* Handles one request from peer and encodes the reply into out
 * (overwritten). peer NULL: unknown (tests, fuzzing, benchmarks), and all
 * such requests count as one connection. */
void service_handle(service_t *svc, const void *msg, size_t len, const service_peer_t *peer,
                    uint64_t now_ms, wire_buf_t *out, service_result_t *res);

/* Encodes an error reply with no request to echo (e.g. a multi-part or
 * oversized message the transport refused before decoding). */
void service_reply_error(service_t *svc, int code, const char *message, wire_buf_t *out);

/* Reclaims sessions idle for longer than the TTL; returns how many. */
size_t service_reap(service_t *svc, uint64_t now_ms);

/* From now on every request is answered UNAVAILABLE (graceful shutdown). */
void service_drain(service_t *svc);

const service_stats_t *service_stats(const service_t *svc);
size_t service_active_sessions(const service_t *svc);

#endif
