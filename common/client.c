/*
 * client.c — DEALER connection with request ids, timeouts, reset and resend.
 *
 * The timeout is one budget per request. Without an RTO it is cut into
 * `attempts` equal slices; with one (client_set_rto: the caller's estimate
 * from the round trips it measures), the first resend comes one RTO after
 * the send and each later one after twice the wait before it, as TCP backs
 * off, up to `attempts` sends. When a wait passes without the reply, the
 * socket is reset and the same encoded request (same client_id, same id)
 * is sent again on the new one; when the whole budget has passed, the
 * caller gets ERR_TIMEOUT. envd answers a resend from its reply cache, so
 * it never acts twice (docs/protocol.md, "Retries").
 */
#include "client.h"

#include "clock.h"
#include "rng.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

struct client {
    void *zctx, *sock;
    char endpoint[256];
    int timeout_ms;
    int attempts;       /* sends per request: 1 + resends */
    int attempt;        /* of the request in flight, from 0 */
    int rto_ms;         /* first resend after this, then doubling; 0: equal slices */
    int64_t rtt_us;     /* last round trip answered on the first send; -1: none */
    uint64_t sent_ns;   /* when the request was first sent, for rtt_us */
    bool resendable;    /* out holds the request in flight, sendable again */
    uint64_t client_id; /* random, fixed: lets envd spot resends */
    uint64_t next_id, waiting_id;
    int64_t sent_ms;    /* when the request being waited for was first sent */
    arena_t *arena;
    wire_buf_t out;
    zmq_msg_t msg; /* the last reply; the arena's decode points into it */
    int have_msg;
    bool curve; /* set: the keys below are applied to every socket opened */
    char server_pub[41], pub[41], sec[41];
};

static int client_open(client_t *c, errbuf_t *e)
{
    c->sock = zmq_socket(c->zctx, ZMQ_DEALER);
    if (!c->sock)
        return err_set(e, ERR_IO, "zmq_socket: %s", zmq_strerror(errno));
    int linger = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (c->curve && (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->server_pub, 40) < 0 ||
                     zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->pub, 40) < 0 ||
                     zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->sec, 40) < 0)) {
        int rc = err_set(e, ERR_INVALID_ARGUMENT, "CURVE keys for %s: %s", c->endpoint,
                         zmq_strerror(errno));
        zmq_close(c->sock);
        c->sock = NULL;
        return rc;
    }
    if (zmq_connect(c->sock, c->endpoint) < 0) {
        int rc = err_set(e, ERR_INVALID_ARGUMENT, "connect %s: %s", c->endpoint,
                         zmq_strerror(errno));
        zmq_close(c->sock);
        c->sock = NULL;
        return rc;
    }
    return 0;
}

int client_new(void *zctx, const char *endpoint, int timeout_ms, client_t **out, errbuf_t *e)
{
    client_t *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(e, ERR_NOMEM, "out of memory");
    c->zctx = zctx;
    c->timeout_ms = timeout_ms;
    c->attempts = CLIENT_ATTEMPTS;
    c->rtt_us = -1;
    while (c->client_id == 0)
        if (rng_os_bytes(&c->client_id, sizeof c->client_id) < 0) {
            free(c);
            return err_set(e, ERR_IO, "OS random source failed");
        }
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    zmq_msg_init(&c->msg);
    int rc = arena_new(64 * 1024, &c->arena, e);
    if (rc == 0)
        rc = client_open(c, e);
    if (rc < 0) {
        client_destroy(&c);
        return rc;
    }
    *out = c;
    return 0;
}

void client_destroy(client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_t *c = *self_p;
    if (c->sock)
        zmq_close(c->sock);
    zmq_msg_close(&c->msg);
    memset(c->sec, 0, sizeof c->sec);
    arena_destroy(&c->arena);
    wire_buf_deinit(&c->out);
    free(c);
    *self_p = NULL;
}

const char *client_endpoint(const client_t *c) { return c->endpoint; }
uint64_t client_id(const client_t *c) { return c->client_id; }

void client_set_attempts(client_t *c, int attempts) { c->attempts = attempts > 1 ? attempts : 1; }

void client_set_rto(client_t *c, int rto_ms) { c->rto_ms = rto_ms > 0 ? rto_ms : 0; }

int64_t client_rtt_us(const client_t *c) { return c->rtt_us; }


static int send_frame(client_t *c, const void *data, size_t len, errbuf_t *e)
{
    if (!c->sock) { /* a reset whose reopen failed: try again now */
        int rc = client_open(c, e);
        if (rc < 0)
            return rc;
    }
    if (zmq_send(c->sock, data, len, ZMQ_DONTWAIT) < 0)
        return err_set(e, errno == EAGAIN ? ERR_UNAVAILABLE : ERR_IO, "send to %s: %s",
                       c->endpoint, zmq_strerror(errno));
    return 0;
}

int client_send(client_t *c, wire_request_t *req, errbuf_t *e)
{
    req->major = WIRE_MAJOR;
    req->minor = WIRE_MINOR;
    req->id = ++c->next_id;
    req->client_id = c->client_id;
    c->resendable = false;
    int rc = wire_encode_request(req, &c->out);
    if (rc < 0)
        return err_set(e, rc, "encoding %s request failed", wire_op_name(req->op));
    c->sent_ms = (int64_t)clock_ms();
    c->sent_ns = clock_ns();
    c->rtt_us = -1;
    c->attempt = 0;
    rc = send_frame(c, c->out.data, c->out.len, e);
    if (rc == 0) {
        c->waiting_id = req->id;
        c->resendable = true;
    }
    return rc;
}

int client_send_raw(client_t *c, const void *data, size_t len, errbuf_t *e)
{
    c->waiting_id = 0; /* a raw request may not carry an id: accept any reply */
    c->resendable = false;
    c->sent_ms = (int64_t)clock_ms();
    c->rtt_us = -1;
    c->attempt = 0;
    return send_frame(c, data, len, e);
}

int client_set_curve(client_t *c, const char *server_pub, const char *pub, const char *sec,
                     errbuf_t *e)
{
    if (strlen(server_pub) != 40 || strlen(pub) != 40 || strlen(sec) != 40)
        return err_set(e, ERR_INVALID_ARGUMENT, "CURVE keys must be 40 characters of Z85 text");
    memcpy(c->server_pub, server_pub, 41);
    memcpy(c->pub, pub, 41);
    memcpy(c->sec, sec, 41);
    c->curve = true;
    if (c->sock) /* the plaintext socket has not sent anything yet: replace it */
        zmq_close(c->sock);
    c->sock = NULL;
    return client_open(c, e);
}

/* Lazy Pirate: abandon the socket so that a late reply cannot be taken for
 * the answer to a later request. */
static void reopen(client_t *c)
{
    if (c->sock)
        zmq_close(c->sock);
    c->sock = NULL;
    errbuf_t ignored;
    client_open(c, &ignored);
}

void client_reset(client_t *c)
{
    c->resendable = false;
    reopen(c);
}

/* Reads one reply if one is waiting. Returns 1 with rep filled, 0 if none is
 * waiting (or it was stale), or an error. */
static int read_reply(client_t *c, wire_reply_t *rep, errbuf_t *e)
{
    zmq_msg_close(&c->msg);
    zmq_msg_init(&c->msg);
    if (zmq_msg_recv(&c->msg, c->sock, ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        return err_set(e, ERR_IO, "receive from %s: %s", c->endpoint, zmq_strerror(errno));
    }
    while (zmq_msg_more(&c->msg)) { /* never sent by envd; drop extra frames */
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_recv(&extra, c->sock, 0);
        zmq_msg_close(&extra);
    }
    arena_reset(c->arena);
    int rc = wire_decode_reply(c->arena, zmq_msg_data(&c->msg), zmq_msg_size(&c->msg), rep, e);
    if (rc < 0)
        return rc;
    /* envd answers id 0 when it could not read the request (too big,
     * several frames, undecodable): that error is the answer to the request
     * in flight. Any other id is a stale reply to an abandoned request. */
    bool unread = rep->id == 0 && rep->code != ERR_OK;
    if (c->waiting_id && rep->id != c->waiting_id && !unread)
        return 0;
    /* Karn: a resent request's round trip is ambiguous, so only a first
     * send's counts. */
    if (c->attempt == 0 && c->waiting_id)
        c->rtt_us = (int64_t)((clock_ns() - c->sent_ns) / 1000u);
    return 1;
}

static int timed_out(client_t *c, errbuf_t *e)
{
    int sends = c->attempt + 1;
    client_reset(c);
    return err_set(e, ERR_TIMEOUT, "%s did not answer within %d ms (%d send%s)", c->endpoint,
                   c->timeout_ms, sends, sends == 1 ? "" : "s");
}

/* When the current attempt's wait ends: its slice of the budget, or with
 * an RTO the sum rto * (2^(attempt+1) - 1), capped by the budget; the
 * last attempt's is the end of the budget. */
static int64_t attempt_deadline(const client_t *c)
{
    if (c->attempt + 1 >= c->attempts) /* the last send waits out the timeout */
        return c->sent_ms + c->timeout_ms;
    if (c->rto_ms > 0) {
        int64_t wait = 0, step = c->rto_ms;
        for (int a = 0; a <= c->attempt && wait < c->timeout_ms; a++, step *= 2)
            wait += step;
        return c->sent_ms + (wait < c->timeout_ms ? wait : c->timeout_ms);
    }
    return c->sent_ms + (int64_t)c->timeout_ms * (c->attempt + 1) / c->attempts;
}

/* The current attempt's wait has passed: resends the request on a fresh
 * socket (Lazy Pirate) if budget and attempts are left, else times out.
 * A caller that came back late skips the waits already gone. */
static int resend_or_time_out(client_t *c, int64_t now, errbuf_t *e)
{
    if (!c->resendable || c->attempt + 1 >= c->attempts || now >= c->sent_ms + c->timeout_ms)
        return timed_out(c, e);
    c->attempt++;
    while (c->attempt + 1 < c->attempts && attempt_deadline(c) <= now)
        c->attempt++;
    reopen(c);
    int rc = send_frame(c, c->out.data, c->out.len, e);
    if (rc < 0) {
        c->resendable = false;
        return rc;
    }
    return 0;
}

int client_recv(client_t *c, wire_reply_t *rep, errbuf_t *e)
{
    for (;;) {
        int rc = c->sock ? read_reply(c, rep, e) : 0;
        if (rc != 0)
            return rc < 0 ? rc : 0;
        int64_t now = (int64_t)clock_ms(), left = attempt_deadline(c) - now;
        if (left <= 0 || !c->sock) {
            if ((rc = resend_or_time_out(c, now, e)) < 0)
                return rc;
            continue;
        }
        zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)left) < 0 && errno != EINTR)
            return err_set(e, ERR_IO, "poll %s: %s", c->endpoint, zmq_strerror(errno));
    }
}

void *client_socket(const client_t *c) { return c->sock; }

int client_wait_ms(const client_t *c)
{
    int64_t left = attempt_deadline(c) - (int64_t)clock_ms();
    return left > 0 ? (int)left : 0;
}

int client_try_recv(client_t *c, wire_reply_t *rep, errbuf_t *e)
{
    int rc = c->sock ? read_reply(c, rep, e) : 0;
    int64_t now = (int64_t)clock_ms();
    if (rc == 0 && (!c->sock || now >= attempt_deadline(c)))
        return resend_or_time_out(c, now, e);
    return rc;
}

int client_call(client_t *c, wire_request_t *req, wire_reply_t *rep, errbuf_t *e)
{
    int rc = client_send(c, req, e);
    if (rc == 0)
        rc = client_recv(c, rep, e);
    if (rc == 0 && rep->code != ERR_OK)
        rc = err_set(e, rep->code, "%s", rep->message);
    return rc;
}
