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
 * also runs under callgrind (--iterations) for instruction counts. With
 * --sessions S the requests of each size take turns over S sessions (S/N
 * slices of N), so that lookups and state reads miss the caches as they do
 * with a million sessions open.
 *
 * A second table steps every registered environment the same way
 * (1024-row step_batch requests, NEXT_STEP, fixed random actions in the
 * action space: integers for Discrete, float32 values across the bounds
 * and beyond for Box) and gives each one's env steps/s beside
 * CartPole-v1's, measured in the same run.
 *
 * Figures are printed, never asserted: this is not a test.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "env.h"
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
                arena_t *a, wire_reply_t *rep, errbuf_t *e)
{
    req->major = WIRE_MAJOR;
    req->minor = WIRE_MINOR;
    req->id++;
    if (wire_encode_request(req, in) < 0)
        return err_set(e, ERR_NOMEM, "encode");
    service_handle(svc, in->data, in->len, NULL, 0, out, NULL);
    arena_reset(a);
    int rc = wire_decode_reply(a, out->data, out->len, rep, e);
    if (rc == 0 && rep->code != ERR_OK)
        rc = err_set(e, rep->code, "%s", rep->message);
    return rc;
}

/* Encodes one step_batch over sessions[0..n). */
static int encode_step_batch(const uint64_t *sessions, uint32_t n, const uint8_t *actions,
                             wire_buf_t *out)
{
    wire_request_t req;
    memset(&req, 0, sizeof req);
    req.major = WIRE_MAJOR;
    req.minor = WIRE_MINOR;
    req.id = 1;
    req.op = WIRE_OP_STEP_BATCH;
    req.step_batch.sessions = sessions;
    req.step_batch.n = n;
    req.step_batch.autoreset = WIRE_AUTORESET_NEXT_STEP;
    req.step_batch.actions.dtype = WIRE_DTYPE_UINT8;
    req.step_batch.actions.ndim = 1;
    req.step_batch.actions.shape[0] = n;
    req.step_batch.actions.data = actions;
    req.step_batch.actions.len = n;
    return wire_encode_request(&req, out);
}

#define ENV_ROWS 1024

/* env steps/s of 1024-row step_batch requests of one environment. */
static int bench_env(service_t *svc, const env_class_t *cls, double seconds, wire_buf_t *in,
                     wire_buf_t *out, arena_t *a, double *steps_per_s, errbuf_t *e)
{
    static uint64_t ids[ENV_ROWS], seeds[ENV_ROWS];
    static uint8_t discrete[ENV_ROWS];
    static float box[ENV_ROWS];
    wire_request_t req;
    wire_reply_t rep;
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_MAKE;
    req.make.env_id = cls->id;
    req.make.count = ENV_ROWS;
    int rc = call(svc, &req, in, out, a, &rep, e);
    if (rc < 0)
        return rc;
    memcpy(ids, rep.make.sessions, sizeof ids);
    for (size_t i = 0; i < ENV_ROWS; i++)
        seeds[i] = i;
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_RESET_BATCH;
    req.reset_batch = (typeof(req.reset_batch)){.sessions = ids, .n = ENV_ROWS, .seeds = seeds,
                                                .nseeds = ENV_ROWS};
    if ((rc = call(svc, &req, in, out, a, &rep, e)) < 0)
        return rc;
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < ENV_ROWS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        discrete[i] = (uint8_t)((x >> 32) % (cls->n_actions ? cls->n_actions : 1));
        /* 1.5x the bounds: some rows clip */
        double u = (double)(x >> 11) * 0x1p-53;
        if (cls->action_kind == ENV_BOX) {
            double lo = cls->action_low[0], hi = cls->action_high[0];
            box[i] = (float)(1.5 * (lo + u * (hi - lo)));
        }
    }
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_STEP_BATCH;
    req.major = WIRE_MAJOR;
    req.minor = WIRE_MINOR;
    req.step_batch.sessions = ids;
    req.step_batch.n = ENV_ROWS;
    req.step_batch.autoreset = WIRE_AUTORESET_NEXT_STEP;
    if (cls->action_kind == ENV_BOX)
        req.step_batch.actions = (wire_tensor_t){.dtype = WIRE_DTYPE_FLOAT32, .ndim = 2,
                                                 .shape = {ENV_ROWS, 1}, .data = box,
                                                 .len = sizeof box};
    else
        req.step_batch.actions = (wire_tensor_t){.dtype = WIRE_DTYPE_UINT8, .ndim = 1,
                                                 .shape = {ENV_ROWS}, .data = discrete,
                                                 .len = sizeof discrete};
    wire_buf_t enc = {0};
    if (wire_encode_request(&req, &enc) < 0)
        return err_set(e, ERR_NOMEM, "encode");
    service_handle(svc, enc.data, enc.len, NULL, 0, out, NULL);
    arena_reset(a);
    if ((rc = wire_decode_reply(a, out->data, out->len, &rep, e)) == 0 && rep.code != ERR_OK)
        rc = err_set(e, rep.code, "%s: %s", cls->id, rep.message);
    uint64_t n = 0;
    double t0 = now_s(), t = t0;
    while (rc == 0 && t - t0 < seconds) {
        uint64_t now_ms = (uint64_t)((t - t0) * 1000.0);
        for (int i = 0; i < 16; i++)
            service_handle(svc, enc.data, enc.len, NULL, now_ms, out, NULL);
        n += 16;
        t = now_s();
    }
    wire_buf_deinit(&enc);
    *steps_per_s = (double)n * ENV_ROWS / (t - t0);
    return rc;
}

int main(int argc, char **argv)
{
    double seconds = 0.5;
    uint32_t only = 0;
    size_t nsessions = NSESSIONS;
    long iterations = 0; /* fixed count instead of a time, for callgrind */
    static const struct option longopts[] = {{"seconds", required_argument, NULL, 's'},
                                             {"n", required_argument, NULL, 'n'},
                                             {"sessions", required_argument, NULL, 'S'},
                                             {"iterations", required_argument, NULL, 'i'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 's')
            seconds = atof(optarg);
        else if (c == 'n')
            only = (uint32_t)atoi(optarg);
        else if (c == 'S')
            nsessions = strtoull(optarg, NULL, 10);
        else if (c == 'i')
            iterations = atol(optarg);
        else {
            printf("usage: bench_service [--seconds S per batch size] [--n N: one size]\n"
                   "                     [--sessions S (>= 4096): the requests of size N\n"
                   "                      take turns over all S sessions, N at a time]\n"
                   "                     [--iterations K: K requests per size, not timed]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (nsessions < NSESSIONS || nsessions > (16u << 20)) {
        fprintf(stderr, "bench_service: --sessions between %d and 16M\n", NSESSIONS);
        return 2;
    }
    const size_t chunk = 65536;
    service_config_t cfg = {.max_sessions = nsessions + 8 * ENV_ROWS, .max_batch = chunk,
                            .session_ttl_ms = 3600000, .max_message_size = 1 << 26};
    service_t *svc = NULL;
    arena_t *a = NULL;
    wire_buf_t in = {0}, out = {0};
    uint64_t *ids = malloc(nsessions * sizeof *ids), *seeds = malloc(chunk * sizeof *seeds);
    static uint8_t actions[NSESSIONS];
    wire_request_t req;
    wire_reply_t rep;
    errbuf_t e;
    err_clear(&e);
    if (service_new(&cfg, &svc, &e) < 0 || arena_new(64 * 1024, &a, &e) < 0) {
        fprintf(stderr, "bench_service: %s\n", e.msg);
        return 1;
    }
    if (!ids || !seeds)
        return 1;

    /* Made and seeded in chunks: sessions lie in memory in id order. */
    int rc = 0;
    for (size_t done = 0; done < nsessions && rc == 0; done += chunk) {
        size_t n = nsessions - done < chunk ? nsessions - done : chunk;
        memset(&req, 0, sizeof req);
        req.op = WIRE_OP_MAKE;
        req.make.env_id = "CartPole-v1";
        req.make.count = (uint32_t)n;
        if ((rc = call(svc, &req, &in, &out, a, &rep, &e)) < 0)
            break;
        memcpy(ids + done, rep.make.sessions, n * sizeof *ids);
        for (size_t i = 0; i < n; i++)
            seeds[i] = done + i;
        memset(&req, 0, sizeof req);
        req.op = WIRE_OP_RESET_BATCH;
        req.reset_batch.sessions = ids + done;
        req.reset_batch.n = n;
        req.reset_batch.seeds = seeds;
        req.reset_batch.nseeds = n;
        rc = call(svc, &req, &in, &out, a, &rep, &e);
    }
    /* The same fixed random actions as bench_envd. */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < NSESSIONS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        actions[i] = (uint8_t)(x >> 63);
    }
    printf("service_handle, step_batch CartPole-v1 NEXT_STEP, %zu sessions, %.2f s per size\n",
           nsessions, seconds);
    printf("%5s %12s %10s %12s %12s\n", "N", "requests/s", "us/req", "ns/row", "cpu ns/row");
    for (int s = 0; s < NSIZES && rc == 0; s++) {
        if (only && sizes[s] != only)
            continue;
        /* One request per slice of N sessions, at most 65536 slices. */
        size_t nreq = nsessions / sizes[s];
        nreq = nreq > 65536 ? 65536 : nreq;
        wire_buf_t *reqs = calloc(nreq, sizeof *reqs);
        if (!reqs) {
            rc = err_set(&e, ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t j = 0; j < nreq && rc == 0; j++)
            if (encode_step_batch(ids + j * sizes[s], sizes[s], actions, &reqs[j]) < 0)
                rc = err_set(&e, ERR_NOMEM, "encode");
        /* Checked once; the timed loop does nothing but service_handle. */
        if (rc == 0) {
            service_handle(svc, reqs[0].data, reqs[0].len, NULL, 0, &out, NULL);
            arena_reset(a);
            if ((rc = wire_decode_reply(a, out.data, out.len, &rep, &e)) == 0 &&
                rep.code != ERR_OK)
                rc = err_set(&e, rep.code, "%s", rep.message);
        }
        uint64_t n = 0;
        size_t j = 0;
        double t0 = now_s(), t = t0, c0 = cpu_s();
        while (rc == 0 && (iterations ? n < (uint64_t)iterations : t - t0 < seconds)) {
            /* envd passes its loop's millisecond clock: do the same. */
            uint64_t now_ms = (uint64_t)((t - t0) * 1000.0);
            for (int i = 0; i < 16; i++) {
                service_handle(svc, reqs[j].data, reqs[j].len, NULL, now_ms, &out, NULL);
                j = j + 1 < nreq ? j + 1 : 0;
            }
            n += 16;
            t = now_s();
        }
        double per = (t - t0) / (double)n, cpu = (cpu_s() - c0) / (double)n;
        if (rc == 0)
            printf("%5u %12.0f %10.2f %12.1f %12.1f\n", sizes[s], 1.0 / per, per * 1e6,
                   per * 1e9 / sizes[s], cpu * 1e9 / sizes[s]);
        for (size_t k = 0; k < nreq; k++)
            wire_buf_deinit(&reqs[k]);
        free(reqs);
    }
    if (rc == 0 && !only && !iterations) {
        printf("\nservice_handle, step_batch of %d sessions, NEXT_STEP, every environment, %.2f s "
               "each\n%-26s %14s %10s %16s\n",
               ENV_ROWS, seconds, "env", "env steps/s", "ns/row", "vs CartPole-v1");
        double base = 0;
        for (size_t k = 0; k < env_class_count() && rc == 0; k++) {
            double sps = 0;
            const env_class_t *cls = env_class_at(k);
            if ((rc = bench_env(svc, cls, seconds, &in, &out, a, &sps, &e)) < 0)
                break;
            if (k == 0)
                base = sps;
            printf("%-26s %14.0f %10.1f %15.2fx\n", cls->id, sps, 1e9 / sps, sps / base);
        }
    }
    if (rc < 0)
        fprintf(stderr, "bench_service: %s\n", e.msg);
    wire_buf_deinit(&in);
    wire_buf_deinit(&out);
    arena_destroy(&a);
    service_destroy(&svc);
    free(ids);
    free(seeds);
    return rc < 0;
}
