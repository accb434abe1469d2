/*
 * envds.h — the fixture of the agent-side suites that need real servers
 * (check_fleet, check_evaluator, check_agentd): a private directory with
 * one or two build/envd processes on ipc:// sockets in it, and a ZeroMQ
 * context for clients in the test process; started and stopped as one.
 *
 * Header-only, as spawn.h (on which it builds) and for the same reason:
 * every tests/check_*.c is a suite of the one runner. Every wait is
 * spawn.h's, bounded.
 */
#ifndef ENVDS_H
#define ENVDS_H

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "spawn.h"

#define ENVDS_MAX 2

typedef struct envds {
    char *dir;                /* the private directory; gone after envds_stop() */
    char ep[ENVDS_MAX][256];  /* ipc://DIR/envdI.sock */
    pid_t pid[ENVDS_MAX];     /* envd I; <= 0 once killed (spawn_kill) */
    void *zctx;               /* for clients made by the test */
} envds_t;

/* n (0..ENVDS_MAX) envd processes, each answering on ep[i]; a failure to
 * start one fails the test. */
static inline void envds_start(envds_t *t, int n)
{
    memset(t, 0, sizeof *t);
    ck_assert_int_le(n, ENVDS_MAX);
    t->dir = spawn_tmpdir();
    ck_assert_ptr_nonnull(t->dir);
    for (int i = 0; i < n; i++) {
        snprintf(t->ep[i], sizeof t->ep[i], "ipc://%s/envd%d.sock", t->dir, i);
        t->pid[i] = spawn_envd(t->ep[i], NULL);
        ck_assert_int_gt(t->pid[i], 0);
    }
    t->zctx = zmq_ctx_new();
    ck_assert_ptr_nonnull(t->zctx);
}

/* Stops the servers still running (SIGTERM, reaped), ends the context
 * (its sockets must be closed) and removes the directory. */
static inline void envds_stop(envds_t *t)
{
    for (int i = 0; i < ENVDS_MAX; i++)
        spawn_kill(&t->pid[i], SIGTERM);
    if (t->zctx)
        zmq_ctx_term(t->zctx);
    t->zctx = NULL;
    spawn_rmdir(&t->dir);
}

/* DIR/name, in one of a few static buffers (an argv may hold several). */
static inline const char *envds_path(const envds_t *t, const char *name)
{
    static char buf[4][320];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", t->dir, name);
    return buf[k];
}

#endif
