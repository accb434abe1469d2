/*
 * bench_service.c — envd's request handling alone, without sockets.
 *
 * Drives service_handle() in-process with the same prebuilt step_batch
 * requests bench_envd sends (CartPole-v1, NEXT_STEP autoreset, uint8
 * actions) and prints the time per request and per row for each batch
 * size, by the clock and by this thread's CPU time. It isolates what envd's
 * main thread spends on decode, lookup, physics and encode from what
 * ZeroMQ and the kernel cost, so that an optimisation of the service shows
 * up here even when a shared machine makes the loopback figures noisy. It
 * also runs under callgrind (--iterations) for instruction counts.
 *
 * Figures are printed, never asserted: this is not a test.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service.h"
#include "wire.h"

#define NSIZES 5
#define NSESSIONS 4096

static const uint32_t sizes[NSIZES] = {1, 64, 256, 1024, 4096};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* This thread's CPU time: on a shared machine the time it was not running
 * does not count, which steadies the figures. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Encodes req, handles it and decodes the reply into rep (arena a). */
static int call(service_t *svc, wire_request_t *req, wire_buf_t *in, wire_buf_t *out,
                wire_arena_t *a, wire_reply_t *rep, errbuf_t *e)
{
    req->major = WIRE_MAJOR;
    req->minor = WIRE_MINOR;
    req->id++;
    if (wire_encode_request(req, in) < 0)
        return err_set(e, ERR_NOMEM, "encode");
    service_handle(svc, in->data, in->len, 0, out, NULL);
    wire_arena_reset(a);
    int rc = wire_decode_reply(a, out->data, out->len, rep, e);
    if (rc == 0 && rep->code != ERR_OK)
        rc = err_set(e, rep->code, "%s", rep->message);
    return rc;
}

int main(int argc, char **argv)
{
    double seconds = 0.5;
    uint32_t only = 0;
    long iterations = 0; /* fixed count instead of a time, for callgrind */
    static const struct option longopts[] = {{"seconds", required_argument, NULL, 's'},
                                             {"n", required_argument, NULL, 'n'},
                                             {"iterations", required_argument, NULL, 'i'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 's')
            seconds = atof(optarg);
        else if (c == 'n')
            only = (uint32_t)atoi(optarg);
        else if (c == 'i')
            iterations = atol(optarg);
        else {
            printf("usage: bench_service [--seconds S per batch size] [--n N: one size]\n"
                   "                     [--iterations K: K requests per size, not timed]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    service_config_t cfg = {.max_sessions = NSESSIONS, .max_batch = NSESSIONS,
                            .session_ttl_ms = 3600000, .max_message_size = 1 << 24};
    service_t *svc = service_new(&cfg);
    wire_arena_t *a = wire_arena_new(64 * 1024);
    wire_buf_t in = {0}, out = {0};
    static uint64_t ids[NSESSIONS], seeds[NSESSIONS];
    static uint8_t actions[NSESSIONS];
    wire_request_t req;
    wire_reply_t rep;
    errbuf_t e;
    err_clear(&e);
    if (!svc || !a)
        return 1;

    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_MAKE;
    req.make.env_id = "CartPole-v1";
    req.make.count = NSESSIONS;
    int rc = call(svc, &req, &in, &out, a, &rep, &e);
    if (rc == 0) {
        memcpy(ids, rep.make.sessions, sizeof ids);
        for (size_t i = 0; i < NSESSIONS; i++)
            seeds[i] = i;
        memset(&req, 0, sizeof req);
        req.op = WIRE_OP_RESET_BATCH;
        req.reset_batch.sessions = ids;
        req.reset_batch.n = NSESSIONS;
        req.reset_batch.seeds = seeds;
        req.reset_batch.nseeds = NSESSIONS;
        rc = call(svc, &req, &in, &out, a, &rep, &e);
    }
    /* The same fixed random actions as bench_envd. */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < NSESSIONS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        actions[i] = (uint8_t)(x >> 63);
    }
    printf("service_handle, step_batch CartPole-v1 NEXT_STEP, %.2f s per size\n", seconds);
    printf("%5s %12s %10s %12s %12s\n", "N", "requests/s", "us/req", "ns/row", "cpu ns/row");
    for (int s = 0; s < NSIZES && rc == 0; s++) {
        if (only && sizes[s] != only)
            continue;
        memset(&req, 0, sizeof req);
        req.major = WIRE_MAJOR;
        req.minor = WIRE_MINOR;
        req.id = 1;
        req.op = WIRE_OP_STEP_BATCH;
        req.step_batch.sessions = ids;
        req.step_batch.n = sizes[s];
        req.step_batch.autoreset = WIRE_AUTORESET_NEXT_STEP;
        req.step_batch.actions.dtype = WIRE_DTYPE_UINT8;
        req.step_batch.actions.ndim = 1;
        req.step_batch.actions.shape[0] = sizes[s];
        req.step_batch.actions.data = actions;
        req.step_batch.actions.len = sizes[s];
        if (wire_encode_request(&req, &in) < 0) {
            rc = err_set(&e, ERR_NOMEM, "encode");
            break;
        }
        /* Checked once; the timed loop does nothing but service_handle. */
        service_handle(svc, in.data, in.len, 0, &out, NULL);
        wire_arena_reset(a);
        if ((rc = wire_decode_reply(a, out.data, out.len, &rep, &e)) == 0 && rep.code != ERR_OK)
            rc = err_set(&e, rep.code, "%s", rep.message);
        if (rc < 0)
            break;
        uint64_t n = 0;
        double t0 = now_s(), t = t0, c0 = cpu_s();
        uint64_t now_ms = 0;
        while (iterations ? n < (uint64_t)iterations : t - t0 < seconds) {
            for (int i = 0; i < 16; i++)
                service_handle(svc, in.data, in.len, now_ms++, &out, NULL);
            n += 16;
            t = now_s();
        }
        double per = (t - t0) / (double)n, cpu = (cpu_s() - c0) / (double)n;
        printf("%5u %12.0f %10.2f %12.1f %12.1f\n", sizes[s], 1.0 / per, per * 1e6,
               per * 1e9 / sizes[s], cpu * 1e9 / sizes[s]);
    }
    if (rc < 0)
        fprintf(stderr, "bench_service: %s\n", e.msg);
    wire_buf_deinit(&in);
    wire_buf_deinit(&out);
    wire_arena_destroy(&a);
    service_destroy(&svc);
    return rc < 0;
}
