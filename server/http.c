/*
 * http.c — the /healthz and /metrics listener (see http.h).
 *
 * Each connection owns a fixed 8 KiB request buffer; once the header block
 * is complete the handler renders the body, one uv_write sends header and
 * body, and the connection closes. Connections are linked in a list so
 * that http_server_close() can close them all; memory is freed only in
 * libuv close callbacks.
 */
#include "http.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_REQ_MAX 8192

typedef struct http_conn {
    uv_tcp_t tcp;
    uv_write_t write;
    struct http_server *server;
    struct http_conn *prev, *next;
    size_t len;
    char req[HTTP_REQ_MAX + 1];
    char *reply; /* header + body, freed with the connection */
    int closing;
} http_conn_t;

struct http_server {
    uv_tcp_t listener;
    http_handler_cb cb;
    void *data;
    http_conn_t *conns;
    int closing;
    int open_handles; /* listener + connections not yet closed */
};

void http_text_printf(http_text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->data ? t->data + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(t->data, cap);
        if (!p)
            return;
        t->data = p;
        t->cap = cap;
    }
}

int http_parse_addr(const char *addr, struct sockaddr_storage *out, errbuf_t *e)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return err_set(e, ERR_INVALID_ARGUMENT, "address '%s': expected HOST:PORT", addr);
    size_t hlen = (size_t)(colon - addr);
    if (addr[0] == '[' && hlen >= 2 && addr[hlen - 1] == ']') {
        addr++;
        hlen -= 2;
    }
    if (hlen >= sizeof host)
        return err_set(e, ERR_INVALID_ARGUMENT, "address '%s': host too long", addr);
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    /* Port 0 asks the OS for a free port; http_server_port() reports it. */
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return err_set(e, ERR_INVALID_ARGUMENT, "address '%s': bad port", addr);
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return err_set(e, ERR_INVALID_ARGUMENT, "address '%s': '%s' is not an IP address", addr, host);
}

static void server_handle_closed(http_server_t *h)
{
    if (--h->open_handles == 0)
        free(h);
}

static void on_conn_closed(uv_handle_t *handle)
{
    http_conn_t *c = handle->data;
    http_server_t *h = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->reply);
    free(c);
    server_handle_closed(h);
}

static void conn_close(http_conn_t *c)
{
    if (!c->closing) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    }
}

static void on_write_done(uv_write_t *req, int status)
{
    conn_close(req->data);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

static void conn_reply(http_conn_t *c, int status, const char *ctype, const char *body,
                       size_t blen, int head_only)
{
    http_text_t t = {0};
    http_text_printf(&t,
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, status_text(status), ctype, blen);
    if (!head_only && blen)
        http_text_printf(&t, "%.*s", (int)blen, body);
    if (!t.data) {
        conn_close(c);
        return;
    }
    c->reply = t.data;
    uv_buf_t buf = uv_buf_init(t.data, (unsigned)t.len);
    c->write.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_write_done) < 0)
        conn_close(c);
}

static void conn_handle(http_conn_t *c)
{
    static const char plain[] = "text/plain; charset=utf-8";
    char method[8], path[256];
    if (sscanf(c->req, "%7s %255s", method, path) != 2) {
        conn_reply(c, 400, plain, "bad request\n", 12, 0);
        return;
    }
    int head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        conn_reply(c, 405, plain, "only GET and HEAD\n", 18, 0);
        return;
    }
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    http_text_t body = {0};
    const char *ctype = plain;
    int status = c->server->cb(c->server->data, path, &body, &ctype);
    conn_reply(c, status, ctype, body.data ? body.data : "", body.len, head);
    free(body.data);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    http_conn_t *c = handle->data;
    *buf = uv_buf_init(c->req + c->len, (unsigned)(HTTP_REQ_MAX - c->len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_conn_t *c = stream->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
        conn_handle(c);
    else if (c->len >= HTTP_REQ_MAX)
        conn_reply(c, 413, "text/plain", "request too large\n", 18, 0);
}

static void on_connection(uv_stream_t *listener, int status)
{
    http_server_t *h = listener->data;
    if (status < 0 || h->closing)
        return;
    http_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->server = h;
    uv_tcp_init(listener->loop, &c->tcp);
    c->tcp.data = c;
    h->open_handles++;
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void on_listener_closed(uv_handle_t *handle) { server_handle_closed(handle->data); }

int http_server_start(uv_loop_t *loop, const char *addr, http_handler_cb cb, void *data,
                      http_server_t **out, errbuf_t *e)
{
    struct sockaddr_storage sa;
    int rc = http_parse_addr(addr, &sa, e);
    if (rc < 0)
        return rc;
    http_server_t *h = calloc(1, sizeof *h);
    if (!h)
        return err_set(e, ERR_NOMEM, "out of memory");
    h->cb = cb;
    h->data = data;
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    h->open_handles = 1;
    int uvrc = uv_tcp_bind(&h->listener, (const struct sockaddr *)&sa, 0);
    if (uvrc == 0)
        uvrc = uv_listen((uv_stream_t *)&h->listener, 64, on_connection);
    if (uvrc < 0) {
        h->closing = 1;
        uv_close((uv_handle_t *)&h->listener, on_listener_closed);
        return err_set(e, ERR_IO, "metrics listener on %s: %s", addr, uv_strerror(uvrc));
    }
    *out = h;
    return 0;
}

int http_server_port(const http_server_t *h)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (!h || uv_tcp_getsockname(&h->listener, (struct sockaddr *)&sa, &len) < 0)
        return 0;
    if (sa.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&sa)->sin_port);
    if (sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&sa)->sin6_port);
    return 0;
}

void http_server_close(http_server_t *h)
{
    if (!h || h->closing)
        return;
    h->closing = 1;
    for (http_conn_t *c = h->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}
