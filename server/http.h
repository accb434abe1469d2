/*
 * http.h — a minimal HTTP/1.0 listener on libuv for /healthz and /metrics.
 *
 * It answers GET requests for a fixed set of paths through one callback and
 * closes each connection after the reply. Requests over 8 KiB, methods
 * other than GET/HEAD and unknown paths get 4xx replies. It exists for
 * probes and Prometheus scrapes, not as a general web server.
 *
 * It shares envd's file descriptors with ZeroMQ, so it holds only a bounded
 * share of them (http_limits_t): at most max_conns connections, and never
 * more than a quarter of the descriptors free when it starts; a connection
 * over the cap is accepted and closed at once. A connection must send its
 * whole request within the header timeout and never fall silent for longer
 * than the idle timeout, or it is closed. If the process runs out of
 * descriptors all the same, the listener closes for a second instead of
 * letting libuv retry accept() in a busy loop, then listens again.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"
#include "text.h"

/* Fills body for path; returns the HTTP status (200, 404, 503, ...) and
 * sets *content_type (a static string). */
typedef int (*http_handler_cb)(void *data, const char *path, text_t *body,
                               const char **content_type);

#define HTTP_DEFAULT_MAX_CONNS 64
#define HTTP_DEFAULT_HEADER_TIMEOUT_MS 5000
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS 2000

/* What one client may hold; a field left 0 takes the default above. */
typedef struct http_limits {
    int max_conns;              /* connections open at once */
    uint64_t header_timeout_ms; /* from accept to the end of the request headers */
    uint64_t idle_timeout_ms;   /* silence while reading; time to take the reply */
} http_limits_t;

typedef struct http_stats {
    int max_conns;        /* the cap in force: max_conns or the descriptor share */
    int open;             /* connections open now */
    uint64_t refused;     /* accepted and closed at once: the cap was reached */
    uint64_t timed_out;   /* closed by the header or idle timeout */
    uint64_t fd_pauses;   /* listener closed for a while: out of descriptors */
} http_stats_t;

typedef struct http_server http_server_t;

/* An address to listen on: "HOST:PORT" ("127.0.0.1:9100", "[::1]:9100",
 * "0.0.0.0:9100"), or the port alone ("9100", ":9100"), which is
 * 127.0.0.1's; HOST must be an IP address, the port 0 (any free one) to
 * 65535. 0, or ERR_INVALID_ARGUMENT with a message quoting addr. */
int http_parse_address(const char *addr, struct sockaddr_storage *out, errbuf_t *e);

/* Listens on addr (see http_parse_address). limits may be NULL (all
 * defaults). */
int http_server_start(uv_loop_t *loop, const char *addr, const http_limits_t *limits,
                      http_handler_cb cb, void *data, http_server_t **out, errbuf_t *e);

/* The port actually bound (resolves port 0), or 0 when h is NULL. */
int http_server_port(const http_server_t *h);

/* Borrowed; counts since start. */
const http_stats_t *http_server_stats(const http_server_t *h);

/* Appends the listener's own Prometheus series (envd_http_*) to body. */
void http_server_write_metrics(const http_server_t *h, text_t *body);

/* Closes the listener and every open connection; the server frees itself
 * once libuv has closed the last handle. */
void http_server_close(http_server_t *h);

#endif
