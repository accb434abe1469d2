/*
 * envproc.h — run build/envd as a child process for the benchmarks.
 *
 * The benchmarks measure the real server binary, not a library linked into
 * them, so they start it with fork/exec, wait until it says it is ready and
 * read the endpoints it actually bound (tcp ports are ephemeral, `:*`) from
 * its log. The child dies with its parent (PR_SET_PDEATHSIG), so a bench
 * that crashes or hits its time bound never leaves an envd behind.
 */
#ifndef ENVPROC_H
#define ENVPROC_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define ENVPROC_MAX_BINDS 4

typedef struct envproc {
    pid_t pid;
    char log_path[512];
    char endpoints[ENVPROC_MAX_BINDS][256]; /* as bound, in --bind order */
    size_t nendpoints;
} envproc_t;

/* The envd next to the running executable (build/envd beside build/bench_*). */
void envproc_default_path(char *buf, size_t size);

/* Starts `envd args...` with its stdout/stderr in dir/envd.log and waits up
 * to timeout_ms for its "ready" line. args is NULL-terminated. */
int envproc_start(envproc_t *p, const char *envd, const char *dir, const char *const *args,
                  int timeout_ms, errbuf_t *e);

/* A /proc/<pid>/status field in kB ("VmRSS", "VmHWM"), or -1. */
long envproc_status_kb(const envproc_t *p, const char *field);

/* CPU time (user + system, all threads) a process has used so far, in
 * clock ticks (sysconf(_SC_CLK_TCK) per second), or -1. */
long envproc_cpu_ticks(pid_t pid);

/* SIGTERM, then SIGKILL if envd has not exited within timeout_ms. Returns
 * envd's exit status (0 after a clean shutdown), or -1 if it was killed. */
int envproc_stop(envproc_t *p, int timeout_ms);

#endif
