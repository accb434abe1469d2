/*
 * bench_qnet.c — prints how fast the Q-network's plain C kernels are, next
 * to the same matmuls done by OpenBLAS's cblas_sgemm.
 *
 * Cases are the DQN learner's: a forward-only pass over 1024 rows (acting
 * on 1024 sessions at once) and one train step, forward + backward + Adam,
 * at batch 64, 128 and 256, for a 4-64-64-2 and a 4-256-256-2 net. The BLAS
 * variant below works on the same qnet_t parameter and gradient blocks with
 * its own activations and the same Adam (qnet_adam_step), so the only
 * difference timed is the matmuls. The plain kernels are timed in each
 * instruction-set variant the CPU has (qnet_set_isa), BLAS on one thread
 * (the plain kernels use one) and on OpenBLAS's default thread count.
 *
 * It prints figures; it is never a timed test. Run it with `make bench-qnet`.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qnet.h"
#include "rng.h"

#define MAXL (QNET_MAX_HIDDEN + 1)

/* --------------------------------------------------- the BLAS variant */

typedef struct blasnet {
    qnet_t *q;              /* parameters, gradients and Adam live here */
    int L;
    int dims[MAXL + 1];
    const float *x;         /* (B, in) the input of the last forward */
    float *acts[MAXL];      /* (maxB, dims[l+1]) */
    float *dacts[MAXL];     /* (maxB, dims[l+1]) */
} blasnet_t;

static void blasnet_init(blasnet_t *n, qnet_t *q, int maxB)
{
    n->q = q;
    n->L = qnet_nlayers(q);
    for (int l = 0; l < n->L; l++) {
        qnet_layer_dims(q, l, &n->dims[l], &n->dims[l + 1]);
        n->acts[l] = malloc(sizeof(float) * maxB * n->dims[l + 1]);
        n->dacts[l] = malloc(sizeof(float) * maxB * n->dims[l + 1]);
    }
}

static void blasnet_deinit(blasnet_t *n)
{
    for (int l = 0; l < n->L; l++) {
        free(n->acts[l]);
        free(n->dacts[l]);
    }
}

static const float *blasnet_forward(blasnet_t *n, const float *x, int B)
{
    n->x = x;
    const float *inp = x;
    for (int l = 0; l < n->L; l++) {
        int nin = n->dims[l], nout = n->dims[l + 1];
        float *out = n->acts[l];
        const float *bias = qnet_bias(n->q, l);
        for (int b = 0; b < B; b++)
            memcpy(out + (size_t)b * nout, bias, sizeof(float) * nout);
        /* out (B, nout) += inp (B, nin) . W (nin, nout) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, nout, nin, 1.0f, inp, nin,
                    qnet_weight(n->q, l), nout, 1.0f, out, nout);
        if (l < n->L - 1)
            for (size_t i = 0; i < (size_t)B * nout; i++)
                out[i] = out[i] > 0.0f ? out[i] : 0.0f;
        inp = out;
    }
    return n->acts[n->L - 1];
}

static void blasnet_backward(blasnet_t *n, const float *dout, int B)
{
    float *g = qnet_grads(n->q);
    const float *d = dout;
    for (int l = n->L - 1; l >= 0; l--) {
        int nin = n->dims[l], nout = n->dims[l + 1];
        const float *inp = l > 0 ? n->acts[l - 1] : n->x;
        float *dw = g + qnet_weight_offset(n->q, l), *db = g + qnet_bias_offset(n->q, l);
        for (int b = 0; b < B; b++)
            for (int o = 0; o < nout; o++)
                db[o] += d[(size_t)b * nout + o];
        /* dW (nin, nout) += inp^T (nin, B) . d (B, nout) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nin, nout, B, 1.0f, inp, nin, d,
                    nout, 1.0f, dw, nout);
        if (l > 0) {
            float *dinp = n->dacts[l - 1];
            /* dinp (B, nin) = d (B, nout) . W^T (nout, nin) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, nin, nout, 1.0f, d, nout,
                        qnet_weight(n->q, l), nout, 0.0f, dinp, nin);
            const float *a = n->acts[l - 1];
            for (size_t i = 0; i < (size_t)B * nin; i++)
                dinp[i] = a[i] > 0.0f ? dinp[i] : 0.0f;
            d = dinp;
        }
    }
}

/* ------------------------------------------------------------ timing */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

typedef struct ctx {
    qnet_t *q;
    blasnet_t *bn;
    const float *x;
    const float *dout;
    float *out;
    int B;
} ctx_t;

typedef void (*op_fn)(ctx_t *c);

/* The best of 9 runs of the mean ns per op over ~20 ms each: the minimum
 * filters out other processes sharing the cores. */
static double time_op(op_fn fn, ctx_t *c)
{
    for (int i = 0; i < 3; i++)
        fn(c);
    double t0 = now_ns();
    long iters = 0;
    while (now_ns() - t0 < 10e6) {
        fn(c);
        iters++;
    }
    long reps = (long)(iters * 2) + 1;
    double best = INFINITY;
    for (int r = 0; r < 9; r++) {
        double s = now_ns();
        for (long i = 0; i < reps; i++)
            fn(c);
        double ns = (now_ns() - s) / reps;
        if (ns < best)
            best = ns;
    }
    return best;
}

static void op_plain_predict(ctx_t *c)
{
    qnet_predict(c->q, c->x, c->B, c->out);
}

static void op_blas_predict(ctx_t *c)
{
    const float *y = blasnet_forward(c->bn, c->x, c->B);
    c->out[0] = y[0];
}

static void op_plain_train(ctx_t *c)
{
    qnet_forward(c->q, c->x, c->B);
    qnet_zero_grad(c->q);
    qnet_backward(c->q, c->dout, c->B);
    qnet_adam_step(c->q, 1e-7, 0.9, 0.999, 1e-8);
}

static void op_blas_train(ctx_t *c)
{
    blasnet_forward(c->bn, c->x, c->B);
    qnet_zero_grad(c->q);
    blasnet_backward(c->bn, c->dout, c->B);
    qnet_adam_step(c->q, 1e-7, 0.9, 0.999, 1e-8);
}

/* ------------------------------------------------------------- cases */

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static void bench_net(int width, int threads_default)
{
    enum { IN = 4, OUT = 2, ACT_B = 1024 };
    int h[2] = {width, width};
    qnet_t *q = NULL;
    errbuf_t e;
    if (qnet_new(IN, h, 2, OUT, ACT_B, &q, &e) < 0) {
        fprintf(stderr, "bench_qnet: %s\n", e.msg);
        exit(1);
    }
    rng_t r;
    rng_seed(&r, 1);
    qnet_init(q, &r);
    blasnet_t bn;
    blasnet_init(&bn, q, ACT_B);

    float *x = malloc(sizeof(float) * ACT_B * IN), *dout = malloc(sizeof(float) * ACT_B * OUT);
    float *out = malloc(sizeof(float) * ACT_B * OUT);
    for (int i = 0; i < ACT_B * IN; i++)
        x[i] = (float)(2.0 * rng_next_double(&r) - 1.0);
    for (int i = 0; i < ACT_B * OUT; i++)
        dout[i] = (float)(rng_next_double(&r) - 0.5) / 64.0f;

    /* Sanity: both variants compute the same thing. */
    qnet_predict(q, x, ACT_B, out);
    float dq = max_abs_diff(out, blasnet_forward(&bn, x, ACT_B), (size_t)ACT_B * OUT);
    size_t np = qnet_nparams(q);
    float *g = malloc(sizeof(float) * np);
    qnet_forward(q, x, 256);
    qnet_zero_grad(q);
    qnet_backward(q, dout, 256);
    memcpy(g, qnet_grads(q), sizeof(float) * np);
    blasnet_forward(&bn, x, 256);
    qnet_zero_grad(q);
    blasnet_backward(&bn, dout, 256);
    float dg = max_abs_diff(g, qnet_grads(q), np);
    free(g);

    printf("\nnet 4-%d-%d-2 (%zu params)   max |plain - blas|: Q %.2g, grad %.2g\n", width, width,
           np, (double)dq, (double)dg);
    /* The plain kernels in every variant this CPU has; the default first. */
    const char *isa_default = qnet_isa(q);
    const char *isas[4] = {isa_default};
    int nisa = 1;
    const char *all[] = {"avx512", "avx2", "base"};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i], isa_default) && qnet_set_isa(q, all[i]) == 0)
            isas[nisa++] = all[i];
    qnet_set_isa(q, isa_default);

    printf("  %-26s", "ns/op");
    for (int i = 0; i < nisa; i++)
        printf(" %9s%-3s", "plain-", isas[i]);
    printf(" %12s %12s %11s\n", "blas-1thr", "blas-Nthr", "plain/blas1");
    struct {
        const char *name;
        op_fn plain, blas;
        int B;
    } cases[] = {
        {"predict B=1 (one session)", op_plain_predict, op_blas_predict, 1},
        {"predict B=1024 (acting)", op_plain_predict, op_blas_predict, 1024},
        {"train B=64 (fwd+bwd+adam)", op_plain_train, op_blas_train, 64},
        {"train B=128", op_plain_train, op_blas_train, 128},
        {"train B=256", op_plain_train, op_blas_train, 256},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        ctx_t c = {.q = q, .bn = &bn, .x = x, .dout = dout, .out = out, .B = cases[k].B};
        printf("  %-26s", cases[k].name);
        double tp = 0.0;
        for (int i = 0; i < nisa; i++) {
            qnet_set_isa(q, isas[i]);
            double t = time_op(cases[k].plain, &c);
            if (i == 0)
                tp = t;
            printf(" %12.0f", t);
        }
        qnet_set_isa(q, isa_default);
        openblas_set_num_threads(1);
        double tb1 = time_op(cases[k].blas, &c);
        openblas_set_num_threads(threads_default);
        double tbn = time_op(cases[k].blas, &c);
        printf(" %12.0f %12.0f %11.2f\n", tb1, tbn, tp / tb1);
        fflush(stdout);
    }
    blasnet_deinit(&bn);
    free(x), free(dout), free(out);
    qnet_destroy(&q);
}

int main(void)
{
    int threads = openblas_get_num_threads();
    printf("bench_qnet: plain C kernels (agent/qnet.c) vs OpenBLAS cblas_sgemm, best of 9\n");
    printf("plain-<isa>: qnet's kernel variants, the first is the one qnet_new() picks;\n"
           "blas-1thr / blas-Nthr: OpenBLAS on 1 / %d threads; plain/blas1 > 1 means BLAS is "
           "faster\n",
           threads);
    bench_net(64, threads);
    bench_net(256, threads);
    return 0;
}
