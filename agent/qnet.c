/*
 * qnet.c — the Q-network's forward, backward and Adam in plain C.
 *
 * Written after llm.c's train_gpt2.c: each layer is a pair of functions
 * linear_forward()/linear_backward() with outputs first, inputs next, sizes
 * last; backward adds into its gradient buffers. The net object only owns
 * memory and strings layers together.
 *
 * All the arithmetic goes through one kernel, matmul_acc (qnet_kernel.inc,
 * built per instruction set), which adds
 * A (M, K) . W (K, N) into C (M, N). It keeps a tile of C in registers and
 * streams rows of W, so the innermost operations run across N: independent
 * output elements, vectorized without reassociating any sum. Every output
 * element is therefore summed in the plain order k = 0, 1, ..., K-1 whatever
 * the tile, the batch size, the vector width or the kernel variant, which
 * makes results deterministic and identical between qnet_forward(),
 * qnet_predict(), any B and any variant. That is also why weights are stored
 * (in, out): the forward pass, the hot one, reads W's rows as they lie in
 * memory. The backward pass needs W^T once per layer for the input gradient
 * and makes it in a scratch buffer (nin * nout copies against
 * B * nin * nout multiply-adds).
 */
#include "qnet.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define QNET_MAX_LAYERS (QNET_MAX_HIDDEN + 1)
#define QNET_TILE 64     /* rows per qnet_predict() tile */
#define ALIGN_FLOATS 16  /* 64-byte alignment of every buffer */

/* c (M, N) += A (M, K) . w (K, N); see qnet_kernel.inc. */
typedef void (*matmul_fn)(float *c, const float *a, int a_rs, int a_cs, const float *w, int M,
                          int K, int N);

/* Adam's per-step scalars, in float as the update uses them. */
typedef struct adam_scalars {
    float neg_step;  /* -lr / (1 - beta1^t) */
    float bc2_sqrt;  /* sqrt(1 - beta2^t) */
    float eps;
    float beta2;
    float one_b1;    /* 1 - beta1 */
    float one_b2;    /* 1 - beta2 */
} adam_scalars_t;

typedef void (*adam_fn)(float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, size_t n, const adam_scalars_t *s);

/* One instruction-set variant of the kernels. */
typedef struct kernels {
    const char *isa;
    matmul_fn matmul;
    adam_fn adam;
} kernels_t;

struct qnet {
    qnet_shape_t shape;
    int nlayers;                         /* nhidden + 1 */
    int dims[QNET_MAX_LAYERS + 1];       /* layer l maps dims[l] -> dims[l+1] */
    size_t woff[QNET_MAX_LAYERS];        /* weight offset in each block */
    size_t boff[QNET_MAX_LAYERS];        /* bias offset in each block */
    size_t nparams;
    int max_batch;
    int max_width;                       /* widest of dims[] */
    int64_t t;                           /* Adam steps taken */
    int last_B;                          /* B of the last qnet_forward(), 0 if none */
    const kernels_t *kernels;            /* the instruction-set variant in use */

    float *mem;                          /* the one allocation all below point into */
    float *params;                       /* (nparams) */
    float *grads;                        /* (nparams) */
    float *m;                            /* (nparams) Adam first moment */
    float *v;                            /* (nparams) Adam second moment */
    float *x;                            /* (max_batch, in) copy of the training input */
    float *acts[QNET_MAX_LAYERS];        /* (max_batch, dims[l+1]) layer l's output, after ReLU if hidden */
    float *dacts[QNET_MAX_LAYERS];       /* (max_batch, dims[l+1]) dL/d acts[l]; hidden layers only, NULL for the output */
    float *wt;                           /* (max_width, max_width) scratch for a transposed weight */
    float *tile[2];                      /* (QNET_TILE, max_width) qnet_predict() ping-pong */
};

/* ------------------------------------------------------------- kernels */

/*
 * One kernel source, qnet_kernel.inc, compiled per instruction set with the
 * tile shape that suits its register file. A net picks the best variant the
 * CPU supports when it is made (qnet_isa()); all variants give the same
 * bits, so the pick never changes a result (see qnet_kernel.inc), and a
 * binary built for the baseline still runs anywhere, valgrind included.
 */
#define UNROLL _Pragma("GCC unroll 16")

/* Baseline: SSE2 on x86-64, NEON on arm64; 16 vector registers, 8 of them
 * accumulators. Tile shapes were picked with bench/bench_qnet.c. */
#define KSUFFIX base
#define KTARGET
#define VW 4
#define NV 2
#define MR 4
#include "qnet_kernel.inc"

#if defined(__x86_64__) && defined(__GNUC__)
#define QNET_HAVE_X86_VARIANTS 1
/* AVX2: 16 ymm registers, 8 of them accumulators. */
#define KSUFFIX avx2
#define KTARGET __attribute__((target("avx2")))
#define VW 8
#define NV 2
#define MR 4
#include "qnet_kernel.inc"

/* AVX-512: 32 zmm registers, 16 of them accumulators. */
#define KSUFFIX avx512
#define KTARGET __attribute__((target("avx512f")))
#define VW 16
#define NV 2
#define MR 8
#include "qnet_kernel.inc"
#endif

static const kernels_t isa_table[] = {  /* best first */
#ifdef QNET_HAVE_X86_VARIANTS
    {"avx512", matmul_acc_avx512, adam_avx512},
    {"avx2", matmul_acc_avx2, adam_avx2},
#endif
    {"base", matmul_acc_base, adam_base},
};
#define NISA (sizeof(isa_table) / sizeof(isa_table[0]))

static int isa_supported(const char *name)
{
#ifdef QNET_HAVE_X86_VARIANTS
    __builtin_cpu_init();
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f");
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2");
#endif
    return !strcmp(name, "base");
}

/* out (B, nout) = inp (B, nin) . weight (nin, nout) + bias (nout) */
static void linear_forward(matmul_fn matmul, float *out, const float *inp, const float *weight,
                           const float *bias, int B, int nin, int nout)
{
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * nout, bias, (size_t)nout * sizeof(float));
    matmul(out, inp, nin, 1, weight, B, nin, nout);
}

/* t (cols, rows) = m (rows, cols)^T, in blocks so that the strided side
 * writes whole cache lines: element by element it cost more than the
 * backward matmuls at B = 64 (bench/bench_qnet.c). */
static void transpose(float *t, const float *m, int rows, int cols)
{
    enum { BLK = 16 };
    for (int r0 = 0; r0 < rows; r0 += BLK)
        for (int c0 = 0; c0 < cols; c0 += BLK) {
            int r1 = r0 + BLK < rows ? r0 + BLK : rows, c1 = c0 + BLK < cols ? c0 + BLK : cols;
            for (int c = c0; c < c1; c++)
                for (int r = r0; r < r1; r++)
                    t[(size_t)c * rows + r] = m[(size_t)r * cols + c];
        }
}

/*
 * Adds the gradients of a linear layer: dweight (nin, nout), dbias (nout)
 * and, unless dinp is NULL, dinp (B, nin), from dout (B, nout). wt is
 * scratch for weight^T (nout, nin).
 */
static void linear_backward(matmul_fn matmul, float *dinp, float *dweight, float *dbias,
                            const float *dout, const float *inp, const float *weight, float *wt,
                            int B, int nin, int nout)
{
    for (int b = 0; b < B; b++) {
        const float *db = dout + (size_t)b * nout;
        for (int o = 0; o < nout; o++)
            dbias[o] += db[o];
    }
    /* dweight (nin, nout) += inp^T (nin, B) . dout (B, nout) */
    matmul(dweight, inp, 1, nin, dout, nin, B, nout);
    if (dinp) {
        transpose(wt, weight, nin, nout);
        /* dinp (B, nin) += dout (B, nout) . weight^T (nout, nin) */
        matmul(dinp, dout, nout, 1, wt, B, nout, nin);
    }
}

/* inout (n) = max(inout, 0) */
static void relu_forward(float *inout, size_t n)
{
    for (size_t i = 0; i < n; i++)
        inout[i] = inout[i] > 0.0f ? inout[i] : 0.0f;
}

/* dinout (n) = out > 0 ? dinout : 0, for out the ReLU's output. */
static void relu_backward(float *dinout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dinout[i] = out[i] > 0.0f ? dinout[i] : 0.0f;
}

/* ----------------------------------------------------------- lifetime */

static size_t round_up(size_t n)
{
    return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

int qnet_new_shape(const qnet_shape_t *shape, int max_batch, qnet_t **out, errbuf_t *e)
{
    *out = NULL;
    if (!shape || shape->in < 1 || shape->out < 1 || shape->nhidden < 0 ||
        shape->nhidden > QNET_MAX_HIDDEN || max_batch < 1)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "qnet: inputs, outputs and max_batch must be >= 1 and 0 to %d hidden "
                       "layers", QNET_MAX_HIDDEN);
    for (int l = 0; l < shape->nhidden; l++)
        if (shape->hidden[l] < 1)
            return err_set(e, ERR_INVALID_ARGUMENT, "qnet: hidden layer %d has width %d", l + 1,
                           (int)shape->hidden[l]);

    qnet_t *q = calloc(1, sizeof(*q));
    if (!q)
        return err_set(e, ERR_NOMEM, "qnet: out of memory");
    q->shape.in = shape->in;
    q->shape.out = shape->out;
    q->shape.nhidden = shape->nhidden;
    q->nlayers = shape->nhidden + 1;
    q->max_batch = max_batch;
    for (size_t i = 0; i < NISA; i++)  /* "base" always qualifies */
        if (isa_supported(isa_table[i].isa)) {
            q->kernels = &isa_table[i];
            break;
        }
    q->dims[0] = shape->in;
    for (int l = 0; l < shape->nhidden; l++)
        q->dims[l + 1] = q->shape.hidden[l] = shape->hidden[l];
    q->dims[q->nlayers] = shape->out;

    size_t n = 0;
    q->max_width = 0;
    for (int l = 0; l <= q->nlayers; l++)
        if (q->dims[l] > q->max_width)
            q->max_width = q->dims[l];
    for (int l = 0; l < q->nlayers; l++) {
        q->woff[l] = n;
        n += (size_t)q->dims[l] * q->dims[l + 1];
        q->boff[l] = n;
        n += q->dims[l + 1];
    }
    q->nparams = n;

    /* One allocation, each buffer starting on a 64-byte boundary. */
    size_t np = round_up(n), mb = (size_t)max_batch, mw = (size_t)q->max_width;
    size_t total = 4 * np + round_up(mb * q->dims[0]) + round_up(mw * mw) +
                   2 * round_up((size_t)QNET_TILE * mw);
    for (int l = 0; l < q->nlayers; l++)
        total += (l < q->nlayers - 1 ? 2 : 1) * round_up(mb * q->dims[l + 1]);
    q->mem = aligned_alloc(ALIGN_FLOATS * sizeof(float), total * sizeof(float));
    if (!q->mem) {
        free(q);
        return err_set(e, ERR_NOMEM, "qnet: out of memory for %zu floats", total);
    }
    memset(q->mem, 0, total * sizeof(float));
    float *p = q->mem;
    q->params = p, p += np;
    q->grads = p, p += np;
    q->m = p, p += np;
    q->v = p, p += np;
    q->x = p, p += round_up(mb * q->dims[0]);
    for (int l = 0; l < q->nlayers; l++) {
        q->acts[l] = p, p += round_up(mb * q->dims[l + 1]);
        if (l < q->nlayers - 1)
            q->dacts[l] = p, p += round_up(mb * q->dims[l + 1]);
    }
    q->wt = p, p += round_up(mw * mw);
    q->tile[0] = p, p += round_up((size_t)QNET_TILE * mw);
    q->tile[1] = p, p += round_up((size_t)QNET_TILE * mw);
    assert((size_t)(p - q->mem) == total);
    *out = q;
    return 0;
}

int qnet_new(int in, const int *hidden, int nhidden, int nout, int max_batch, qnet_t **out,
             errbuf_t *e)
{
    *out = NULL;
    if (nhidden < 0 || nhidden > QNET_MAX_HIDDEN)
        return err_set(e, ERR_INVALID_ARGUMENT, "qnet: %d hidden layers, not 0 to %d", nhidden,
                       QNET_MAX_HIDDEN);
    if (nhidden > 0 && !hidden)
        return err_set(e, ERR_INVALID_ARGUMENT, "qnet: %d hidden layers without widths", nhidden);
    qnet_shape_t s = {.in = in, .out = nout, .nhidden = nhidden};
    for (int l = 0; l < nhidden; l++)
        s.hidden[l] = hidden[l];
    return qnet_new_shape(&s, max_batch, out, e);
}

void qnet_destroy(qnet_t **q)
{
    if (!q || !*q)
        return;
    free((*q)->mem);
    free(*q);
    *q = NULL;
}

void qnet_init(qnet_t *q, rng_t *rng)
{
    for (int l = 0; l < q->nlayers; l++) {
        double bound = 1.0 / sqrt((double)q->dims[l]);
        size_t n = (size_t)q->dims[l] * q->dims[l + 1] + q->dims[l + 1];
        float *p = q->params + q->woff[l];  /* weight then bias, contiguous */
        for (size_t i = 0; i < n; i++)
            p[i] = (float)((2.0 * rng_next_double(rng) - 1.0) * bound);
    }
    memset(q->grads, 0, q->nparams * sizeof(float));
    memset(q->m, 0, q->nparams * sizeof(float));
    memset(q->v, 0, q->nparams * sizeof(float));
    q->t = 0;
}

/* ------------------------------------------------------------ forward */

const float *qnet_forward(qnet_t *q, const float *x, int B)
{
    assert(B >= 1 && B <= q->max_batch);
    memcpy(q->x, x, (size_t)B * q->dims[0] * sizeof(float));
    const float *inp = q->x;
    for (int l = 0; l < q->nlayers; l++) {
        int nin = q->dims[l], nout = q->dims[l + 1];
        linear_forward(q->kernels->matmul, q->acts[l], inp, q->params + q->woff[l],
                       q->params + q->boff[l], B, nin, nout);
        if (l < q->nlayers - 1)
            relu_forward(q->acts[l], (size_t)B * nout);
        inp = q->acts[l];
    }
    q->last_B = B;
    return q->acts[q->nlayers - 1];
}

void qnet_predict(qnet_t *q, const float *x, int B, float *out)
{
    int L = q->nlayers;
    for (int b0 = 0; b0 < B; b0 += QNET_TILE) {
        int n = B - b0 < QNET_TILE ? B - b0 : QNET_TILE;
        const float *inp = x + (size_t)b0 * q->dims[0];
        for (int l = 0; l < L; l++) {
            int nout = q->dims[l + 1];
            float *o = l == L - 1 ? out + (size_t)b0 * nout : q->tile[l & 1];
            linear_forward(q->kernels->matmul, o, inp, q->params + q->woff[l], q->params + q->boff[l], n,
                           q->dims[l], nout);
            if (l < L - 1)
                relu_forward(o, (size_t)n * nout);
            inp = o;
        }
    }
}

/* ----------------------------------------------------------- backward */

void qnet_zero_grad(qnet_t *q)
{
    memset(q->grads, 0, q->nparams * sizeof(float));
}

void qnet_backward(qnet_t *q, const float *dout, int B)
{
    assert(q->last_B > 0 && B == q->last_B);
    const float *d = dout;  /* dL/d(output of layer l), pre-ReLU once masked */
    for (int l = q->nlayers - 1; l >= 0; l--) {
        int nin = q->dims[l], nout = q->dims[l + 1];
        const float *inp = l > 0 ? q->acts[l - 1] : q->x;
        float *dinp = NULL;
        if (l > 0) {
            dinp = q->dacts[l - 1];
            memset(dinp, 0, (size_t)B * nin * sizeof(float));
        }
        linear_backward(q->kernels->matmul, dinp, q->grads + q->woff[l], q->grads + q->boff[l], d, inp,
                        q->params + q->woff[l], q->wt, B, nin, nout);
        if (dinp) {
            relu_backward(dinp, q->acts[l - 1], (size_t)B * nin);
            d = dinp;
        }
    }
}

float qnet_grad_norm(const qnet_t *q)
{
    double s = 0.0;
    for (size_t i = 0; i < q->nparams; i++)
        s += (double)q->grads[i] * q->grads[i];
    return (float)sqrt(s);
}

float qnet_clip_grad(qnet_t *q, float max_norm)
{
    float norm = qnet_grad_norm(q);
    double coef = (double)max_norm / ((double)norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        for (size_t i = 0; i < q->nparams; i++)
            q->grads[i] *= c;
    }
    return norm;
}

/* ---------------------------------------------------------- optimizer */

void qnet_adam_step(qnet_t *q, double lr, double beta1, double beta2, double eps)
{
    q->t++;
    double bc1 = 1.0 - pow(beta1, (double)q->t);
    double bc2 = 1.0 - pow(beta2, (double)q->t);
    /* Scalars reach the float kernel as torch casts them: computed in
     * double, rounded once. */
    adam_scalars_t s = {
        .neg_step = (float)(-lr / bc1),
        .bc2_sqrt = (float)sqrt(bc2),
        .eps = (float)eps,
        .beta2 = (float)beta2,
        .one_b1 = (float)(1.0 - beta1),
        .one_b2 = (float)(1.0 - beta2),
    };
    q->kernels->adam(q->params, q->grads, q->m, q->v, q->nparams, &s);
}

int64_t qnet_adam_t(const qnet_t *q)
{
    return q->t;
}

void qnet_set_adam_t(qnet_t *q, int64_t t)
{
    q->t = t;
}

/* ------------------------------------------------------ target network */

int qnet_same_shape(const qnet_t *a, const qnet_t *b)
{
    if (a->nlayers != b->nlayers)
        return 0;
    for (int l = 0; l <= a->nlayers; l++)
        if (a->dims[l] != b->dims[l])
            return 0;
    return 1;
}

void qnet_copy_params(qnet_t *dst, const qnet_t *src)
{
    assert(qnet_same_shape(dst, src));
    memcpy(dst->params, src->params, src->nparams * sizeof(float));
}

void qnet_polyak(qnet_t *dst, const qnet_t *src, float tau)
{
    assert(qnet_same_shape(dst, src));
    float keep = 1.0f - tau;
    for (size_t i = 0; i < dst->nparams; i++)
        dst->params[i] = dst->params[i] * keep + tau * src->params[i];
}

/* ---------------------------------------------------------- accessors */

const char *qnet_isa(const qnet_t *q)
{
    return q->kernels->isa;
}

int qnet_set_isa(qnet_t *q, const char *isa)
{
    for (size_t i = 0; i < NISA; i++)
        if (!strcmp(isa, isa_table[i].isa)) {
            if (!isa_supported(isa))
                return ERR_FAILED_PRECONDITION;
            q->kernels = &isa_table[i];
            return 0;
        }
    return ERR_INVALID_ARGUMENT;
}

void qnet_shape(const qnet_t *q, qnet_shape_t *shape)
{
    *shape = q->shape;
}

void qnet_shape_text(const qnet_shape_t *s, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%d", s->in);
    for (int l = 0; l < s->nhidden && n > 0 && (size_t)n < len; l++)
        n += snprintf(buf + n, len - (size_t)n, "-%d", s->hidden[l]);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "-%d", s->out);
}

int qnet_out(const qnet_t *q)
{
    return q->shape.out;
}

int qnet_nlayers(const qnet_t *q)
{
    return q->nlayers;
}

size_t qnet_nparams(const qnet_t *q)
{
    return q->nparams;
}

float *qnet_params(qnet_t *q)
{
    return q->params;
}

float *qnet_grads(qnet_t *q)
{
    return q->grads;
}

float *qnet_adam_m(qnet_t *q)
{
    return q->m;
}

float *qnet_adam_v(qnet_t *q)
{
    return q->v;
}

float *qnet_weight(qnet_t *q, int l)
{
    assert(l >= 0 && l < q->nlayers);
    return q->params + q->woff[l];
}

float *qnet_bias(qnet_t *q, int l)
{
    assert(l >= 0 && l < q->nlayers);
    return q->params + q->boff[l];
}

void qnet_layer_dims(const qnet_t *q, int l, int *nin, int *nout)
{
    assert(l >= 0 && l < q->nlayers);
    if (nin)
        *nin = q->dims[l];
    if (nout)
        *nout = q->dims[l + 1];
}

size_t qnet_weight_offset(const qnet_t *q, int l)
{
    assert(l >= 0 && l < q->nlayers);
    return q->woff[l];
}

size_t qnet_bias_offset(const qnet_t *q, int l)
{
    assert(l >= 0 && l < q->nlayers);
    return q->boff[l];
}
