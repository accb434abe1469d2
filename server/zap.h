/*
 * zap.h — envd's CURVE client authenticator: the ZAP handler (ZeroMQ RFC
 * 27) that admits a client only if its public key is one of the *.pub
 * files in a directory, rereads that directory on SIGHUP, and counts the
 * refusals.
 *
 * The handler is a REP socket bound to inproc://zeromq.zap.01 in the
 * server's ZeroMQ context; ZeroMQ puts every CURVE handshake of that
 * context to it before the connection may carry a message. It is served
 * on the libuv loop, through its ZMQ_FD, rather than from a thread:
 * ZeroMQ's I/O thread waits for a ZAP reply without blocking anything
 * else, the answer is one lookup in a small sorted key table, and on the
 * loop thread the table can be reloaded and the refusals counted with no
 * locking. The key a client authenticated with goes back to ZeroMQ as the
 * connection's User-Id (Z85 text), which the transport reads off every
 * message (server.c).
 */
#ifndef ZAP_H
#define ZAP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

typedef struct zap zap_t;

/* Reads the keys in clients_dir (the string is borrowed for zap's life)
 * and binds the handler in zctx. Must come before any CURVE server socket
 * of zctx binds, so that no connection is ever accepted without it.
 * 0, or ERR_IO (directory, key file or socket) / ERR_NOMEM with *out NULL. */
int zap_new(void *zctx, const char *clients_dir, zap_t **out, errbuf_t *e);

/* Serves the handler on loop from now on, and with sighup the SIGHUP
 * handler that rereads the keys; answers whatever has queued already. */
void zap_start(zap_t *z, uv_loop_t *loop, bool sighup);

/* Closes the handles zap_start opened (safe if it never ran, and twice). */
void zap_stop(zap_t *z);

/* Closes the socket and frees the table: after zap_stop and once the
 * loop has closed the handles (uv_run has returned). */
void zap_destroy(zap_t **self_p);

/* Rereads the authorised client keys; on failure the old set stays. */
int zap_reload(zap_t *z, errbuf_t *e);

/* Client handshakes refused (unknown key, or not CURVE). */
uint64_t zap_failures(const zap_t *z);

#endif
