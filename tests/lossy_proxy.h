/*
 * lossy_proxy.h — a ZeroMQ forwarder that loses chosen replies, for tests
 * of resent requests (docs/protocol.md, "Retries").
 *
 * Header-only (static functions) for the reason spawn.h gives: the
 * Makefile links every tests/check_*.c into one runner and collects
 * suites by file. The proxy runs in its own thread and stops within
 * 20 ms of proxy_stop().
 */
#ifndef LOSSY_PROXY_H
#define LOSSY_PROXY_H

#include <check.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <zmq.h>

/* A ROUTER<->DEALER forwarder between one client and envd that drops the
 * replies whose 1-based numbers are listed: the client's request reached
 * envd and was executed, only its answer is lost, as when a network path
 * fails after the server acted. Replies go to the routing id of the last
 * request forwarded, which after a client's Lazy Pirate reset is its new
 * socket. The sockets live in the proxy thread only. */
typedef struct proxy {
    void *zctx;
    const char *backend;
    char endpoint[128];
    const int *drop; /* reply numbers to drop, ascending, 0-terminated */
    sem_t ready;
    volatile int stop;
    pthread_t thread;
    int requests, replies, dropped;
} proxy_t;

static inline void *proxy_main(void *arg)
{
    proxy_t *p = arg;
    void *front = zmq_socket(p->zctx, ZMQ_ROUTER), *back = zmq_socket(p->zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(front, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(back, ZMQ_LINGER, &linger, sizeof linger);
    int ok = zmq_bind(front, "tcp://127.0.0.1:*") == 0 && zmq_connect(back, p->backend) == 0;
    size_t len = sizeof p->endpoint;
    zmq_getsockopt(front, ZMQ_LAST_ENDPOINT, p->endpoint, &len);
    if (!ok)
        p->endpoint[0] = '\0';
    sem_post(&p->ready);
    zmq_msg_t rid, body;
    zmq_msg_init(&rid);
    zmq_msg_init(&body);
    const int *drop = p->drop;
    while (ok && !p->stop) {
        zmq_pollitem_t items[] = {{front, 0, ZMQ_POLLIN, 0}, {back, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, 20) <= 0)
            continue;
        if (items[0].revents & ZMQ_POLLIN) {
            zmq_msg_recv(&rid, front, 0); /* kept: where replies go */
            zmq_msg_recv(&body, front, 0);
            zmq_msg_send(&body, back, 0);
            p->requests++;
        }
        if (items[1].revents & ZMQ_POLLIN) {
            zmq_msg_recv(&body, back, 0);
            p->replies++;
            if (*drop && p->replies == *drop) {
                drop++;
                p->dropped++;
                continue;
            }
            zmq_msg_t to;
            zmq_msg_init(&to);
            zmq_msg_copy(&to, &rid);
            zmq_msg_send(&to, front, ZMQ_SNDMORE);
            zmq_msg_send(&body, front, 0);
        }
    }
    zmq_msg_close(&rid);
    zmq_msg_close(&body);
    zmq_close(front);
    zmq_close(back);
    return NULL;
}

static inline void proxy_start(proxy_t *p, void *zctx, const char *backend, const int *drop)
{
    memset(p, 0, sizeof *p);
    p->zctx = zctx;
    p->backend = backend;
    p->drop = drop;
    sem_init(&p->ready, 0, 0);
    ck_assert_int_eq(pthread_create(&p->thread, NULL, proxy_main, p), 0);
    sem_wait(&p->ready);
    ck_assert_msg(p->endpoint[0] != '\0', "the proxy could not bind or connect");
}

static inline void proxy_stop(proxy_t *p)
{
    p->stop = 1;
    ck_assert_int_eq(pthread_join(p->thread, NULL), 0);
    sem_destroy(&p->ready);
}

#endif
