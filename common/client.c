/*
 * client.c — DEALER connection with request ids, timeouts and reset.
 */
#include "client.h"

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
    uint64_t next_id, waiting_id;
    int64_t sent_ms;    /* when the request being waited for was sent */
    wire_arena_t *arena;
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
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    c->arena = wire_arena_new(64 * 1024);
    zmq_msg_init(&c->msg);
    int rc = c->arena ? client_open(c, e) : err_set(e, ERR_NOMEM, "out of memory");
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
    wire_arena_destroy(&c->arena);
    wire_buf_deinit(&c->out);
    free(c);
    *self_p = NULL;
}

const char *client_endpoint(const client_t *c) { return c->endpoint; }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_frame(client_t *c, const void *data, size_t len, errbuf_t *e)
{
    c->sent_ms = now_ms();
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
    int rc = wire_encode_request(req, &c->out);
    if (rc < 0)
        return err_set(e, rc, "encoding %s request failed", wire_op_name(req->op));
    rc = send_frame(c, c->out.data, c->out.len, e);
    if (rc == 0)
        c->waiting_id = req->id;
    return rc;
}

int client_send_raw(client_t *c, const void *data, size_t len, errbuf_t *e)
{
    c->waiting_id = 0; /* a raw request may not carry an id: accept any reply */
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
void client_reset(client_t *c)
{
    if (c->sock)
        zmq_close(c->sock);
    c->sock = NULL;
    errbuf_t ignored;
    client_open(c, &ignored);
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
    wire_arena_reset(c->arena);
    int rc = wire_decode_reply(c->arena, zmq_msg_data(&c->msg), zmq_msg_size(&c->msg), rep, e);
    if (rc < 0)
        return rc;
    /* envd answers id 0 when it could not read the request (too big,
     * several frames, undecodable): that error is the answer to the request
     * in flight. Any other id is a stale reply to an abandoned request. */
    bool unread = rep->id == 0 && rep->code != ERR_OK;
    if (c->waiting_id && rep->id != c->waiting_id && !unread)
        return 0;
    return 1;
}

static int timed_out(client_t *c, errbuf_t *e)
{
    client_reset(c);
    return err_set(e, ERR_TIMEOUT, "%s did not answer within %d ms", c->endpoint, c->timeout_ms);
}

int client_recv(client_t *c, wire_reply_t *rep, errbuf_t *e)
{
    if (!c->sock)
        return timed_out(c, e);
    int64_t deadline = c->sent_ms + c->timeout_ms;
    for (;;) {
        int rc = read_reply(c, rep, e);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return timed_out(c, e);
        zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)left) < 0 && errno != EINTR)
            return err_set(e, ERR_IO, "poll %s: %s", c->endpoint, zmq_strerror(errno));
    }
}

int client_try_recv(client_t *c, wire_reply_t *rep, errbuf_t *e)
{
    if (!c->sock)
        return timed_out(c, e);
    int rc = read_reply(c, rep, e);
    if (rc == 0 && now_ms() - c->sent_ms >= c->timeout_ms)
        return timed_out(c, e);
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
