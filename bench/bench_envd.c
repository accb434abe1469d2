/*
 * bench_envd.c — envd's load generator: round-trip latency and batched
 * throughput over tcp and ipc loopback, each beside a bare echo.
 *
 * The bench starts the real build/envd as a child process (ephemeral tcp
 * port, ipc path in a fresh temporary folder) and, in a forked child
 * process, a bare ROUTER that answers each request with envd's own reply
 * bytes for that request, captured once and sent zero-copy (as envd sends
 * its replies), and does nothing else. Both are driven by the same DEALER
 * loop with the same encoded requests, so the ratio envd / echo is what
 * envd's work (decode, batch step, encode, its event loop) costs on top of
 * ZeroMQ and the kernel.
 *
 * Requests are step_batch over the first N of 4096 CartPole-v1 sessions with
 * NEXT_STEP autoreset (episodes keep going without the client's help),
 * encoded once per N and sent zero-copy: the client does no per-request
 * encoding. Every reply is checked by size and by its first bytes against
 * the captured OK reply, which an error reply cannot match. envd and echo
 * runs come in --reps pairs of adjacent runs (envd first in every other
 * pair), so that a noisy neighbour on a shared machine hits both sides
 * alike: a rate is the median of its runs, a ratio the median of the
 * pairs' ratios, which a swing between pairs does not move.
 *
 * Figures are printed, never asserted: this is not a test.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"
#include "envproc.h"
#include "wire.h"

#define NSIZES 5
#define NSESSIONS 4096 /* the largest N */
#define CHECK_BYTES 16 /* reply prefix compared on every reply */
#define RECV_TIMEOUT_MS 5000
#define HARD_LIMIT_S 300 /* the bench ends itself (and envd, by PDEATHSIG) after this */

static const uint32_t sizes[NSIZES] = {1, 64, 256, 1024, 4096};

typedef struct bench_config {
    double seconds;   /* measured time per run */
    double warmup;    /* unmeasured time before each run */
    int reps;         /* pairs of runs (envd, echo) per figure; medians are reported */
    int depth;        /* requests in flight in the throughput runs */
    int lat_steps;    /* lock-step round trips per target and transport; 0: none */
    unsigned tr_mask; /* bit 0 tcp, bit 1 ipc */
    unsigned n_mask;  /* bit s: sizes[s] */
    char envd[4096];
} bench_config_t;

/* One batch size: its request, encoded once, and envd's reply to it. */
typedef struct bench_req {
    uint32_t n;
    uint64_t *sessions; /* (n) borrowed from the session list */
    uint8_t *actions;   /* (n) */
    wire_buf_t req;
    uint8_t *reply;     /* (reply_len) */
    size_t reply_len;
} bench_req_t;

/* The bare baseline: a forked process, so that envd and echo alike sit in
 * another process than the client (a context switch between processes costs
 * more than one between threads). Its ROUTER answers a request of a known
 * length with the captured reply for it and echoes anything else. */
typedef struct echo {
    pid_t pid;
    int to_child, from_child; /* pipes: the reply table in, the endpoints out */
    char tcp[256], ipc[256];
} echo_t;

typedef struct target {
    const char *name; /* "envd" or "echo" */
    void *sock;       /* DEALER */
    pid_t pid;        /* the server process, for its CPU time */
} target_t;

/* What one throughput run measured. */
typedef struct rate_run {
    double rate;     /* replies/s */
    uint64_t msgs;   /* replies in the measured part */
    long cpu_ticks;  /* the server's CPU time over the measured part */
} rate_run_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------------- echo */

static volatile sig_atomic_t echo_stopping;

static void echo_on_term(int sig) { echo_stopping = 1; }

static int read_all(int fd, void *buf, size_t len)
{
    for (size_t got = 0; got < len;) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    for (size_t put = 0; put < len;) {
        ssize_t w = write(fd, (const char *)buf + put, len - put);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        put += (size_t)w;
    }
    return 0;
}

/* The child: reads NSIZES (request length, reply) pairs, binds, reports its
 * endpoints, then answers until SIGTERM. It creates its ZeroMQ context
 * after the fork, and the parent creates its own only after forking. */
static int echo_child(int in, int out, const char *dir)
{
    size_t req_len[NSIZES], rep_len[NSIZES];
    uint8_t *rep[NSIZES];
    for (int i = 0; i < NSIZES; i++) {
        if (read_all(in, &req_len[i], sizeof req_len[i]) < 0 ||
            read_all(in, &rep_len[i], sizeof rep_len[i]) < 0 || !(rep[i] = malloc(rep_len[i])) ||
            read_all(in, rep[i], rep_len[i]) < 0)
            return 1;
    }
    /* ZeroMQ's threads inherit a mask that blocks SIGTERM, so the signal
     * lands on this thread; the receive timeout bounds how long a signal
     * that arrives between the flag check and the receive goes unseen. */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    void *zctx = zmq_ctx_new();
    void *sock = zmq_socket(zctx, ZMQ_ROUTER);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int linger = 0, timeout = 100;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    char ipc[300], eps[512];
    snprintf(ipc, sizeof ipc, "ipc://%s/echo.ipc", dir);
    /* ZMQ_LAST_ENDPOINT names only the latest bind: read it after each. */
    size_t len1 = 256, len2 = 256;
    char tcp_ep[256] = "", ipc_ep[256] = "";
    if (zmq_bind(sock, "tcp://127.0.0.1:*") < 0 ||
        zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, tcp_ep, &len1) < 0 || zmq_bind(sock, ipc) < 0 ||
        zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, ipc_ep, &len2) < 0)
        return 1;
    snprintf(eps, sizeof eps, "%s\n%s\n", tcp_ep, ipc_ep);
    if (write_all(out, eps, strlen(eps)) < 0)
        return 1;
    close(out);

    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    while (!echo_stopping) {
        if (zmq_msg_recv(&id, sock, 0) < 0)
            continue; /* EAGAIN (timeout) or EINTR (SIGTERM) */
        if (!zmq_msg_more(&id) || zmq_msg_recv(&body, sock, 0) < 0)
            continue;
        /* Identity, then the captured reply for this request size sent
         * zero-copy (as envd sends its replies), or the request itself. */
        zmq_msg_t reply;
        zmq_msg_init(&reply);
        size_t len = zmq_msg_size(&body);
        for (int i = 0; i < NSIZES; i++)
            if (req_len[i] == len) {
                zmq_msg_close(&reply);
                zmq_msg_init_data(&reply, rep[i], rep_len[i], NULL, NULL);
                break;
            }
        if (zmq_msg_size(&reply) == 0)
            zmq_msg_move(&reply, &body);
        zmq_msg_send(&id, sock, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        if (zmq_msg_send(&reply, sock, ZMQ_DONTWAIT) < 0)
            zmq_msg_close(&reply);
    }
    zmq_msg_close(&id);
    zmq_msg_close(&body);
    zmq_close(sock);
    zmq_ctx_term(zctx);
    return 0;
}

/* Forks the echo child; it waits for echo_load(). */
static int echo_fork(echo_t *x, const char *dir, errbuf_t *e)
{
    memset(x, 0, sizeof *x);
    int in[2], out[2];
    if (pipe(in) < 0 || pipe(out) < 0)
        return err_set(e, ERR_IO, "pipe: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return err_set(e, ERR_IO, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = echo_on_term; /* no SA_RESTART: a blocked receive returns */
        sigaction(SIGTERM, &sa, NULL);
        if (getppid() != parent)
            _exit(1);
        close(in[1]);
        close(out[0]);
        _exit(echo_child(in[0], out[1], dir));
    }
    close(in[0]);
    close(out[1]);
    x->pid = pid;
    x->to_child = in[1];
    x->from_child = out[0];
    return 0;
}

/* Hands the child its reply table and reads back the endpoints it bound. */
static int echo_load(echo_t *x, const bench_req_t *reqs, errbuf_t *e)
{
    for (int i = 0; i < NSIZES; i++) {
        if (write_all(x->to_child, &reqs[i].req.len, sizeof(size_t)) < 0 ||
            write_all(x->to_child, &reqs[i].reply_len, sizeof(size_t)) < 0 ||
            write_all(x->to_child, reqs[i].reply, reqs[i].reply_len) < 0)
            return err_set(e, ERR_IO, "echo child gone before it got its replies");
    }
    char buf[600];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t r = read(x->from_child, buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    if (sscanf(buf, "%255s %255s", x->tcp, x->ipc) != 2)
        return err_set(e, ERR_IO, "echo child did not report its endpoints");
    return 0;
}

static void echo_stop(echo_t *x)
{
    if (x->pid > 0) {
        kill(x->pid, SIGTERM);
        int waited = 0;
        while (waitpid(x->pid, NULL, WNOHANG) == 0) {
            if (waited++ == 400) { /* 2 s */
                kill(x->pid, SIGKILL);
                waitpid(x->pid, NULL, 0);
                break;
            }
            usleep(5000);
        }
        x->pid = 0;
    }
    if (x->to_child > 0)
        close(x->to_child);
    if (x->from_child > 0)
        close(x->from_child);
    x->to_child = x->from_child = 0;
}

/* ----------------------------------------------------------------- client */

static void *dealer_open(void *zctx, const char *endpoint, errbuf_t *e)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    if (!s) {
        err_set(e, ERR_IO, "dealer: %s", zmq_strerror(errno));
        return NULL;
    }
    int linger = 0, timeout = RECV_TIMEOUT_MS;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_connect(s, endpoint) < 0) {
        err_set(e, ERR_IO, "connect %s: %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static int send_req(void *sock, const bench_req_t *r, errbuf_t *e)
{
    /* Zero-copy: the encoded request outlives every message that points
     * at it (no free function), so the client copies nothing. */
    zmq_msg_t m;
    zmq_msg_init_data(&m, r->req.data, r->req.len, NULL, NULL);
    if (zmq_msg_send(&m, sock, 0) < 0) {
        zmq_msg_close(&m);
        return err_set(e, ERR_IO, "send: %s", zmq_strerror(errno));
    }
    return 0;
}

/* Describes a reply that is not the expected one, decoding it for the message. */
static int bad_reply(const void *data, size_t len, const bench_req_t *r, errbuf_t *e)
{
    arena_t *a = NULL;
    arena_new(64 * 1024, &a, NULL);
    wire_reply_t rep;
    errbuf_t de;
    if (a && wire_decode_reply(a, data, len, &rep, &de) == 0 && rep.code != ERR_OK)
        err_set(e, ERR_INTERNAL, "N=%u: error reply %s: %s", r->n, err_name(rep.code),
                rep.message);
    else
        err_set(e, ERR_INTERNAL, "N=%u: unexpected reply of %zu bytes (%zu expected)", r->n, len,
                r->reply_len);
    arena_destroy(&a);
    return ERR_INTERNAL;
}

/* Receives one reply into m and checks it is the expected OK reply. */
static int recv_reply(void *sock, zmq_msg_t *m, const bench_req_t *r, errbuf_t *e)
{
    if (zmq_msg_recv(m, sock, 0) < 0)
        return err_set(e, errno == EAGAIN ? ERR_TIMEOUT : ERR_IO, "N=%u: receive: %s", r->n,
                       errno == EAGAIN ? "no reply within 5 s" : zmq_strerror(errno));
    size_t len = zmq_msg_size(m);
    size_t k = len < CHECK_BYTES ? len : CHECK_BYTES;
    if (len != r->reply_len || memcmp(zmq_msg_data(m), r->reply, k) != 0)
        return bad_reply(zmq_msg_data(m), len, r, e);
    return 0;
}

/* Keeps `depth` requests in flight for warmup + seconds; *rate is replies/s
 * over the measured part. */
static int run_rate(const target_t *tg, const bench_req_t *r, const bench_config_t *cfg,
                    rate_run_t *out, errbuf_t *e)
{
    void *sock = tg->sock;
    long ticks0 = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc = 0, inflight = 0;
    for (; inflight < cfg->depth && rc == 0; inflight++)
        rc = send_req(sock, r, e);
    double t0 = now_s(), start = t0 + cfg->warmup, end = start + cfg->seconds;
    double t_first = 0, t_last = 0;
    uint64_t counted = 0;
    bool counting = false;
    while (rc == 0 && inflight > 0) {
        if ((rc = recv_reply(sock, &m, r, e)) < 0)
            break;
        inflight--;
        double t = now_s();
        if (counting) {
            counted++;
            t_last = t;
        } else if (t >= start) {
            counting = true;
            t_first = t_last = t;
            ticks0 = envproc_cpu_ticks(tg->pid);
        }
        if (t < end) {
            rc = send_req(sock, r, e);
            inflight++;
        }
    }
    zmq_msg_close(&m);
    out->cpu_ticks = envproc_cpu_ticks(tg->pid) - ticks0;
    out->msgs = counted;
    out->rate = t_last > t_first ? (double)counted / (t_last - t_first) : 0.0;
    return rc;
}

/* count lock-step round trips; samples receives each in microseconds. */
static int run_latency(void *sock, const bench_req_t *r, int count, double *samples, errbuf_t *e)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        double t = now_s();
        if ((rc = send_req(sock, r, e)) == 0 && (rc = recv_reply(sock, &m, r, e)) == 0)
            samples[i] = (now_s() - t) * 1e6;
    }
    zmq_msg_close(&m);
    return rc;
}

/* ------------------------------------------------------------------ setup */

/* Makes NSESSIONS CartPole-v1 sessions and seeds their first reset. */
static int make_sessions(client_t *c, uint64_t *ids, errbuf_t *e)
{
    wire_request_t req;
    wire_reply_t rep;
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_MAKE;
    req.make.env_id = "CartPole-v1";
    req.make.count = NSESSIONS;
    int rc = client_call(c, &req, &rep, e);
    if (rc < 0)
        return rc;
    if (rep.make.n != NSESSIONS)
        return err_set(e, ERR_INTERNAL, "make returned %zu sessions", rep.make.n);
    memcpy(ids, rep.make.sessions, NSESSIONS * sizeof *ids);

    static uint64_t seeds[NSESSIONS];
    for (size_t i = 0; i < NSESSIONS; i++)
        seeds[i] = i;
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_RESET_BATCH;
    req.reset_batch.sessions = ids;
    req.reset_batch.n = NSESSIONS;
    req.reset_batch.seeds = seeds;
    req.reset_batch.nseeds = NSESSIONS;
    return client_call(c, &req, &rep, e);
}

/* Encodes the step_batch request for r->n sessions and captures envd's reply. */
static int prepare(void *sock, bench_req_t *r, errbuf_t *e)
{
    wire_request_t req;
    memset(&req, 0, sizeof req);
    req.major = WIRE_MAJOR;
    req.minor = WIRE_MINOR;
    req.id = 1000 + r->n;
    req.op = WIRE_OP_STEP_BATCH;
    req.step_batch.sessions = r->sessions;
    req.step_batch.n = r->n;
    req.step_batch.autoreset = WIRE_AUTORESET_NEXT_STEP;
    req.step_batch.actions.dtype = WIRE_DTYPE_UINT8;
    req.step_batch.actions.ndim = 1;
    req.step_batch.actions.shape[0] = r->n;
    req.step_batch.actions.data = r->actions;
    req.step_batch.actions.len = r->n;
    if (wire_encode_request(&req, &r->req) < 0)
        return err_set(e, ERR_NOMEM, "encoding the N=%u request", r->n);

    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc = send_req(sock, r, e);
    if (rc == 0 && zmq_msg_recv(&m, sock, 0) < 0)
        rc = err_set(e, ERR_TIMEOUT, "N=%u: no reply to the first request", r->n);
    if (rc == 0) {
        arena_t *a = NULL;
        arena_new(64 * 1024, &a, NULL);
        wire_reply_t rep;
        rc = a ? wire_decode_reply(a, zmq_msg_data(&m), zmq_msg_size(&m), &rep, e) : ERR_NOMEM;
        if (rc == 0 && rep.code != ERR_OK)
            rc = err_set(e, rep.code, "N=%u: %s", r->n, rep.message);
        else if (rc == 0 && (rep.op != WIRE_OP_STEP_BATCH || rep.step_batch.n != r->n))
            rc = err_set(e, ERR_INTERNAL, "N=%u: reply is not a step_batch of N rows", r->n);
        arena_destroy(&a);
    }
    if (rc == 0) {
        r->reply_len = zmq_msg_size(&m);
        r->reply = malloc(r->reply_len);
        if (!r->reply)
            rc = err_set(e, ERR_NOMEM, "out of memory");
        else
            memcpy(r->reply, zmq_msg_data(&m), r->reply_len);
    }
    zmq_msg_close(&m);
    return rc;
}

static int envd_env_steps(client_t *c, uint64_t *steps, errbuf_t *e)
{
    wire_request_t req;
    wire_reply_t rep;
    memset(&req, 0, sizeof req);
    req.op = WIRE_OP_STATS;
    int rc = client_call(c, &req, &rep, e);
    if (rc == 0)
        *steps = rep.stats.env_steps;
    return rc;
}

/* ------------------------------------------------------------------- main */

typedef struct results {
    double lat[2][2][2];       /* [transport][envd, echo][p50, p99] in us */
    double rate[2][2][NSIZES]; /* [transport][envd, echo][size] replies/s, median */
    double cpu[2][2][NSIZES];  /* server CPU us per reply, over all runs */
    double ratio[2][NSIZES];   /* [transport][size] median over pairs of envd / echo */
} results_t;

static int measure(const bench_config_t *cfg, target_t t[2][2], const bench_req_t *reqs,
                   results_t *res, errbuf_t *e)
{
    static const char *tnames[2] = {"tcp", "ipc"};
    int total = cfg->lat_steps, block = 2000;
    double *samples[2];
    samples[0] = malloc((size_t)(total + 1) * sizeof(double));
    samples[1] = malloc((size_t)(total + 1) * sizeof(double));
    double *reps = malloc((size_t)cfg->reps * 3 * sizeof(double)), *ratios = reps + 2 * cfg->reps;
    long clk = sysconf(_SC_CLK_TCK);
    int rc = samples[0] && samples[1] && reps ? 0 : err_set(e, ERR_NOMEM, "out of memory");

    for (int tr = 0; tr < 2 && rc == 0; tr++) {
        if (!(cfg->tr_mask & (1u << tr)))
            continue;
        /* Latency: interleaved blocks, after an unrecorded warm-up block. */
        for (int k = 0; k < 2 && rc == 0 && total > 0; k++)
            rc = run_latency(t[tr][k].sock, &reqs[0], block < total ? block : total, samples[k], e);
        for (int done = 0; done < total && rc == 0; done += block) {
            int cnt = total - done < block ? total - done : block;
            for (int k = 0; k < 2 && rc == 0; k++)
                rc = run_latency(t[tr][k].sock, &reqs[0], cnt, samples[k] + done, e);
        }
        for (int k = 0; k < 2 && rc == 0 && total > 0; k++) {
            qsort(samples[k], (size_t)total, sizeof(double), cmp_double);
            res->lat[tr][k][0] = samples[k][total / 2];
            res->lat[tr][k][1] = samples[k][(size_t)((double)total * 0.99)];
        }
        /* Throughput: for each N, envd and echo runs alternate. */
        for (int s = 0; s < NSIZES && rc == 0; s++) {
            if (!(cfg->n_mask & (1u << s)))
                continue;
            long ticks[2] = {0, 0};
            uint64_t msgs[2] = {0, 0};
            /* Rep i is a pair of adjacent runs, envd first in even pairs
             * and echo first in odd ones, so that a drift in the machine's
             * load favours neither side. */
            for (int i = 0; i < cfg->reps && rc == 0; i++)
                for (int j = 0; j < 2 && rc == 0; j++) {
                    int k = j ^ (i & 1);
                    rate_run_t run;
                    rc = run_rate(&t[tr][k], &reqs[s], cfg, &run, e);
                    reps[k * cfg->reps + i] = run.rate;
                    ticks[k] += run.cpu_ticks;
                    msgs[k] += run.msgs;
                }
            if (rc == 0) {
                for (int i = 0; i < cfg->reps; i++)
                    ratios[i] = reps[cfg->reps + i] > 0 ? reps[i] / reps[cfg->reps + i] : 0;
                res->ratio[tr][s] = median(ratios, cfg->reps);
            }
            for (int k = 0; k < 2 && rc == 0; k++) {
                res->rate[tr][k][s] = median(&reps[k * cfg->reps], cfg->reps);
                res->cpu[tr][k][s] = msgs[k] ? (double)ticks[k] * 1e6 / (double)clk / (double)msgs[k] : 0;
            }
            if (rc == 0)
                fprintf(stderr, "  %s N=%-4u done\n", tnames[tr], sizes[s]);
        }
    }
    free(samples[0]);
    free(samples[1]);
    free(reps);
    return rc;
}

static void report(const bench_config_t *cfg, const bench_req_t *reqs, const results_t *res)
{
    static const char *tnames[2] = {"tcp", "ipc"};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("\nenvd bench: %ld cpus; CartPole-v1 step_batch, NEXT_STEP autoreset; "
           "echo = bare ZeroMQ ROUTER replying envd's captured bytes\n",
           ncpu);
    printf("\nlock-step round trip, 1 session (step_batch N=1), %d round trips each, us\n",
           cfg->lat_steps);
    printf("%-9s %9s %9s %9s %9s %9s %9s\n", "transport", "envd p50", "echo p50", "ratio",
           "envd p99", "echo p99", "ratio");
    for (int tr = 0; tr < 2 && cfg->lat_steps > 0; tr++)
        if (cfg->tr_mask & (1u << tr))
            printf("%-9s %9.1f %9.1f %8.2fx %9.1f %9.1f %8.2fx\n", tnames[tr], res->lat[tr][0][0],
               res->lat[tr][1][0], res->lat[tr][0][0] / res->lat[tr][1][0], res->lat[tr][0][1],
               res->lat[tr][1][1], res->lat[tr][0][1] / res->lat[tr][1][1]);

    printf("\nbatched throughput, %d requests in flight, %d pairs of adjacent %.2f s runs; "
           "steps/s = replies/s x N (autoreset rows included), median over the runs;\n"
           "ratio = median over the pairs of envd / echo\n",
           cfg->depth, cfg->reps, cfg->seconds);
    printf("%-9s %5s %8s %8s %14s %14s %7s  %s\n", "transport", "N", "req B", "reply B",
           "envd steps/s", "echo msgs/s*N", "ratio", "server CPU us/msg: envd echo");
    for (int tr = 0; tr < 2; tr++)
        for (int s = 0; s < NSIZES; s++) {
            if (!(cfg->tr_mask & (1u << tr)) || !(cfg->n_mask & (1u << s)))
                continue;
            double envd = res->rate[tr][0][s] * sizes[s], echo = res->rate[tr][1][s] * sizes[s];
            printf("%-9s %5u %8zu %8zu %14.0f %14.0f %6.2fx  %17.1f %5.1f\n", tnames[tr],
                   sizes[s], reqs[s].req.len, reqs[s].reply_len, envd, echo, res->ratio[tr][s],
                   res->cpu[tr][0][s], res->cpu[tr][1][s]);
        }

    int i1024 = 3;
    if (!(cfg->tr_mask & 1) || !(cfg->n_mask & (1u << i1024)) || cfg->lat_steps == 0)
        return;
    double envd = res->rate[0][0][i1024] * 1024, ratio = res->ratio[0][i1024];
    double p50 = res->lat[0][0][0] / res->lat[0][1][0];
    printf("\ngoals (tcp): N=1024 >= 4M steps/s: %.2fM %s; >= 0.8x echo: %.2fx %s; "
           "p50 <= 1.2x echo: %.2fx %s\n",
           envd / 1e6, envd >= 4e6 ? "met" : "NOT met", ratio, ratio >= 0.8 ? "met" : "NOT met",
           p50, p50 <= 1.2 ? "met" : "NOT met");
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_envd [--seconds S] [--reps N] [--depth N] [--lat-steps N (0: none)]\n"
               "                  [--transport tcp|ipc] [--n 1|64|256|1024|4096] [--envd PATH]\n"
               "Starts envd and a bare echo on loopback, prints latency and throughput figures.\n");
}

int main(int argc, char **argv)
{
    bench_config_t cfg = {.seconds = 0.2, .warmup = 0.05, .reps = 5, .depth = 4,
                          .lat_steps = 20000, .tr_mask = 3, .n_mask = (1u << NSIZES) - 1};
    envproc_default_path(cfg.envd, sizeof cfg.envd);
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'}, {"reps", required_argument, NULL, 'r'},
        {"depth", required_argument, NULL, 'd'},   {"lat-steps", required_argument, NULL, 'l'},
        {"envd", required_argument, NULL, 'e'},    {"transport", required_argument, NULL, 't'},
        {"n", required_argument, NULL, 'n'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': cfg.seconds = atof(optarg); break;
        case 'r': cfg.reps = atoi(optarg); break;
        case 'd': cfg.depth = atoi(optarg); break;
        case 'l': cfg.lat_steps = atoi(optarg); break;
        case 'e': snprintf(cfg.envd, sizeof cfg.envd, "%s", optarg); break;
        case 't': cfg.tr_mask = strcmp(optarg, "tcp") == 0 ? 1 : strcmp(optarg, "ipc") == 0 ? 2 : 0; break;
        case 'n':
            cfg.n_mask = 0;
            for (int s = 0; s < NSIZES; s++)
                if (sizes[s] == (uint32_t)atoi(optarg))
                    cfg.n_mask = 1u << s;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (cfg.seconds <= 0 || cfg.seconds > 10 || cfg.reps < 1 || cfg.reps > 15 || cfg.depth < 1 ||
        cfg.depth > 64 || (cfg.lat_steps != 0 && cfg.lat_steps < 100) ||
        cfg.lat_steps > 1000000 || !cfg.tr_mask || !cfg.n_mask) {
        usage(stderr);
        return 2;
    }
    /* The bench bounds itself: SIGALRM's default action ends it, and envd
     * follows through PR_SET_PDEATHSIG. */
    alarm(HARD_LIMIT_S);

    char dir[] = "/tmp/bench_envd.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char ipc_bind[300];
    snprintf(ipc_bind, sizeof ipc_bind, "ipc://%s/envd.ipc", dir);
    const char *args[] = {"--bind", "tcp://127.0.0.1:*", "--bind", ipc_bind,
                          "--max-sessions", "16384", "--max-batch", "8192",
                          "--session-ttl", "3600", "--log-level", "info", NULL};
    errbuf_t e;
    err_clear(&e);
    envproc_t envd;
    memset(&envd, 0, sizeof envd);
    echo_t echo;
    memset(&echo, 0, sizeof echo);
    bench_req_t reqs[NSIZES];
    memset(reqs, 0, sizeof reqs);
    static uint64_t ids[NSESSIONS];
    static uint8_t actions[NSESSIONS];
    void *zctx = NULL;
    client_t *cl = NULL;
    target_t t[2][2];
    memset(t, 0, sizeof t);
    results_t res;
    uint64_t steps0 = 0, steps1 = 0;

    /* The echo child forks before this process has a ZeroMQ context. */
    int rc = echo_fork(&echo, dir, &e);
    if (rc < 0)
        goto out;
    rc = envproc_start(&envd, cfg.envd, dir, args, 10000, &e);
    if (rc < 0)
        goto out;
    if (envd.nendpoints != 2) {
        rc = err_set(&e, ERR_INTERNAL, "envd reported %zu endpoints, 2 expected", envd.nendpoints);
        goto out;
    }
    fprintf(stderr, "envd pid %d on %s and %s\n", (int)envd.pid, envd.endpoints[0],
            envd.endpoints[1]);
    zctx = zmq_ctx_new();
    if ((rc = client_new(zctx, envd.endpoints[0], RECV_TIMEOUT_MS, &cl, &e)) < 0 ||
        (rc = make_sessions(cl, ids, &e)) < 0)
        goto out;
    /* Random actions, fixed for the run: episodes last ~20 steps, so about
     * one row in twenty is an autoreset. */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < NSESSIONS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        actions[i] = (uint8_t)(x >> 63);
    }
    for (int tr = 0; tr < 2; tr++)
        if (!(t[tr][0].sock = dealer_open(zctx, envd.endpoints[tr], &e))) {
            rc = ERR_IO;
            goto out;
        }
    for (int s = 0; s < NSIZES; s++) {
        reqs[s].n = sizes[s];
        reqs[s].sessions = ids;
        reqs[s].actions = actions;
        if ((rc = prepare(t[0][0].sock, &reqs[s], &e)) < 0)
            goto out;
    }
    if ((rc = echo_load(&echo, reqs, &e)) < 0)
        goto out;
    fprintf(stderr, "echo on %s and %s\n", echo.tcp, echo.ipc);
    t[0][1].sock = dealer_open(zctx, echo.tcp, &e);
    t[1][1].sock = dealer_open(zctx, echo.ipc, &e);
    if (!t[0][1].sock || !t[1][1].sock) {
        rc = ERR_IO;
        goto out;
    }
    for (int tr = 0; tr < 2; tr++) {
        t[tr][0].name = "envd";
        t[tr][0].pid = envd.pid;
        t[tr][1].name = "echo";
        t[tr][1].pid = echo.pid;
    }
    if ((rc = envd_env_steps(cl, &steps0, &e)) < 0)
        goto out;
    double t0 = now_s();
    if ((rc = measure(&cfg, t, reqs, &res, &e)) < 0)
        goto out;
    if ((rc = envd_env_steps(cl, &steps1, &e)) < 0)
        goto out;
    report(&cfg, reqs, &res);
    printf("envd stepped %" PRIu64 " sessions during the run (%.1f s; rows reset by autoreset "
           "are not counted there)\n",
           steps1 - steps0, now_s() - t0);
out:
    if (rc < 0)
        fprintf(stderr, "bench_envd: %s\n", e.msg);
    for (int tr = 0; tr < 2; tr++)
        for (int k = 0; k < 2; k++)
            if (t[tr][k].sock)
                zmq_close(t[tr][k].sock);
    client_destroy(&cl);
    if (zctx)
        zmq_ctx_term(zctx);
    echo_stop(&echo);
    int status = envd.pid > 0 ? envproc_stop(&envd, 3000) : 0;
    if (status != 0)
        fprintf(stderr, "bench_envd: envd exit status %d; its log: %s\n", status, envd.log_path);
    for (int s = 0; s < NSIZES; s++) {
        wire_buf_deinit(&reqs[s].req);
        free(reqs[s].reply);
    }
    /* ZeroMQ leaves the ipc socket files behind. */
    char path[400];
    snprintf(path, sizeof path, "%s/envd.ipc", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/echo.ipc", dir);
    unlink(path);
    if (rc == 0 && status == 0) {
        unlink(envd.log_path);
        rmdir(dir);
    }
    return rc < 0 || status != 0 ? 1 : 0;
}
