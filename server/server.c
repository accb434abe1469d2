/*
 * server.c — ZeroMQ ROUTER + libuv loop (see server.h).
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
 * CURVE: the ROUTER is a CURVE server and every client handshake is put
 * to a ZAP handler (RFC 27) before any of its messages reach the socket.
 * The handler is a REP socket bound to inproc://zeromq.zap.01 in the same
 * context *before* the ROUTER binds, so no connection is ever accepted
 * without it. It is served on the loop, through its ZMQ_FD like the
 * ROUTER, not from a thread: ZeroMQ's I/O thread waits for a ZAP reply
 * without blocking anything else, the answer is one lookup in a small key
 * table, and staying on the loop thread lets the key table be reloaded on
 * SIGHUP and the refusals counted with no locking.
 */
#include "server.h"

#include <arpa/inet.h>
#include <dirent.h>
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

#define DRAIN_BUDGET 256
#define SPARE_MAX 32                  /* reply buffers kept for reuse... */
#define SPARE_MAX_BYTES (16u << 20)   /* ...holding at most this much */
#define MAX_FRAMES 4
#define NBUCKETS 16

static const double latency_bounds[NBUCKETS] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   0.5,   1.0};

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
    uv_signal_t sigint, sigterm, sighup;
    http_server_t *http;
    /* CURVE client authentication (ZAP) */
    void *zap;               /* REP on inproc://zeromq.zap.01; NULL without CURVE */
    uv_poll_t zap_poll;
    uint8_t (*client_keys)[32];
    size_t nclient_keys;
    uint64_t auth_failures;
    uint64_t auth_last_log_ms, auth_unlogged; /* a refused client retries every ~100 ms */
    wire_buf_t out;          /* used only if a reply buffer cannot be allocated */
    reply_buf_t *spare;      /* loop thread only */
    _Atomic(reply_buf_t *) returned; /* pushed by ZeroMQ's I/O thread when sent */
    bool stopping;
    /* metrics owned by the transport */
    uint64_t latency_buckets[NBUCKETS + 1]; /* last: +Inf */
    double latency_sum;
    uint64_t latency_count;
    uint64_t replies_dropped;
};

static void server_close_handle(server_t *s, uv_handle_t *h)
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

static void record_latency(server_t *s, uint64_t ns)
{
    double sec = (double)ns * 1e-9;
    int b = 0;
    while (b < NBUCKETS && sec > latency_bounds[b])
        b++;
    s->latency_buckets[b]++;
    s->latency_sum += sec;
    s->latency_count++;
}

/* Receives one whole message; returns false when none is waiting. */
static bool handle_one(server_t *s)
{
    zmq_msg_t frames[MAX_FRAMES];
    int n = 0, extra = 0;
    bool more = true;
    while (more) {
        /* Keep the first MAX_FRAMES frames; count and discard the rest. */
        zmq_msg_t tmp, *m = n < MAX_FRAMES ? &frames[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, s->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            if (n == 0)
                return false;
            break; /* not expected: ZeroMQ delivers whole messages */
        }
        more = zmq_msg_more(m);
        if (m == &tmp) {
            zmq_msg_close(&tmp);
            extra++;
        } else {
            n++;
        }
    }
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
    for (int i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
    record_latency(s, uv_hrtime() - t0);
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
    if (strcmp(path, "/healthz") == 0) {
        if (s->stopping) {
            text_printf(b, "shutting down\n");
            return 503;
        }
        text_printf(b, "ok\n");
        return 200;
    }
    if (strcmp(path, "/metrics") != 0) {
        text_printf(b, "not found; try /healthz or /metrics\n");
        return 404;
    }
    *ctype = "text/plain; version=0.0.4; charset=utf-8";
    const service_stats_t *st = service_stats(s->svc);
    text_printf(b, "# HELP envd_sessions_active Sessions currently open.\n"
                        "# TYPE envd_sessions_active gauge\nenvd_sessions_active %zu\n",
                     service_active_sessions(s->svc));
    text_printf(b, "# HELP envd_sessions_created_total Sessions created.\n"
                        "# TYPE envd_sessions_created_total counter\n"
                        "envd_sessions_created_total %" PRIu64 "\n",
                     st->sessions_created);
    text_printf(b, "# HELP envd_sessions_reclaimed_total Sessions reclaimed after the idle TTL.\n"
                        "# TYPE envd_sessions_reclaimed_total counter\n"
                        "envd_sessions_reclaimed_total %" PRIu64 "\n",
                     st->sessions_reclaimed);
    text_printf(b, "# HELP envd_env_steps_total Environment steps taken.\n"
                        "# TYPE envd_env_steps_total counter\nenvd_env_steps_total %" PRIu64 "\n",
                     st->env_steps);
    text_printf(b, "# HELP envd_retries_replayed_total Resent requests answered from the reply cache.\n"
                        "# TYPE envd_retries_replayed_total counter\n"
                        "envd_retries_replayed_total %" PRIu64 "\n",
                     st->retries_replayed);
    text_printf(b, "# HELP envd_retries_refused_total Resent requests refused: reply no longer cached, or stale.\n"
                        "# TYPE envd_retries_refused_total counter\n"
                        "envd_retries_refused_total %" PRIu64 "\n",
                     st->retries_refused);
    text_printf(b, "# HELP envd_retries_not_kept_total Replies the retry cache had no room for: their client's connection (key) had nothing to give up.\n"
                        "# TYPE envd_retries_not_kept_total counter\n"
                        "envd_retries_not_kept_total %" PRIu64 "\n",
                     st->retries_not_kept);
    text_printf(b, "# HELP envd_requests_total Requests by operation.\n"
                        "# TYPE envd_requests_total counter\n");
    text_printf(b, "envd_requests_total{op=\"invalid\"} %" PRIu64 "\n", st->requests_by_op[0]);
    for (int op = WIRE_OP_FIRST; op <= WIRE_OP_LAST; op++)
        text_printf(b, "envd_requests_total{op=\"%s\"} %" PRIu64 "\n", wire_op_name(op),
                         st->requests_by_op[op]);
    text_printf(b, "# HELP envd_errors_total Error replies by status code.\n"
                        "# TYPE envd_errors_total counter\n");
    for (int c = 1; c < SERVICE_NCODES; c++)
        text_printf(b, "envd_errors_total{code=\"%s\"} %" PRIu64 "\n", err_name(-c),
                         st->errors_by_code[c]);
    text_printf(b, "# HELP envd_replies_dropped_total Replies dropped: peer gone or its queue full.\n"
                        "# TYPE envd_replies_dropped_total counter\n"
                        "envd_replies_dropped_total %" PRIu64 "\n",
                     s->replies_dropped);
    text_printf(b, "# HELP envd_auth_failures_total Client handshakes refused by CURVE authentication.\n"
                        "# TYPE envd_auth_failures_total counter\n"
                        "envd_auth_failures_total %" PRIu64 "\n",
                     s->auth_failures);
    text_printf(b, "# HELP envd_request_duration_seconds Time to handle and answer one request.\n"
                        "# TYPE envd_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        cum += s->latency_buckets[i];
        text_printf(b, "envd_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                         latency_bounds[i], cum);
    }
    cum += s->latency_buckets[NBUCKETS];
    text_printf(b, "envd_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    text_printf(b, "envd_request_duration_seconds_sum %.9f\n", s->latency_sum);
    text_printf(b, "envd_request_duration_seconds_count %" PRIu64 "\n", s->latency_count);
    http_server_write_metrics(s->http, b);
    return 200;
}

/* ------------------------------------------------------------------- ZAP */

static int key_cmp(const void *a, const void *b) { return memcmp(a, b, 32); }

/* Reads every *.pub file of dir into a sorted table of binary keys. */
static int load_client_keys(const char *dir, uint8_t (**keys_out)[32], size_t *n_out,
                            errbuf_t *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, ERR_IO, "--curve-clients %s: %s", dir, strerror(errno));
    uint8_t(*keys)[32] = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *ent;
    while (rc == 0 && (ent = readdir(d))) {
        size_t len = strlen(ent->d_name);
        if (ent->d_name[0] == '.' || len < 5 || strcmp(ent->d_name + len - 4, ".pub") != 0)
            continue;
        char path[4096], z85[CURVE_Z85_LEN + 1];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if ((rc = curve_read_key(path, z85, e)) < 0)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            void *grown = realloc(keys, cap * sizeof *keys);
            if (!grown) {
                rc = err_set(e, ERR_NOMEM, "out of memory");
                break;
            }
            keys = grown;
        }
        zmq_z85_decode(keys[n++], z85);
    }
    closedir(d);
    if (rc < 0) {
        free(keys);
        return rc;
    }
    qsort(keys, n, sizeof *keys, key_cmp);
    *keys_out = keys;
    *n_out = n;
    return 0;
}

static int server_reload_clients(server_t *s, errbuf_t *e)
{
    uint8_t(*keys)[32];
    size_t n;
    int rc = load_client_keys(s->cfg.curve_clients, &keys, &n, e);
    if (rc < 0)
        return rc;
    free(s->client_keys);
    s->client_keys = keys;
    s->nclient_keys = n;
    if (n == 0)
        log_warn("no client keys (*.pub) in %s: every client will be refused",
                 s->cfg.curve_clients);
    else
        log_info("%zu authorised client keys from %s", n, s->cfg.curve_clients);
    return 0;
}

/* Answers one ZAP request (RFC 27); false when none is waiting. */
static bool zap_handle_one(server_t *s)
{
    /* version, request id, domain, address, routing id, mechanism, credentials */
    enum { NF = 8 };
    zmq_msg_t f[NF];
    int n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t tmp, *m = n < NF ? &f[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, s->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            if (n == 0)
                return false;
            break;
        }
        more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(&tmp);
        else
            n++;
    }
    char addr[64] = "?";
    if (n >= 4)
        snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]),
                 (const char *)zmq_msg_data(&f[3]));
    bool curve = n >= 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
                 zmq_msg_size(&f[6]) == 32;
    bool ok = curve && s->nclient_keys &&
              bsearch(zmq_msg_data(&f[6]), s->client_keys, s->nclient_keys, 32, key_cmp);
    char z85[CURVE_Z85_LEN + 1] = "(none)";
    if (curve)
        zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
    if (!ok) {
        /* ZeroMQ clients reconnect after a refusal, so log at most one line a second. */
        s->auth_failures++;
        uint64_t now = uv_now(s->loop);
        if (s->auth_last_log_ms == 0 || now - s->auth_last_log_ms >= 1000) {
            log_warn("refused client %s: %s %s (%" PRIu64 " more refusals not logged)", addr,
                     curve ? "public key not authorised:" : "not a CURVE handshake",
                     curve ? z85 : "", s->auth_unlogged);
            s->auth_last_log_ms = now ? now : 1;
            s->auth_unlogged = 0;
        } else {
            s->auth_unlogged++;
        }
    } else {
        log_debug("client %s authenticated: %s", addr, z85);
    }
    /* The reply: version, request id, status code, status text, user id, metadata. */
    if (n >= 2) {
        zmq_send(s->zap, "1.0", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(s->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(s->zap, ok ? "200" : "400", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        const char *text = ok ? "OK" : "client key not authorised";
        zmq_send(s->zap, text, strlen(text), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(s->zap, ok ? z85 : "", ok ? CURVE_Z85_LEN : 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(s->zap, "", 0, ZMQ_DONTWAIT);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return true;
}

static void on_zap_readable(uv_poll_t *h, int status, int events)
{
    server_t *s = h->data;
    /* Few and small: drain them all (edge-triggered fd, as for the ROUTER). */
    while (zap_handle_one(s))
        ;
}

/* Binds the ZAP handler; must run before the ROUTER binds. */
static int zap_start(server_t *s, errbuf_t *e)
{
    int rc = server_reload_clients(s, e);
    if (rc < 0)
        return rc;
    s->zap = zmq_socket(s->zctx, ZMQ_REP);
    int linger = 0;
    if (!s->zap || zmq_setsockopt(s->zap, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_bind(s->zap, "inproc://zeromq.zap.01") < 0)
        return err_set(e, ERR_IO, "starting the ZAP handler: %s", zmq_strerror(errno));
    int one = 1;
    if (zmq_setsockopt(s->sock, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_CURVE_SECRETKEY, s->cfg.curve_secret, CURVE_Z85_LEN) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_ZAP_DOMAIN, "envd", 4) < 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "CURVE server key: %s", zmq_strerror(errno));
    return 0;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    server_t *s = h->data;
    errbuf_t e;
    log_info("SIGHUP received: rereading the client keys");
    if (server_reload_clients(s, &e) < 0)
        log_error("%s; keeping the %zu keys loaded before", e.msg, s->nclient_keys);
}

uint64_t server_auth_failures(const server_t *s) { return s->auth_failures; }

/* ------------------------------------------------------------- lifecycle */

static int zmq_fail(errbuf_t *e, const char *what)
{
    return err_set(e, ERR_IO, "%s: %s", what, zmq_strerror(errno));
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
    if (cfg->curve_secret && (rc = zap_start(s, e)) < 0)
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
    if (s->zap) {
        int zfd;
        size_t zfdlen = sizeof zfd;
        zmq_getsockopt(s->zap, ZMQ_FD, &zfd, &zfdlen);
        uv_poll_init(loop, &s->zap_poll, zfd);
        s->zap_poll.data = s;
        uv_poll_start(&s->zap_poll, UV_READABLE, on_zap_readable);
    }
    uint64_t every = cfg->service.session_ttl_ms / 10;
    every = every < 10 ? 10 : every > 1000 ? 1000 : every;
    uv_timer_start(&s->reap_timer, on_reap, every, every);
    if (cfg->handle_signals) {
        uv_signal_init(loop, &s->sigint);
        uv_signal_init(loop, &s->sigterm);
        s->sigint.data = s->sigterm.data = s;
        uv_signal_start(&s->sigint, on_signal, SIGINT);
        uv_signal_start(&s->sigterm, on_signal, SIGTERM);
        if (s->zap) {
            uv_signal_init(loop, &s->sighup);
            s->sighup.data = s;
            uv_signal_start(&s->sighup, on_sighup, SIGHUP);
        }
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
    /* Messages may have queued before the poll started: the edge is gone. */
    if (s->zap)
        on_zap_readable(&s->zap_poll, 0, UV_READABLE);
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
    server_close_handle(s, (uv_handle_t *)&s->poll);
    server_close_handle(s, (uv_handle_t *)&s->idle);
    server_close_handle(s, (uv_handle_t *)&s->reap_timer);
    if (s->cfg.handle_signals) {
        server_close_handle(s, (uv_handle_t *)&s->sigint);
        server_close_handle(s, (uv_handle_t *)&s->sigterm);
        if (s->zap)
            server_close_handle(s, (uv_handle_t *)&s->sighup);
    }
    if (s->zap)
        server_close_handle(s, (uv_handle_t *)&s->zap_poll);
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
    if (s->zap)
        zmq_close(s->zap);
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    service_destroy(&s->svc);
    wire_buf_deinit(&s->out);
    /* zmq_ctx_term has returned: every reply in flight has come back. */
    reply_buf_free_list(s->spare);
    reply_buf_free_list(atomic_exchange(&s->returned, NULL));
    free(s->client_keys);
    free(s);
    *self_p = NULL;
}

int server_metrics_port(const server_t *s) { return http_server_port(s->http); }

const char *server_endpoint(const server_t *s, size_t i)
{
    return i < s->cfg.nbinds ? s->endpoints[i] : NULL;
}
