/*
 * http.h — a minimal HTTP/1.0 listener on libuv for /healthz and /metrics.
 *
 * It answers GET requests for a fixed set of paths through one callback and
 * closes each connection after the reply. Requests over 8 KiB, methods
 * other than GET/HEAD and unknown paths get 4xx replies. It exists for
 * probes and Prometheus scrapes, not as a general web server.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <uv.h>

#include "err.h"

/* A growable text buffer the handler writes its body into. */
typedef struct http_text {
    char *data;
    size_t len, cap;
} http_text_t;

void http_text_printf(http_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fills body for path; returns the HTTP status (200, 404, 503, ...) and
 * sets *content_type (a static string). */
typedef int (*http_handler_cb)(void *data, const char *path, http_text_t *body,
                               const char **content_type);

typedef struct http_server http_server_t;

/* Listens on addr ("127.0.0.1:9100", "[::1]:9100", "0.0.0.0:9100"); port 0
 * lets the OS choose a free port. */
int http_server_start(uv_loop_t *loop, const char *addr, http_handler_cb cb, void *data,
                      http_server_t **out, errbuf_t *e);

/* The port actually bound (resolves port 0), or 0 when h is NULL. */
int http_server_port(const http_server_t *h);

/* Closes the listener and every open connection; the server frees itself
 * once libuv has closed the last handle. */
void http_server_close(http_server_t *h);

/* Parses "host:port" or "[v6]:port" (port 0 to 65535) into a sockaddr. */
int http_parse_addr(const char *addr, struct sockaddr_storage *out, errbuf_t *e);

#endif
