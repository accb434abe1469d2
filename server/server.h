/*
 * server.h — envd's transport: a ZeroMQ ROUTER socket on a libuv loop.
 *
 * The server binds one ROUTER socket to every configured endpoint, watches
 * its ZMQ_FD with uv_poll, and hands each request to the service. It also
 * runs the session-reclaim timer, the SIGINT/SIGTERM handlers, the
 * optional /healthz + /metrics HTTP listener (http.c; metrics.c renders
 * what it answers) and, under CURVE, the client authenticator (zap.c),
 * all on the caller's loop.
 * After server_stop() (or a signal) every handle closes, so uv_run()
 * returns and the loop can be closed with nothing left open.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stdbool.h>
#include <uv.h>

#include "http.h"
#include "service.h"

#define SERVER_MAX_BINDS 16
/* Requests queued per peer before ZeroMQ stops reading its connection:
 * more would only hold memory (up to the hard message size each), since
 * the rest wait in TCP and nothing is lost (docs/security.md). */
#define SERVER_RCVHWM 8

typedef struct server_config {
    const char *binds[SERVER_MAX_BINDS];
    size_t nbinds;
    const char *metrics_addr; /* NULL: no HTTP listener */
    http_limits_t metrics_limits; /* fields left 0: http.h's defaults */
    service_config_t service;
    int sndhwm;               /* replies queued per peer (ZeroMQ high-water mark) */
    bool handle_signals;      /* install SIGINT/SIGTERM (and, with CURVE, SIGHUP) handlers */
    /* CURVE: with a secret key (Z85 text) every endpoint is encrypted and a
     * client is let in only if its public key is one of the *.pub files in
     * curve_clients (read at start and on SIGHUP). NULL: plaintext. */
    const char *curve_secret;
    const char *curve_clients;
} server_config_t;

typedef struct server server_t;

/* Creates the socket, binds, and starts watching on loop. */
int server_new(uv_loop_t *loop, const server_config_t *cfg, server_t **out, errbuf_t *e);

/* Graceful stop: answers what has arrived with UNAVAILABLE, then closes
 * every handle. Safe to call more than once and from a signal callback. */
void server_stop(server_t *s);

/* Frees the server; call after uv_run() has returned. */
void server_destroy(server_t **self_p);

/* The endpoint actually bound for binds[i] (resolves tcp://...:* ports). */
const char *server_endpoint(const server_t *s, size_t i);

/* The port of the metrics listener (resolves a configured port 0), or 0
 * when there is none or the server is stopping. */
int server_metrics_port(const server_t *s);

/* Client handshakes refused by the CURVE authenticator (unknown key). */
uint64_t server_auth_failures(const server_t *s);

#endif
