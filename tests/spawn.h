/*
 * spawn.h — process helpers for the tests that run the real programs:
 * start build/envd (or $TEST_BUILD/envd) on a private ipc:// endpoint, run build/agentd to
 * completion with a bound on its running time, kill and reap.
 *
 * Header-only (static functions) because the Makefile links every
 * tests/check_*.c into one runner and collects suites by file; a helper
 * module would be a suite-less check file. Every wait here is bounded: a
 * hung child is killed and the test fails instead of hanging `make test`.
 */
#ifndef SPAWN_H
#define SPAWN_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"

static inline double spawn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* build/<prog>, or <$TEST_BUILD>/<prog>: `make asan` runs its own build's
 * programs. Returns one of a few static buffers, so argv arrays can hold
 * several. */
static inline char *spawn_bin(const char *prog)
{
    static char paths[4][256];
    static unsigned next;
    char *p = paths[next++ % 4];
    const char *b = getenv("TEST_BUILD");
    snprintf(p, sizeof paths[0], "%s/%s", b && *b ? b : "build", prog);
    return p;
}

/* A fresh private directory for sockets and files; the caller removes it
 * with spawn_rmdir(). Returns NULL on failure. */
static inline char *spawn_tmpdir(void)
{
    char tmpl[] = "/tmp/agentd-check-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void spawn_rmdir(char **dir)
{
    if (!dir || !*dir)
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", *dir);
    if (system(cmd) != 0)
        fprintf(stderr, "spawn: could not remove %s\n", *dir);
    free(*dir);
    *dir = NULL;
}

/* fork + exec argv with stdout and stderr sent to log_path (appended; NULL:
 * /dev/null). Returns the child's pid, or -1. */
static inline pid_t spawn_exec(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* A failed assertion ends the test process at once: take the child
     * with it rather than leave a server running. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execv(argv[0], argv);
    _exit(127);
}

/* True once endpoint answers a ping within the bound. */
static inline int spawn_wait_ping(const char *endpoint, double max_seconds)
{
    void *z = zmq_ctx_new();
    client_t *c = NULL;
    errbuf_t e;
    int ok = 0;
    double until = spawn_now() + max_seconds;
    if (client_new(z, endpoint, 100, &c, &e) == 0) {
        while (!ok && spawn_now() < until) {
            wire_request_t req = {.op = WIRE_OP_PING};
            wire_reply_t rep;
            ok = client_call(c, &req, &rep, &e) == 0;
        }
    }
    client_destroy(&c);
    zmq_ctx_term(z);
    return ok;
}

/* Starts build/envd bound to endpoint and waits until it answers. Returns
 * its pid, or -1 (the child is then killed). */
static inline pid_t spawn_envd(const char *endpoint, const char *log_path)
{
    char *argv[] = {spawn_bin("envd"), "--bind", (char *)endpoint, "--log-level", "warn", NULL};
    pid_t pid = spawn_exec(argv, log_path);
    if (pid > 0 && !spawn_wait_ping(endpoint, 10.0)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

/* Waits for pid at most max_seconds; on time-out kills it with SIGKILL.
 * Returns the wait status, or -1 if it had to be killed. */
static inline int spawn_wait(pid_t pid, double max_seconds)
{
    double until = spawn_now() + max_seconds;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        if (spawn_now() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        usleep(10000);
    }
}

/* Sends sig to pid (if it is a real child) and reaps it, bounded. */
static inline void spawn_kill(pid_t *pid, int sig)
{
    if (!pid || *pid <= 0)
        return;
    kill(*pid, sig);
    if (spawn_wait(*pid, 10.0) == -1)
        fprintf(stderr, "spawn: pid %d had to be killed\n", (int)*pid);
    *pid = -1;
}

/* Runs argv to completion (bounded) and returns its exit status, 128+signal
 * if a signal ended it, or -1 if it had to be killed. */
static inline int spawn_run(char *const argv[], const char *log_path, double max_seconds)
{
    pid_t pid = spawn_exec(argv, log_path);
    if (pid < 0)
        return -1;
    int status = spawn_wait(pid, max_seconds);
    if (status == -1)
        return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* The whole file at path, NUL-terminated, in a malloc'ed buffer (NULL if it
 * cannot be read); *len gets its size when len is not NULL. */
static inline char *spawn_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

#endif
