/*
 * server.c — envd's transport: a ZeroMQ ROUTER socket on a libuv loop,
 * and the loop's timers and signals (see server.h).
 *
 * ZMQ_FD is edge-triggered: it signals that ZMQ_EVENTS may have changed,
 * not that a message is waiting, and a send can consume the signal. So the
 * poll callback receives (ZMQ_DONTWAIT) until a receive finds nothing. A
 * receive that finds nothing has first processed every pending ZeroMQ
 * command, as reading ZMQ_EVENTS does, so the fd is quiet and the next
 * message raises it again. (Reading ZMQ_EVENTS before each receive as well
 * would cost a poll() and a getpid() per message for nothing.) To keep
 * timers and the HTTP listener served under a flood, one callback handles
 * at most DRAIN_BUDGET messages and hands the rest to an idle handle that
 * keeps draining on the next loop turns.
 *
 * Replies leave without a copy: the buffer a reply was encoded into becomes
 * the ZeroMQ message itself, and ZeroMQ's I/O thread hands it back once
 * sent (reply_buf_t below), so that after warm-up no reply is allocated,
 * copied or freed; big replies had cost a malloc, a 100 KB memcpy and
 * page faults each.
 *
 * Envelopes: a DEALER request arrives as [identity][body], a REQ request as
 * [identity][empty][body]; the reply mirrors it. Anything else (no body,
 * several body frames) gets an INVALID_ARGUMENT reply. Replies are sent
 * with ZMQ_DONTWAIT and ROUTER_MANDATORY: a peer that is gone or whose
 * queue is full loses that reply (counted), and nobody else waits for it.
 *
 * CURVE: the ROUTER is a CURVE server whose every client handshake goes
 * to the ZAP authenticator (zap.c), bound in the same context before the
 * ROUTER binds. What /healthz and /metrics answer is rendered by
 * metrics.c from the service's counters and the transport's own below.
 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "curve.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "zap.h"
#include "zmsg.h"

#define DRAIN_BUDGET 256
#define SPARE_MAX 32                  /* reply buffers kept for reuse... */
#define SPARE_MAX_BYTES (16u << 20)   /* ...holding at most this much */
#define MAX_FRAMES 4

/* A reply's encode buffer, lent to ZeroMQ while the reply is in flight. */
typedef struct reply_buf {
    struct reply_buf *next;
    server_t *server;
    wire_buf_t wb;
} reply_buf_t;

struct server {
    uv_loop_t *loop;
    server_config_t cfg;
    service_t *svc;
    void *zctx, *sock;
    char endpoints[SERVER_MAX_BINDS][256];
    uv_poll_t poll;
    uv_idle_t idle;
    uv_timer_t reap_timer;
    uv_signal_t sigint, sigterm;
    http_server_t *http;
    zap_t *zap;              /* the CURVE client authenticator; NULL without CURVE */
    wire_buf_t out;          /* used only if a reply buffer cannot be allocated */
    reply_buf_t *spare;      /* loop thread only */
    _Atomic(reply_buf_t *) returned; /* pushed by ZeroMQ's I/O thread when sent */
    bool stopping;
    /* metrics owned by the transport */
    metrics_latency_t latency;
    uint64_t replies_dropped;
};

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* ---------------------------------------------------------------- sending */

/* ZeroMQ's free function for a sent (or dropped) reply; runs on its I/O
 * thread or, for a reply that could not be queued, on the loop thread. The
 * loop thread only ever takes the whole list at once, so this push needs
 * no more than a compare-and-swap. */
static void reply_buf_returned(void *data, void *hint)
{
    (void)data;
    reply_buf_t *rb = hint;
    server_t *s = rb->server;
    rb->next = atomic_load_explicit(&s->returned, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->returned, &rb->next, rb,
                                                  memory_order_release, memory_order_relaxed))
        ;
}

static void reply_buf_free(reply_buf_t *rb)
{
    wire_buf_deinit(&rb->wb);
    free(rb);
}

static void reply_buf_free_list(reply_buf_t *rb)
{
    while (rb) {
        reply_buf_t *next = rb->next;
        reply_buf_free(rb);
        rb = next;
    }
}

/* A buffer to encode the next reply into: a returned one, else a new one
 * (only while the pool grows to the number of replies in flight). NULL
 * when out of memory. */
static reply_buf_t *reply_buf_get(server_t *s)
{
    if (!s->spare) {
        /* Take back what has been sent; keep a bounded pool of modest buffers. */
        reply_buf_t *list = atomic_exchange_explicit(&s->returned, NULL, memory_order_acquire);
        int kept = 0;
        size_t bytes = 0;
        while (list) {
            reply_buf_t *rb = list;
            list = rb->next;
            if (kept < SPARE_MAX && bytes + rb->wb.cap <= SPARE_MAX_BYTES) {
                rb->next = s->spare;
                s->spare = rb;
                kept++;
                bytes += rb->wb.cap;
            } else {
                reply_buf_free(rb);
            }
        }
    }
    reply_buf_t *rb = s->spare;
    if (rb) {
        s->spare = rb->next;
        return rb;
    }
    rb = calloc(1, sizeof *rb);
    if (rb)
        rb->server = s;
    return rb;
}

/* Sends the reply encoded in body (rb's buffer, or s->out when rb is NULL). */
static void send_reply(server_t *s, zmq_msg_t *frames, int nenv, reply_buf_t *rb,
                       const wire_buf_t *body)
{
    /* nenv envelope frames (identity, optional delimiter) then the body. */
    for (int i = 0; i < nenv; i++) {
        if (zmq_send(s->sock, zmq_msg_data(&frames[i]), zmq_msg_size(&frames[i]),
                     ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            goto dropped;
    }
    if (rb) {
        zmq_msg_t m;
        zmq_msg_init_data(&m, rb->wb.data, rb->wb.len, reply_buf_returned, rb);
        rb = NULL; /* ZeroMQ owns it now and returns it through the free function */
        if (zmq_msg_send(&m, s->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            goto dropped;
        }
    } else if (zmq_send(s->sock, body->data, body->len, ZMQ_DONTWAIT) < 0) {
        goto dropped;
    }
    return;
dropped:
    /* EHOSTUNREACH: the peer left; EAGAIN: its queue is full. ZeroMQ drops
     * a partially sent multipart message as a whole. */
    if (rb) {
        rb->next = s->spare;
        s->spare = rb;
    }
    s->replies_dropped++;
    log_debug("reply dropped: %s", zmq_strerror(errno));
}

/* Receives one whole message; returns false when none is waiting. */
static bool handle_one(server_t *s)
{
    zmq_msg_t frames[MAX_FRAMES];
    int extra;
    int n = zmsg_recv(s->sock, frames, MAX_FRAMES, &extra);
    if (n == 0)
        return false;
    uint64_t t0 = uv_hrtime();
    reply_buf_t *rb = reply_buf_get(s);
    wire_buf_t *out = rb ? &rb->wb : &s->out;
    /* frames[0] is the identity; an empty frame after it is a REQ delimiter. */
    int nenv = 1;
    if (n >= 3 && zmq_msg_size(&frames[1]) == 0)
        nenv = 2;
    int nbody = n + extra - nenv;
    uint64_t limit = s->cfg.service.max_message_size;
    if (n < 2 || nbody != 1) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "multi-part message: %d body frames; send each request as one frame", nbody);
        service_reply_error(s->svc, ERR_INVALID_ARGUMENT, n < 2 ? "no message body" : msg,
                            out);
    } else if (zmq_msg_size(&frames[nenv]) > limit) {
        char msg[160];
        snprintf(msg, sizeof msg, "message of %zu bytes exceeds the limit of %" PRIu64 " bytes",
                 zmq_msg_size(&frames[nenv]), limit);
        service_reply_error(s->svc, ERR_RESOURCE_EXHAUSTED, msg, out);
    } else {
        service_result_t res;
        /* The peer for the reply cache: the connection, and under CURVE the
         * client key, which the ZAP handler returned as the User-Id and
         * ZeroMQ attaches to every message of that connection. */
        service_peer_t peer = {.conn = zmq_msg_data(&frames[0]),
                               .conn_len = zmq_msg_size(&frames[0])};
        const char *user = s->zap ? zmq_msg_gets(&frames[nenv], "User-Id") : NULL;
        if (user && *user) {
            peer.key = user;
            peer.key_len = strlen(user);
        }
        service_handle(s->svc, zmq_msg_data(&frames[nenv]), zmq_msg_size(&frames[nenv]), &peer,
                       uv_now(s->loop), out, &res);
        if (res.code != ERR_OK)
            log_debug("%s request failed: %s", wire_op_name(res.op), err_name(res.code));
    }
    send_reply(s, frames, nenv < n ? nenv : 1, rb, out);
    zmsg_close(frames, n);
    metrics_latency_record(&s->latency, uv_hrtime() - t0);
    return true;
}

/* Drains up to DRAIN_BUDGET messages; true when the socket is empty. */
static bool drain(server_t *s)
{
    for (int i = 0; i < DRAIN_BUDGET; i++)
        if (!handle_one(s))
            return true;
    return false;
}

static void on_idle(uv_idle_t *h)
{
    server_t *s = h->data;
    if (drain(s))
        uv_idle_stop(&s->idle);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    server_t *s = h->data;
    if (!drain(s))
        uv_idle_start(&s->idle, on_idle);
}

/* ----------------------------------------------------------------- timers */

static void on_reap(uv_timer_t *t)
{
    server_t *s = t->data;
    size_t n = service_reap(s->svc, uv_now(s->loop));
    if (n)
        log_info("reclaimed %zu idle sessions (ttl %" PRIu64 " ms), %zu active", n,
                 s->cfg.service.session_ttl_ms, service_active_sessions(s->svc));
}

static void on_signal(uv_signal_t *h, int signum)
{
    server_t *s = h->data;
    log_info("%s received: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(s);
}

/* ---------------------------------------------------------------- metrics */

static int on_http(void *data, const char *path, text_t *b, const char **ctype)
{
    server_t *s = data;
    metrics_transport_t t = {.stopping = s->stopping,
                             .replies_dropped = s->replies_dropped,
                             .auth_failures = server_auth_failures(s),
                             .latency = &s->latency,
                             .http = s->http};
    return metrics_render(s->svc, &t, path, b, ctype);
}

uint64_t server_auth_failures(const server_t *s) { return s->zap ? zap_failures(s->zap) : 0; }

/* ------------------------------------------------------------- lifecycle */

static int zmq_fail(errbuf_t *e, const char *what)
{
    return err_set(e, ERR_IO, "%s: %s", what, zmq_strerror(errno));
}

/* Makes the ROUTER a CURVE server behind the ZAP authenticator, which
 * zap_new binds first: no connection is ever accepted without it. */
static int curve_start(server_t *s, errbuf_t *e)
{
    int rc = zap_new(s->zctx, s->cfg.curve_clients, &s->zap, e);
    if (rc < 0)
        return rc;
    int one = 1;
    if (zmq_setsockopt(s->sock, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_CURVE_SECRETKEY, s->cfg.curve_secret, CURVE_Z85_LEN) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_ZAP_DOMAIN, "envd", 4) < 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "CURVE server key: %s", zmq_strerror(errno));
    return 0;
}

int server_new(uv_loop_t *loop, const server_config_t *cfg, server_t **out, errbuf_t *e)
{
    server_t *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(e, ERR_NOMEM, "out of memory");
    s->loop = loop;
    s->cfg = *cfg;
    int rc = service_new(&cfg->service, &s->svc, e);
    if (rc < 0)
        goto err;
    s->zctx = zmq_ctx_new();
    s->sock = s->zctx ? zmq_socket(s->zctx, ZMQ_ROUTER) : NULL;
    if (!s->sock) {
        rc = zmq_fail(e, "creating the ROUTER socket");
        goto err;
    }
    int one = 1, linger = 1000;
    /* The hard cap sits above the advertised limit so that a message over
     * the limit still gets a RESOURCE_EXHAUSTED reply; far bigger ones make
     * ZeroMQ drop the connection before buffering them. */
    int64_t hard_max = (int64_t)cfg->service.max_message_size * 2 + 4096;
    int rcvhwm = SERVER_RCVHWM;
    if (zmq_setsockopt(s->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &hard_max, sizeof hard_max) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_SNDHWM, &cfg->sndhwm, sizeof cfg->sndhwm) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) < 0) {
        rc = zmq_fail(e, "configuring the ROUTER socket");
        goto err;
    }
    if (cfg->curve_secret && (rc = curve_start(s, e)) < 0)
        goto err;
    for (size_t i = 0; i < cfg->nbinds; i++) {
        if (zmq_bind(s->sock, cfg->binds[i]) < 0) {
            rc = err_set(e, ERR_IO, "bind %s: %s", cfg->binds[i], zmq_strerror(errno));
            goto err;
        }
        size_t len = sizeof s->endpoints[i];
        zmq_getsockopt(s->sock, ZMQ_LAST_ENDPOINT, s->endpoints[i], &len);
        log_info("listening on %s", s->endpoints[i]);
    }
    int fd;
    size_t fdlen = sizeof fd;
    if (zmq_getsockopt(s->sock, ZMQ_FD, &fd, &fdlen) < 0) {
        rc = zmq_fail(e, "reading ZMQ_FD");
        goto err;
    }

    /* From here on every handle is closed by server_stop(). */
    uv_poll_init(loop, &s->poll, fd);
    uv_idle_init(loop, &s->idle);
    uv_timer_init(loop, &s->reap_timer);
    s->poll.data = s->idle.data = s->reap_timer.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
    uint64_t every = cfg->service.session_ttl_ms / 10;
    every = every < 10 ? 10 : every > 1000 ? 1000 : every;
    uv_timer_start(&s->reap_timer, on_reap, every, every);
    if (cfg->handle_signals) {
        uv_signal_init(loop, &s->sigint);
        uv_signal_init(loop, &s->sigterm);
        s->sigint.data = s->sigterm.data = s;
        uv_signal_start(&s->sigint, on_signal, SIGINT);
        uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    }
    if (cfg->metrics_addr) {
        rc = http_server_start(loop, cfg->metrics_addr, &cfg->metrics_limits, on_http, s,
                               &s->http, e);
        if (rc < 0) {
            server_stop(s);
            *out = s; /* the caller runs the loop to let the handles close, then destroys */
            return rc;
        }
        log_info("metrics on http://%s/metrics (port %d, at most %d connections)",
                 cfg->metrics_addr, http_server_port(s->http),
                 http_server_stats(s->http)->max_conns);
    }
    /* The authenticator first, as it answers handshakes that may have
     * queued already (with SIGHUP rereading its keys). */
    if (s->zap)
        zap_start(s->zap, loop, cfg->handle_signals);
    /* Messages may have queued before the poll started: the edge is gone. */
    on_readable(&s->poll, 0, UV_READABLE);
    *out = s;
    return 0;
err:
    server_destroy(&s);
    *out = NULL;
    return rc;
}

void server_stop(server_t *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = true;
    service_drain(s->svc);
    /* Whatever has already arrived is answered (UNAVAILABLE) before the
     * socket closes; the linger period lets those replies leave. */
    while (!drain(s))
        ;
    close_handle((uv_handle_t *)&s->poll);
    close_handle((uv_handle_t *)&s->idle);
    close_handle((uv_handle_t *)&s->reap_timer);
    if (s->cfg.handle_signals) {
        close_handle((uv_handle_t *)&s->sigint);
        close_handle((uv_handle_t *)&s->sigterm);
    }
    zap_stop(s->zap);
    http_server_close(s->http);
    s->http = NULL;
}

void server_destroy(server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    server_t *s = *self_p;
    if (s->sock)
        zmq_close(s->sock);
    zap_destroy(&s->zap); /* its socket, before the context ends */
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    service_destroy(&s->svc);
    wire_buf_deinit(&s->out);
    /* zmq_ctx_term has returned: every reply in flight has come back. */
    reply_buf_free_list(s->spare);
    reply_buf_free_list(atomic_exchange(&s->returned, NULL));
    free(s);
    *self_p = NULL;
}

int server_metrics_port(const server_t *s) { return http_server_port(s->http); }

const char *server_endpoint(const server_t *s, size_t i)
{
    return i < s->cfg.nbinds ? s->endpoints[i] : NULL;
}
