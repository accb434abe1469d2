/*
 * zap.c — the CURVE client authenticator: key directory, ZAP handler,
 * reload on SIGHUP (see zap.h).
 *
 * The keys are kept as a sorted array of 32-byte binary keys, so a
 * handshake costs one binary search; a reload builds a new array and
 * swaps it in only once the whole directory has been read, so a broken
 * key file leaves the old set in force. A refused client reconnects every
 * ~100 ms, so refusals are logged at most once a second, with a count of
 * those not logged.
 */
#include "zap.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "curve.h"
#include "log.h"
#include "zmsg.h"

struct zap {
    void *sock;        /* REP on inproc://zeromq.zap.01 */
    const char *dir;   /* --curve-clients */
    uint8_t (*keys)[32]; /* (nkeys) sorted */
    size_t nkeys;
    uint64_t failures;
    uint64_t last_log_ms, unlogged;
    uv_loop_t *loop;   /* NULL until zap_start */
    uv_poll_t poll;
    uv_signal_t sighup;
    bool sighup_on, stopped;
};

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

int zap_reload(zap_t *z, errbuf_t *e)
{
    uint8_t(*keys)[32];
    size_t n;
    int rc = load_client_keys(z->dir, &keys, &n, e);
    if (rc < 0)
        return rc;
    free(z->keys);
    z->keys = keys;
    z->nkeys = n;
    if (n == 0)
        log_warn("no client keys (*.pub) in %s: every client will be refused", z->dir);
    else
        log_info("%zu authorised client keys from %s", n, z->dir);
    return 0;
}

uint64_t zap_failures(const zap_t *z) { return z->failures; }

/* ---------------------------------------------------------------- handler */

/* Answers one ZAP request (RFC 27); false when none is waiting. */
static bool zap_handle_one(zap_t *z)
{
    /* version, request id, domain, address, routing id, mechanism, credentials */
    enum { NF = 8 };
    zmq_msg_t f[NF];
    int n = zmsg_recv(z->sock, f, NF, NULL);
    if (n == 0)
        return false;
    char addr[64] = "?";
    if (n >= 4)
        snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]),
                 (const char *)zmq_msg_data(&f[3]));
    bool curve = n >= 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
                 zmq_msg_size(&f[6]) == 32;
    bool ok = curve && z->nkeys && bsearch(zmq_msg_data(&f[6]), z->keys, z->nkeys, 32, key_cmp);
    char z85[CURVE_Z85_LEN + 1] = "(none)";
    if (curve)
        zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
    if (!ok) {
        /* ZeroMQ clients reconnect after a refusal, so log at most one line a second. */
        z->failures++;
        uint64_t now = uv_now(z->loop);
        if (z->last_log_ms == 0 || now - z->last_log_ms >= 1000) {
            log_warn("refused client %s: %s %s (%" PRIu64 " more refusals not logged)", addr,
                     curve ? "public key not authorised:" : "not a CURVE handshake",
                     curve ? z85 : "", z->unlogged);
            z->last_log_ms = now ? now : 1;
            z->unlogged = 0;
        } else {
            z->unlogged++;
        }
    } else {
        log_debug("client %s authenticated: %s", addr, z85);
    }
    /* The reply: version, request id, status code, status text, user id, metadata. */
    if (n >= 2) {
        zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(z->sock, ok ? "200" : "400", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        const char *text = ok ? "OK" : "client key not authorised";
        zmq_send(z->sock, text, strlen(text), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(z->sock, ok ? z85 : "", ok ? CURVE_Z85_LEN : 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(z->sock, "", 0, ZMQ_DONTWAIT);
    }
    zmsg_close(f, n);
    return true;
}

static void on_zap_readable(uv_poll_t *h, int status, int events)
{
    zap_t *z = h->data;
    /* Few and small: drain them all (the fd is edge-triggered, see server.c). */
    while (zap_handle_one(z))
        ;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    zap_t *z = h->data;
    errbuf_t e;
    log_info("SIGHUP received: rereading the client keys");
    if (zap_reload(z, &e) < 0)
        log_error("%s; keeping the %zu keys loaded before", e.msg, z->nkeys);
}

/* -------------------------------------------------------------- lifecycle */

int zap_new(void *zctx, const char *clients_dir, zap_t **out, errbuf_t *e)
{
    *out = NULL;
    zap_t *z = calloc(1, sizeof *z);
    if (!z)
        return err_set(e, ERR_NOMEM, "out of memory for the ZAP handler");
    z->dir = clients_dir;
    int rc = zap_reload(z, e);
    if (rc < 0)
        goto err;
    z->sock = zmq_socket(zctx, ZMQ_REP);
    int linger = 0;
    if (!z->sock || zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_bind(z->sock, "inproc://zeromq.zap.01") < 0) {
        rc = err_set(e, ERR_IO, "starting the ZAP handler: %s", zmq_strerror(errno));
        goto err;
    }
    *out = z;
    return 0;
err:
    zap_destroy(&z);
    return rc;
}

void zap_start(zap_t *z, uv_loop_t *loop, bool sighup)
{
    int fd;
    size_t fdlen = sizeof fd;
    zmq_getsockopt(z->sock, ZMQ_FD, &fd, &fdlen);
    z->loop = loop;
    uv_poll_init(loop, &z->poll, fd);
    z->poll.data = z;
    uv_poll_start(&z->poll, UV_READABLE, on_zap_readable);
    if (sighup) {
        uv_signal_init(loop, &z->sighup);
        z->sighup.data = z;
        z->sighup_on = true;
        uv_signal_start(&z->sighup, on_sighup, SIGHUP);
    }
    /* Requests may have queued before the poll started: the edge is gone. */
    on_zap_readable(&z->poll, 0, UV_READABLE);
}

void zap_stop(zap_t *z)
{
    if (!z || !z->loop || z->stopped)
        return;
    z->stopped = true;
    uv_close((uv_handle_t *)&z->poll, NULL);
    if (z->sighup_on)
        uv_close((uv_handle_t *)&z->sighup, NULL);
}

void zap_destroy(zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zap_t *z = *self_p;
    if (z->sock)
        zmq_close(z->sock);
    free(z->keys);
    free(z);
    *self_p = NULL;
}
