/*
 * http.c — the /healthz and /metrics listener (see http.h).
 *
 * Each connection owns a fixed 8 KiB request buffer and a timer; once the
 * header block is complete the handler renders the body, one uv_write
 * sends header and body, and the connection closes. Connections are linked
 * in a list so that http_server_close() can close them all; memory is
 * freed only in libuv close callbacks, once both the TCP handle and the
 * timer are closed.
 *
 * Descriptors. envd's descriptors are shared with ZeroMQ, whose I/O thread
 * needs one per client connection, and an exhausted table stalls it: its
 * accept() fails and the new client is never served. So HTTP takes a
 * bounded share: at most limits.max_conns connections, and no more than a
 * quarter (HTTP_FD_SHARE) of the descriptors free when the listener
 * starts, after ZeroMQ's own (main.c has raised the soft limit to the hard
 * one by then). A connection over the cap is accepted and closed at once,
 * so the kernel backlog never fills with connections nobody will serve.
 *
 * Out of descriptors all the same (ZeroMQ clients took them, or a burst),
 * libuv's accept callback reports UV_EMFILE: its own trick of closing a
 * spare descriptor to accept and drop the waiting connections fails once
 * another thread has taken that spare, and from then on libuv retries
 * accept() in a loop that never returns to the event loop. So on EMFILE,
 * ENFILE or no memory the listener closes (which ends that loop and
 * resets what waits in its backlog) and listens again HTTP_RELISTEN_MS
 * later on the same address.
 */
#include "http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dlist.h"
#include "hostport.h"
#include "log.h"
#include "procstat.h"

#define HTTP_REQ_MAX 8192
#define HTTP_BACKLOG 64
#define HTTP_FD_SHARE 4       /* HTTP holds at most 1/4 of the descriptors free at start */
#define HTTP_RELISTEN_MS 1000 /* out of descriptors: listen again after this long */

typedef struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* header and idle timeouts, then the reply's */
    uv_write_t write;
    struct http_server *server;
    dlist_node_t link; /* in the server's open connections */
    uint64_t deadline; /* loop time by which the request must be complete */
    size_t len;
    char req[HTTP_REQ_MAX + 1];
    char *reply; /* header + body, freed with the connection */
    int closing;
    int handles; /* tcp and timer, until both are closed */
} http_conn_t;

enum { LISTENER_CLOSED, LISTENER_OPEN, LISTENER_CLOSING };

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t relisten;
    struct sockaddr_storage addr; /* as bound: a port 0 resolved */
    char name[128];               /* the address as configured, for logs */
    http_limits_t limits;
    http_handler_cb cb;
    void *data;
    dlist_t conns; /* of http_conn_t.link */
    http_stats_t stats;
    int listener_state;
    int closing;
    int open_handles; /* listener, relisten timer, connections not yet closed */
};

int http_parse_address(const char *addr, struct sockaddr_storage *out, errbuf_t *e)
{
    /* Port 0 asks the OS for a free port; http_server_port() reports it. */
    hostport_t hp;
    int rc = hostport_parse(addr, HOSTPORT_PORT_ZERO | HOSTPORT_HOST_OPTIONAL, &hp, e);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(hp.host, (int)hp.port_num, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(hp.host, (int)hp.port_num, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return err_set(e, ERR_INVALID_ARGUMENT,
                   "'%s': '%s' is not an IP address (give one: 127.0.0.1, [::1], 0.0.0.0, ...)",
                   addr, hp.host);
}

static void server_handle_closed(http_server_t *h)
{
    if (--h->open_handles == 0)
        free(h);
}

/* ------------------------------------------------------------ connections */

static void on_conn_handle_closed(uv_handle_t *handle)
{
    http_conn_t *c = handle->data;
    if (--c->handles > 0)
        return;
    http_server_t *h = c->server;
    dlist_unlink(&h->conns, &c->link);
    h->stats.open--;
    free(c->reply);
    free(c);
    server_handle_closed(h);
}

static void conn_close(http_conn_t *c)
{
    if (!c->closing) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
        uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    }
}

static void on_conn_timeout(uv_timer_t *timer)
{
    http_conn_t *c = timer->data;
    c->server->stats.timed_out++;
    conn_close(c);
}

/* While the request is read: the idle timeout, cut short by the header
 * deadline. */
static void conn_arm_read(http_conn_t *c)
{
    uint64_t now = uv_now(c->server->loop), wait = c->server->limits.idle_timeout_ms;
    if (c->deadline <= now) {
        on_conn_timeout(&c->timer);
        return;
    }
    if (c->deadline - now < wait)
        wait = c->deadline - now;
    uv_timer_start(&c->timer, on_conn_timeout, wait, 0);
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
    text_t t = {0};
    text_printf(&t,
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, status_text(status), ctype, blen);
    if (!head_only && blen)
        text_printf(&t, "%.*s", (int)blen, body);
    if (!t.data) {
        conn_close(c);
        return;
    }
    c->reply = t.data;
    uv_buf_t buf = uv_buf_init(t.data, (unsigned)t.len);
    c->write.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    /* A client that does not take its reply holds a descriptor too. */
    uv_timer_start(&c->timer, on_conn_timeout, c->server->limits.idle_timeout_ms, 0);
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
    text_t body = {0};
    const char *ctype = plain;
    int status = c->server->cb(c->server->data, path, &body, &ctype);
    conn_reply(c, status, ctype, body.data ? body.data : "", body.len, head);
    text_free(&body);
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
    if (nread == 0)
        return; /* EAGAIN: nothing came, so the idle timer runs on */
    c->len += (size_t)nread;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
        conn_handle(c);
    else if (c->len >= HTTP_REQ_MAX)
        conn_reply(c, 413, "text/plain", "request too large\n", 18, 0);
    else
        conn_arm_read(c);
}

/* --------------------------------------------------------------- listener */

static void on_listener_closed(uv_handle_t *handle);

static void listener_close(http_server_t *h)
{
    if (h->listener_state == LISTENER_OPEN) {
        h->listener_state = LISTENER_CLOSING;
        uv_close((uv_handle_t *)&h->listener, on_listener_closed);
    }
}

/* No descriptor (or memory) to take a connection with: close the listener,
 * which ends libuv's accept loop and drops its backlog, and listen again
 * later (on_listener_closed arms the timer). */
static void listener_pause(http_server_t *h, const char *why)
{
    if (h->listener_state != LISTENER_OPEN)
        return;
    h->stats.fd_pauses++;
    log_warn("metrics listener %s: %s; not listening for %d ms", h->name, why, HTTP_RELISTEN_MS);
    listener_close(h);
}

static void on_refused_closed(uv_handle_t *handle) { free(handle); }

/* Over the cap: accept and close at once. The descriptor is released by
 * uv_close itself; only the handle waits for its callback. */
static void conn_refuse(http_server_t *h)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t) {
        listener_pause(h, "out of memory");
        return;
    }
    uv_tcp_init(h->loop, t);
    if (uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)t) == 0)
        h->stats.refused++;
    uv_close((uv_handle_t *)t, on_refused_closed);
}

static void on_connection(uv_stream_t *listener, int status)
{
    http_server_t *h = listener->data;
    if (h->closing)
        return;
    if (status == UV_EMFILE || status == UV_ENFILE || status == UV_ENOBUFS ||
        status == UV_ENOMEM) {
        listener_pause(h, uv_strerror(status));
        return;
    }
    if (status < 0) /* a network error on that one connection: the next may be fine */
        return;
    if (h->stats.open >= h->stats.max_conns) {
        conn_refuse(h);
        return;
    }
    http_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        listener_pause(h, "out of memory");
        return;
    }
    c->server = h;
    c->handles = 2;
    uv_tcp_init(h->loop, &c->tcp);
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    h->open_handles++;
    h->stats.open++;
    dlist_append(&h->conns, &c->link);
    c->deadline = uv_now(h->loop) + h->limits.header_timeout_ms;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
    else
        conn_arm_read(c);
}

static int listener_open(http_server_t *h, errbuf_t *e)
{
    uv_tcp_init(h->loop, &h->listener);
    h->listener.data = h;
    h->listener_state = LISTENER_OPEN;
    h->open_handles++;
    int rc = uv_tcp_bind(&h->listener, (const struct sockaddr *)&h->addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&h->listener, HTTP_BACKLOG, on_connection);
    if (rc < 0) {
        listener_close(h);
        return err_set(e, ERR_IO, "metrics listener on %s: %s", h->name, uv_strerror(rc));
    }
    return 0;
}

static void on_relisten(uv_timer_t *timer)
{
    http_server_t *h = timer->data;
    errbuf_t e;
    if (h->closing || h->listener_state != LISTENER_CLOSED)
        return;
    if (listener_open(h, &e) == 0)
        log_info("metrics listener %s: listening again", h->name);
    else
        log_debug("%s; trying again in %d ms", e.msg, HTTP_RELISTEN_MS);
}

static void on_relisten_closed(uv_handle_t *handle) { server_handle_closed(handle->data); }

static void on_listener_closed(uv_handle_t *handle)
{
    http_server_t *h = handle->data;
    h->listener_state = LISTENER_CLOSED;
    if (!h->closing)
        uv_timer_start(&h->relisten, on_relisten, HTTP_RELISTEN_MS, 0);
    server_handle_closed(h);
}

/* Descriptors open now, the one reading /proc/self/fd aside. */
/* HTTP's share of the descriptors free now (at least one connection, so
 * that /healthz answers; a refused one needs a descriptor for a moment
 * anyway). */
static int fd_share(long *limit_out, long *free_out)
{
    struct rlimit rl;
    *limit_out = *free_out = -1;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return INT_MAX;
    long limit = rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX : (long)rl.rlim_cur;
    long spare = limit - procstat_open_fds(limit), share = spare / HTTP_FD_SHARE;
    *limit_out = limit;
    *free_out = spare;
    return share < 1 ? 1 : share > INT_MAX ? INT_MAX : (int)share;
}

int http_server_start(uv_loop_t *loop, const char *addr, const http_limits_t *limits,
                      http_handler_cb cb, void *data, http_server_t **out, errbuf_t *e)
{
    struct sockaddr_storage sa;
    int rc = http_parse_address(addr, &sa, e);
    if (rc < 0)
        return rc;
    http_server_t *h = calloc(1, sizeof *h);
    if (!h)
        return err_set(e, ERR_NOMEM, "out of memory");
    h->loop = loop;
    h->addr = sa;
    snprintf(h->name, sizeof h->name, "%s", addr);
    if (limits)
        h->limits = *limits;
    if (h->limits.max_conns <= 0)
        h->limits.max_conns = HTTP_DEFAULT_MAX_CONNS;
    if (!h->limits.header_timeout_ms)
        h->limits.header_timeout_ms = HTTP_DEFAULT_HEADER_TIMEOUT_MS;
    if (!h->limits.idle_timeout_ms)
        h->limits.idle_timeout_ms = HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    h->cb = cb;
    h->data = data;
    long limit, spare;
    int share = fd_share(&limit, &spare);
    h->stats.max_conns = h->limits.max_conns < share ? h->limits.max_conns : share;
    if (h->stats.max_conns < h->limits.max_conns)
        log_info("metrics listener %s: at most %d connections, not %d: a quarter of the %ld "
                 "descriptors free (RLIMIT_NOFILE %ld), the rest kept for ZeroMQ",
                 addr, h->stats.max_conns, h->limits.max_conns, spare, limit);
    uv_timer_init(loop, &h->relisten);
    h->relisten.data = h;
    h->open_handles = 1;
    if ((rc = listener_open(h, e)) < 0) {
        h->closing = 1;
        uv_close((uv_handle_t *)&h->relisten, on_relisten_closed);
        return rc;
    }
    /* Listening again after a pause must find the same port. */
    int len = sizeof h->addr;
    uv_tcp_getsockname(&h->listener, (struct sockaddr *)&h->addr, &len);
    *out = h;
    return 0;
}

int http_server_port(const http_server_t *h)
{
    if (!h)
        return 0;
    if (h->addr.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&h->addr)->sin_port);
    if (h->addr.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&h->addr)->sin6_port);
    return 0;
}

const http_stats_t *http_server_stats(const http_server_t *h) { return &h->stats; }

void http_server_write_metrics(const http_server_t *h, text_t *b)
{
    const http_stats_t *st = &h->stats;
    text_printf(b, "# HELP envd_http_connections_open HTTP connections open, this one included.\n"
                        "# TYPE envd_http_connections_open gauge\n"
                        "envd_http_connections_open %d\n",
                     st->open);
    text_printf(b, "# HELP envd_http_connections_max HTTP connections allowed at once.\n"
                        "# TYPE envd_http_connections_max gauge\n"
                        "envd_http_connections_max %d\n",
                     st->max_conns);
    text_printf(b, "# HELP envd_http_connections_refused_total HTTP connections closed at accept: the cap was reached.\n"
                        "# TYPE envd_http_connections_refused_total counter\n"
                        "envd_http_connections_refused_total %" PRIu64 "\n",
                     st->refused);
    text_printf(b, "# HELP envd_http_connections_timed_out_total HTTP connections closed by the header or idle timeout.\n"
                        "# TYPE envd_http_connections_timed_out_total counter\n"
                        "envd_http_connections_timed_out_total %" PRIu64 "\n",
                     st->timed_out);
    text_printf(b, "# HELP envd_http_listener_paused_total Times the HTTP listener stopped for a second: no descriptor left to accept with.\n"
                        "# TYPE envd_http_listener_paused_total counter\n"
                        "envd_http_listener_paused_total %" PRIu64 "\n",
                     st->fd_pauses);
}

void http_server_close(http_server_t *h)
{
    if (!h || h->closing)
        return;
    h->closing = 1;
    for (dlist_node_t *n = h->conns.head; n; n = n->next)
        conn_close(DLIST_ITEM(n, http_conn_t, link));
    listener_close(h);
    uv_close((uv_handle_t *)&h->relisten, on_relisten_closed);
}
