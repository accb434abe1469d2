/*
 * soak.c — envd under sustained mixed load, every reply checked.
 *
 * Starts the real build/envd (loopback tcp, ephemeral port) and runs
 * --clients threads, each with its own DEALER (common/client.h) and its own
 * --sessions CartPole-v1 sessions, for --seconds: seeded resets, then a
 * random mix of single steps, unseeded resets and step_batch requests over
 * random subsets of the thread's sessions (NEXT_STEP autoreset). Every
 * session has a local env_t mirror (server/env.c, the same code envd runs)
 * stepped alongside, and every reply is compared with it bit for bit:
 * observation bytes, reward bits, flags, autoreset bytes, shapes, op, id.
 *
 * Lost replies are timeouts; a duplicated or misrouted reply shows up as a
 * content mismatch or as envd counting more or fewer requests than the
 * clients sent (checked at the end, exactly). envd's RSS is sampled after a
 * warm-up (a fifth of the run) and at the end; growth must stay under 5%.
 * p50/p99/max round-trip latencies are printed. Exit status 0 only when
 * every check passed.
 */
#include <inttypes.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"
#include "env.h"
#include "envproc.h"
#include "wire.h"

#define OBS_DIM 4
#define TIMEOUT_MS 10000
#define HARD_LIMIT_EXTRA_S 120 /* alarm: seconds beyond --seconds before the soak ends itself */
/* Latency histogram: 1 us buckets below 2 ms, then 100 us buckets up to 1 s. */
#define FINE_US 2000
#define COARSE_US 100
#define NBUCKETS (FINE_US + (1000000 - FINE_US) / COARSE_US + 1)

typedef struct soak_config {
    int clients, sessions;
    double seconds;
    char envd[4096];
} soak_config_t;

typedef struct worker {
    int index;
    const soak_config_t *cfg;
    void *zctx;
    const char *endpoint;
    const double *deadline;
    /* results */
    uint64_t requests, steps, singles, batches, resets, timeouts, mismatches, errors;
    char first_problem[256];
    uint32_t *hist; /* (NBUCKETS) */
} worker_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void problem(worker_t *w, uint64_t *counter, const char *fmt, const char *what)
{
    (*counter)++;
    if (!w->first_problem[0])
        snprintf(w->first_problem, sizeof w->first_problem, fmt, what);
}

static void record(worker_t *w, double sec)
{
    double us = sec * 1e6;
    size_t b = us < FINE_US ? (size_t)us
               : us >= 1e6  ? NBUCKETS - 1
                            : FINE_US + (size_t)((us - FINE_US) / COARSE_US);
    w->hist[b]++;
}

static double bucket_us(size_t b)
{
    return b < FINE_US ? (double)b : FINE_US + (double)(b - FINE_US) * COARSE_US;
}

/* One round trip; 0 with rep filled (status OK, op and id checked), or -1
 * after counting the problem. */
static int round_trip(worker_t *w, client_t *c, wire_request_t *req, wire_reply_t *rep)
{
    errbuf_t e;
    err_clear(&e);
    double t0 = now_s();
    w->requests++;
    if (client_send(c, req, &e) < 0) {
        problem(w, &w->errors, "send: %s", e.msg);
        return -1;
    }
    int rc = client_recv(c, rep, &e);
    record(w, now_s() - t0);
    if (rc == ERR_TIMEOUT) {
        problem(w, &w->timeouts, "lost reply: %s", e.msg);
        return -1;
    }
    if (rc < 0) {
        problem(w, &w->errors, "recv: %s", e.msg);
        return -1;
    }
    if (rep->code != ERR_OK) {
        problem(w, &w->errors, "error reply: %s", rep->message);
        return -1;
    }
    if (rep->id != req->id || rep->op != req->op) {
        problem(w, &w->mismatches, "%s", "reply id or op differs from the request's");
        return -1;
    }
    return 0;
}

static bool obs_ok(const wire_tensor_t *t, uint32_t rows, const float *want)
{
    bool shape = rows == 0 ? t->ndim == 1 && t->shape[0] == OBS_DIM
                           : t->ndim == 2 && t->shape[0] == rows && t->shape[1] == OBS_DIM;
    size_t n = (rows ? rows : 1) * OBS_DIM;
    return t->dtype == WIRE_DTYPE_FLOAT32 && shape && t->len == n * sizeof(float) &&
           memcmp(t->data, want, n * sizeof(float)) == 0;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    const int S = w->cfg->sessions;
    const env_class_t *cls = env_find("CartPole-v1");
    size_t esz = env_size(cls);
    unsigned char *mirrors = calloc((size_t)S, esz);
    uint64_t *ids = calloc((size_t)S, sizeof *ids), *seeds = calloc((size_t)S, sizeof *seeds);
    uint64_t *bsess = calloc((size_t)S, sizeof *bsess);
    uint8_t *bact = calloc((size_t)S, 1), *bauto = calloc((size_t)S, 1);
    int *perm = calloc((size_t)S, sizeof *perm);
    float *want = calloc((size_t)S * OBS_DIM, sizeof(float));
    double *wrew = calloc((size_t)S, sizeof(double));
    uint8_t *wterm = calloc((size_t)S, 1), *wtrunc = calloc((size_t)S, 1);
    client_t *c = NULL;
    errbuf_t e;
    err_clear(&e);
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(w->index + 1);
    wire_request_t req;
    wire_reply_t rep;
#define MIRROR(i) ((env_t *)(mirrors + (size_t)(i) * esz))

    if (!mirrors || !ids || !seeds || !bsess || !bact || !bauto || !perm || !want || !wrew ||
        !wterm || !wtrunc || client_new(w->zctx, w->endpoint, TIMEOUT_MS, &c, &e) < 0) {
        problem(w, &w->errors, "setup: %s", e.msg[0] ? e.msg : "out of memory");
        goto out;
    }
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_MAKE;
    req.make.env_id = "CartPole-v1";
    req.make.count = (uint32_t)S;
    if (round_trip(w, c, &req, &rep) < 0 || rep.make.n != (size_t)S) {
        problem(w, &w->errors, "%s", "make failed");
        goto out;
    }
    memcpy(ids, rep.make.sessions, (size_t)S * sizeof *ids);
    for (int i = 0; i < S; i++) {
        seeds[i] = (uint64_t)w->index * 100003u + (uint64_t)i;
        env_init(MIRROR(i), cls, NULL, 0, &e);
        env_reset(MIRROR(i), &seeds[i], NULL, 0, want + (size_t)i * OBS_DIM, &e);
    }
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_RESET_BATCH;
    req.reset_batch.sessions = ids;
    req.reset_batch.n = (size_t)S;
    req.reset_batch.seeds = seeds;
    req.reset_batch.nseeds = (size_t)S;
    if (round_trip(w, c, &req, &rep) < 0 || !obs_ok(&rep.reset_batch.obs, (uint32_t)S, want)) {
        problem(w, &w->mismatches, "%s", "seeded reset_batch differs from the mirrors");
        goto out;
    }

    while (now_s() < *w->deadline) {
        uint64_t r = xorshift(&rng);
        int kind = (int)(r % 16); /* 0-7 single step, 8 reset, 9-15 batch */
        int i = (int)((r >> 8) % (uint64_t)S);
        memset(&req, 0, sizeof req);
        if (kind < 8 && !MIRROR(i)->done) {
            int64_t a = (int64_t)((r >> 32) & 1);
            float o[OBS_DIM];
            double rw;
            bool term, trunc;
            env_step(MIRROR(i), ENV_DISCRETE(a), o, &rw, &term, &trunc, &e);
            req.op = WIRE_OP_STEP;
            req.step.session = ids[i];
            req.step.action = a;
            if (round_trip(w, c, &req, &rep) < 0)
                break;
            if (!obs_ok(&rep.step.obs, 0, o) || memcmp(&rep.step.reward, &rw, sizeof rw) != 0 ||
                rep.step.terminated != term || rep.step.truncated != trunc) {
                problem(w, &w->mismatches, "%s", "step reply differs from the mirror");
                break;
            }
            w->singles++;
            w->steps++;
        } else if (kind <= 8) { /* also a single step on a finished episode */
            float o[OBS_DIM];
            env_reset(MIRROR(i), NULL, NULL, 0, o, &e);
            req.op = WIRE_OP_RESET;
            req.reset.session = ids[i];
            if (round_trip(w, c, &req, &rep) < 0)
                break;
            if (!obs_ok(&rep.reset.obs, 0, o)) {
                problem(w, &w->mismatches, "%s", "reset reply differs from the mirror");
                break;
            }
            w->resets++;
        } else {
            /* k distinct sessions in random order (partial Fisher-Yates). */
            int k = 1 + (int)((r >> 16) % (uint64_t)S);
            for (int j = 0; j < S; j++)
                perm[j] = j;
            for (int j = 0; j < k; j++) {
                int m = j + (int)(xorshift(&rng) % (uint64_t)(S - j));
                int t = perm[j];
                perm[j] = perm[m];
                perm[m] = t;
                int s = perm[j];
                bsess[j] = ids[s];
                bact[j] = (uint8_t)(xorshift(&rng) & 1);
                env_t *env = MIRROR(s);
                bool term, trunc;
                if (env->done) { /* NEXT_STEP: reset instead of stepped */
                    env_reset(env, NULL, NULL, 0, want + (size_t)j * OBS_DIM, &e);
                    wrew[j] = 0.0;
                    term = trunc = false;
                    bauto[j] = 1;
                } else {
                    env_step(env, ENV_DISCRETE(bact[j]), want + (size_t)j * OBS_DIM, &wrew[j], &term, &trunc,
                             &e);
                    bauto[j] = 0;
                    w->steps++;
                }
                wterm[j] = term;
                wtrunc[j] = trunc;
            }
            req.op = WIRE_OP_STEP_BATCH;
            req.step_batch.sessions = bsess;
            req.step_batch.n = (size_t)k;
            req.step_batch.autoreset = WIRE_AUTORESET_NEXT_STEP;
            req.step_batch.actions = (wire_tensor_t){.dtype = WIRE_DTYPE_UINT8, .ndim = 1,
                                                     .shape = {(uint32_t)k}, .data = bact,
                                                     .len = (size_t)k};
            if (round_trip(w, c, &req, &rep) < 0)
                break;
            if (rep.step_batch.n != (size_t)k || !obs_ok(&rep.step_batch.obs, (uint32_t)k, want) ||
                memcmp(rep.step_batch.rewards, wrew, (size_t)k * sizeof *wrew) != 0 ||
                memcmp(rep.step_batch.terminated, wterm, (size_t)k) != 0 ||
                memcmp(rep.step_batch.truncated, wtrunc, (size_t)k) != 0 ||
                memcmp(rep.step_batch.autoreset, bauto, (size_t)k) != 0) {
                problem(w, &w->mismatches, "%s", "step_batch reply differs from the mirrors");
                break;
            }
            w->batches++;
        }
    }
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_CLOSE;
    req.close.sessions = ids;
    req.close.n = (size_t)S;
    if (round_trip(w, c, &req, &rep) == 0 && rep.close.closed != (uint32_t)S)
        problem(w, &w->mismatches, "%s", "close did not close every session");
out:
    client_destroy(&c);
    free(mirrors);
    free(ids);
    free(seeds);
    free(bsess);
    free(bact);
    free(bauto);
    free(perm);
    free(want);
    free(wrew);
    free(wterm);
    free(wtrunc);
    return NULL;
#undef MIRROR
}

static int stats_call(void *zctx, const char *endpoint, wire_stats_t *out)
{
    client_t *c = NULL;
    errbuf_t e;
    err_clear(&e);
    wire_request_t req;
    wire_reply_t rep;
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_STATS;
    int rc = client_new(zctx, endpoint, TIMEOUT_MS, &c, &e);
    if (rc == 0 && (rc = client_call(c, &req, &rep, &e)) == 0)
        *out = rep.stats;
    client_destroy(&c);
    return rc;
}

static double percentile(const uint64_t *hist, uint64_t total, double p)
{
    uint64_t want = (uint64_t)ceil(p * (double)total), acc = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
        acc += hist[b];
        if (acc >= want && acc > 0)
            return bucket_us(b);
    }
    return bucket_us(NBUCKETS - 1);
}

int main(int argc, char **argv)
{
    soak_config_t cfg = {.clients = 64, .sessions = 64, .seconds = 60};
    envproc_default_path(cfg.envd, sizeof cfg.envd);
    static const struct option longopts[] = {{"clients", required_argument, NULL, 'c'},
                                             {"sessions", required_argument, NULL, 's'},
                                             {"seconds", required_argument, NULL, 't'},
                                             {"envd", required_argument, NULL, 'e'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': cfg.clients = atoi(optarg); break;
        case 's': cfg.sessions = atoi(optarg); break;
        case 't': cfg.seconds = atof(optarg); break;
        case 'e': snprintf(cfg.envd, sizeof cfg.envd, "%s", optarg); break;
        case 'h':
            printf("usage: soak [--clients N] [--sessions N] [--seconds S] [--envd PATH]\n");
            return 0;
        default: return 2;
        }
    }
    if (cfg.clients < 1 || cfg.clients > 1024 || cfg.sessions < 1 || cfg.sessions > 8192 ||
        !(cfg.seconds > 0 && cfg.seconds <= 86400)) {
        fprintf(stderr, "soak: --clients 1..1024, --sessions 1..8192, --seconds (0, 86400]\n");
        return 2;
    }
    alarm((unsigned)cfg.seconds + HARD_LIMIT_EXTRA_S);

    char dir[] = "/tmp/soak.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *args[] = {"--bind", "tcp://127.0.0.1:*", "--max-sessions", "1000000", NULL};
    envproc_t envd;
    memset(&envd, 0, sizeof envd);
    errbuf_t e;
    err_clear(&e);
    if (envproc_start(&envd, cfg.envd, dir, args, 10000, &e) < 0) {
        fprintf(stderr, "soak: %s\n", e.msg);
        return 1;
    }
    const char *endpoint = envd.endpoints[0];
    void *zctx = zmq_ctx_new();
    long rss_start = envproc_status_kb(&envd, "VmRSS");
    printf("soak: %d clients x %d sessions for %.0f s against envd on %s\n", cfg.clients,
           cfg.sessions, cfg.seconds, endpoint);
    fflush(stdout);

    double t0 = now_s(), deadline = t0 + cfg.seconds;
    worker_t *w = calloc((size_t)cfg.clients, sizeof *w);
    pthread_t *th = calloc((size_t)cfg.clients, sizeof *th);
    for (int i = 0; i < cfg.clients; i++) {
        w[i] = (worker_t){.index = i, .cfg = &cfg, .zctx = zctx, .endpoint = endpoint,
                          .deadline = &deadline};
        w[i].hist = calloc(NBUCKETS, sizeof *w[i].hist);
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    /* RSS after warm-up (a fifth of the run), then its peak over the rest. */
    double warm_at = t0 + cfg.seconds / 5;
    long rss_warm = -1, rss_max = 0;
    while (now_s() < deadline) {
        usleep(200000);
        long rss = envproc_status_kb(&envd, "VmRSS");
        if (rss_warm < 0 && now_s() >= warm_at)
            rss_warm = rss;
        if (rss_warm >= 0 && rss > rss_max)
            rss_max = rss;
    }
    for (int i = 0; i < cfg.clients; i++)
        pthread_join(th[i], NULL);
    double elapsed = now_s() - t0;
    long rss_end = envproc_status_kb(&envd, "VmRSS");

    uint64_t *hist = calloc(NBUCKETS, sizeof *hist);
    uint64_t requests = 0, steps = 0, singles = 0, batches = 0, resets = 0, timeouts = 0,
             mismatches = 0, errors = 0;
    const char *first = NULL;
    for (int i = 0; i < cfg.clients; i++) {
        requests += w[i].requests;
        steps += w[i].steps;
        singles += w[i].singles;
        batches += w[i].batches;
        resets += w[i].resets;
        timeouts += w[i].timeouts;
        mismatches += w[i].mismatches;
        errors += w[i].errors;
        if (!first && w[i].first_problem[0])
            first = w[i].first_problem;
        for (size_t b = 0; b < NBUCKETS; b++)
            hist[b] += w[i].hist[b];
    }
    wire_stats_t st;
    memset(&st, 0, sizeof st);
    int src = stats_call(zctx, endpoint, &st);
    /* envd counts a stats request after answering it: requests == sent. */
    bool counts_ok = src == 0 && st.requests == requests && st.errors == 0 &&
                     st.active_sessions == 0;
    double growth = rss_warm > 0 ? (double)(rss_max - rss_warm) / (double)rss_warm : 0.0;
    bool rss_ok = rss_warm > 0 && growth < 0.05;

    printf("soak: %.1f s: %" PRIu64 " requests (%" PRIu64 " steps, %" PRIu64 " single steps, %" PRIu64
           " batches, %" PRIu64 " resets), %.0f requests/s, %.0f env steps/s\n",
           elapsed, requests, steps, singles, batches, resets, requests / elapsed, steps / elapsed);
    printf("soak: latency p50 %.0f us, p99 %.0f us, max %.0f us\n",
           percentile(hist, requests, 0.50), percentile(hist, requests, 0.99),
           percentile(hist, requests, 1.0));
    printf("soak: lost (timeouts) %" PRIu64 ", mismatched %" PRIu64 ", errors %" PRIu64
           "; envd counted %" PRIu64 " requests (clients sent %" PRIu64 "), %" PRIu64
           " errors, %" PRIu64 " sessions left: %s\n",
           timeouts, mismatches, errors, st.requests, requests, st.errors, st.active_sessions,
           counts_ok ? "ok" : "MISMATCH");
    printf("soak: envd RSS %ld KiB at start, %ld KiB after warm-up, peak %ld KiB after, %ld KiB "
           "at end: growth %.2f%% (limit 5%%): %s\n",
           rss_start, rss_warm, rss_max, rss_end, 100.0 * growth, rss_ok ? "ok" : "TOO MUCH");
    if (first)
        printf("soak: first problem: %s\n", first);

    int stop = envproc_stop(&envd, 10000);
    zmq_ctx_term(zctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "soak: could not remove %s\n", dir);
    bool ok = timeouts == 0 && mismatches == 0 && errors == 0 && counts_ok && rss_ok && stop == 0;
    printf("soak: %s\n", ok ? "PASS" : "FAIL");
    for (int i = 0; i < cfg.clients; i++)
        free(w[i].hist);
    free(w);
    free(th);
    free(hist);
    return ok ? 0 : 1;
}
