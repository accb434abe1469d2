/*
 * bench_rss.c — envd's resident memory with a million sessions open.
 *
 * Starts build/envd on a temporary ipc path, reads its VmRSS while idle,
 * then opens 2^20 CartPole-v1 sessions in chunks of --chunk (make), resets
 * them all (reset_batch, unseeded: each session draws its seed from the OS
 * as Gymnasium's reset() does), steps them all once (step_batch), and
 * prints VmRSS after each phase with the bytes per session over idle and
 * the time each phase took. The goal is 1M sessions in at most 512 MB.
 *
 * Figures are printed, never asserted: this is not a test.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"
#include "envproc.h"
#include "wire.h"

#define HARD_LIMIT_S 300

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_phase(const envproc_t *p, const char *what, long idle_kb, size_t sessions,
                        double seconds)
{
    long kb = envproc_status_kb(p, "VmRSS");
    printf("%-26s %10.1f MB", what, (double)kb / 1024.0);
    if (sessions)
        printf("  %7.1f B/session over idle  (%.2f s, %.2fM sessions/s)",
               (double)(kb - idle_kb) * 1024.0 / (double)sessions, seconds,
               (double)sessions / seconds / 1e6);
    printf("\n");
}

int main(int argc, char **argv)
{
    size_t total = (size_t)1 << 20, chunk = 65536;
    char envd_path[4096];
    envproc_default_path(envd_path, sizeof envd_path);
    static const struct option longopts[] = {{"sessions", required_argument, NULL, 'n'},
                                             {"chunk", required_argument, NULL, 'c'},
                                             {"envd", required_argument, NULL, 'e'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': total = strtoull(optarg, NULL, 10); break;
        case 'c': chunk = strtoull(optarg, NULL, 10); break;
        case 'e': snprintf(envd_path, sizeof envd_path, "%s", optarg); break;
        case 'h':
            printf("usage: bench_rss [--sessions N] [--chunk N] [--envd PATH]\n");
            return 0;
        default: return 2;
        }
    }
    if (total < 1 || total > 16u << 20 || chunk < 1 || chunk > 1u << 20) {
        fprintf(stderr, "bench_rss: --sessions 1..16M, --chunk 1..1M\n");
        return 2;
    }
    alarm(HARD_LIMIT_S);

    char dir[] = "/tmp/bench_rss.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char bind[300], max_sessions[32], max_batch[32];
    snprintf(bind, sizeof bind, "ipc://%s/envd.ipc", dir);
    snprintf(max_sessions, sizeof max_sessions, "%zu", total);
    snprintf(max_batch, sizeof max_batch, "%zu", chunk);
    const char *args[] = {"--bind", bind, "--max-sessions", max_sessions, "--max-batch",
                          max_batch, "--max-message-size", "16777216", "--session-ttl", "3600", NULL};

    errbuf_t e;
    err_clear(&e);
    envproc_t envd;
    memset(&envd, 0, sizeof envd);
    void *zctx = NULL;
    client_t *cl = NULL;
    uint64_t *ids = malloc(total * sizeof *ids);
    int rc = ids ? envproc_start(&envd, envd_path, dir, args, 10000, &e)
                 : err_set(&e, ERR_NOMEM, "out of memory");
    if (rc < 0)
        goto out;
    zctx = zmq_ctx_new();
    if ((rc = client_new(zctx, envd.endpoints[0], 30000, &cl, &e)) < 0)
        goto out;

    wire_request_t req;
    wire_reply_t rep;
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_HELLO;
    req.hello.client = "bench_rss";
    if ((rc = client_call(cl, &req, &rep, &e)) < 0)
        goto out;
    printf("envd RSS, %zu CartPole-v1 sessions in chunks of %zu (envd --max-sessions %zu)\n",
           total, chunk, total);
    long idle_kb = envproc_status_kb(&envd, "VmRSS");
    print_phase(&envd, "idle", 0, 0, 0);

    double t = now_s();
    for (size_t done = 0; done < total && rc == 0; done += chunk) {
        size_t n = total - done < chunk ? total - done : chunk;
        memset(&req, 0, sizeof req);
        req.op = WIRE_OP_MAKE;
        req.make.env_id = "CartPole-v1";
        req.make.count = (uint32_t)n;
        if ((rc = client_call(cl, &req, &rep, &e)) == 0)
            memcpy(ids + done, rep.make.sessions, n * sizeof *ids);
    }
    if (rc < 0)
        goto out;
    print_phase(&envd, "after make", idle_kb, total, now_s() - t);

    t = now_s();
    for (size_t done = 0; done < total && rc == 0; done += chunk) {
        memset(&req, 0, sizeof req);
        req.op = WIRE_OP_RESET_BATCH;
        req.reset_batch.sessions = ids + done;
        req.reset_batch.n = total - done < chunk ? total - done : chunk;
        rc = client_call(cl, &req, &rep, &e);
    }
    if (rc < 0)
        goto out;
    print_phase(&envd, "after reset_batch", idle_kb, total, now_s() - t);

    uint8_t *actions = calloc(chunk, 1);
    t = now_s();
    for (size_t done = 0; done < total && rc == 0 && actions; done += chunk) {
        size_t n = total - done < chunk ? total - done : chunk;
        memset(&req, 0, sizeof req);
        req.op = WIRE_OP_STEP_BATCH;
        req.step_batch.sessions = ids + done;
        req.step_batch.n = n;
        req.step_batch.actions.dtype = WIRE_DTYPE_UINT8;
        req.step_batch.actions.ndim = 1;
        req.step_batch.actions.shape[0] = (uint32_t)n;
        req.step_batch.actions.data = actions;
        req.step_batch.actions.len = n;
        rc = client_call(cl, &req, &rep, &e);
    }
    free(actions);
    if (rc < 0)
        goto out;
    print_phase(&envd, "after step_batch", idle_kb, total, now_s() - t);
    printf("%-26s %10.1f MB  (goal: 1M sessions in <= 512 MB RSS)\n", "peak (VmHWM)",
           (double)envproc_status_kb(&envd, "VmHWM") / 1024.0);
out:
    if (rc < 0)
        fprintf(stderr, "bench_rss: %s\n", e.msg);
    client_destroy(&cl);
    if (zctx)
        zmq_ctx_term(zctx);
    int status = envd.pid > 0 ? envproc_stop(&envd, 5000) : 0;
    if (status != 0)
        fprintf(stderr, "bench_rss: envd exit status %d; its log: %s\n", status, envd.log_path);
    free(ids);
    char path[400];
    snprintf(path, sizeof path, "%s/envd.ipc", dir); /* ZeroMQ leaves it behind */
    unlink(path);
    if (rc == 0 && status == 0) {
        unlink(envd.log_path);
        rmdir(dir);
    }
    return rc < 0 || status != 0 ? 1 : 0;
}
