/*
 * check_qnet.c — the Q-network against hand-computed values and against a
 * finite-difference gradient of a double-precision reference forward.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "qnet.h"
#include "rng.h"

/* ------------------------------------------------- double reference */

/* Forward of q's parameters in double, with params p in q's layout. */
static void ref_forward(const qnet_t *q, const double *p, const double *x, int B, double *out)
{
    int L = qnet_nlayers(q);
    double a[2][64 * 16];
    const double *inp = x;
    for (int l = 0; l < L; l++) {
        int nin, nout;
        qnet_layer_dims(q, l, &nin, &nout);
        ck_assert_int_le(B * nout, 64 * 16);
        const double *w = p + qnet_weight_offset(q, l), *bias = p + qnet_bias_offset(q, l);
        double *o = l == L - 1 ? out : a[l & 1];
        for (int b = 0; b < B; b++)
            for (int j = 0; j < nout; j++) {
                double s = bias[j];
                for (int i = 0; i < nin; i++)
                    s += inp[b * nin + i] * w[i * nout + j];
                o[b * nout + j] = l < L - 1 && s < 0.0 ? 0.0 : s;
            }
        inp = o;
    }
}

static double ref_loss(const qnet_t *q, const double *p, const double *x, const double *wl, int B)
{
    double out[64 * 16];
    ref_forward(q, p, x, B, out);
    double s = 0.0;
    for (int i = 0; i < B * qnet_out(q); i++)
        s += wl[i] * out[i];
    return s;
}

/* ---------------------------------------------------------- lifetime */

/* A net the test needs: the constructor failing fails the test with its reason. */
static qnet_t *new_net(int in, const int *h, int nh, int out, int max_batch)
{
    qnet_t *q = NULL;
    errbuf_t e;
    ck_assert_msg(qnet_new(in, h, nh, out, max_batch, &q, &e) == 0, "%s", e.msg);
    return q;
}

static qnet_t *new_net_shape(const qnet_shape_t *s, int max_batch)
{
    qnet_t *q = NULL;
    errbuf_t e;
    ck_assert_msg(qnet_new_shape(s, max_batch, &q, &e) == 0, "%s", e.msg);
    return q;
}

/* qnet_new() refuses the shape: no net, and a reason. */
static void assert_refused(int in, const int *h, int nh, int out, int max_batch)
{
    qnet_t *q = (qnet_t *)&q; /* not NULL: the constructor must clear it */
    errbuf_t e;
    err_clear(&e);
    ck_assert_int_eq(qnet_new(in, h, nh, out, max_batch, &q, &e), ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(q);
    ck_assert_str_ne(e.msg, "");
}

START_TEST(test_new_rejects_bad_shapes)
{
    int h[2] = {8, 0};
    assert_refused(0, h, 1, 2, 4);
    assert_refused(4, h, 1, 0, 4);
    assert_refused(4, h, 1, 2, 0);
    assert_refused(4, h, 2, 2, 4);  /* hidden[1] == 0 */
    assert_refused(4, h, -1, 2, 4);
    assert_refused(4, h, QNET_MAX_HIDDEN + 1, 2, 4);
    assert_refused(4, NULL, 1, 2, 4);
}
END_TEST

START_TEST(test_destroy_nulls_pointer_and_is_safe_twice)
{
    int h[1] = {3};
    qnet_t *q = new_net(2, h, 1, 2, 4);
    ck_assert_ptr_nonnull(q);
    qnet_destroy(&q);
    ck_assert_ptr_null(q);
    qnet_destroy(&q);
    qnet_destroy(NULL);
}
END_TEST

START_TEST(test_shape_and_block_layout)
{
    int h[2] = {64, 32};
    qnet_t *q = new_net(4, h, 2, 2, 16);
    ck_assert_uint_eq(qnet_nparams(q), 4 * 64 + 64 + 64 * 32 + 32 + 32 * 2 + 2);
    ck_assert_int_eq(qnet_nlayers(q), 3);
    ck_assert_uint_eq(qnet_weight_offset(q, 0), 0);
    ck_assert_uint_eq(qnet_bias_offset(q, 0), 256);
    ck_assert_uint_eq(qnet_weight_offset(q, 1), 320);
    ck_assert_uint_eq(qnet_bias_offset(q, 2), 320 + 2048 + 32 + 64);
    ck_assert_ptr_eq(qnet_bias(q, 1), qnet_params(q) + qnet_bias_offset(q, 1));

    qnet_shape_t s;
    qnet_shape(q, &s);
    ck_assert_int_eq(s.in, 4);
    ck_assert_int_eq(s.out, 2);
    ck_assert_int_eq(s.nhidden, 2);
    ck_assert_int_eq(s.hidden[0], 64);
    ck_assert_int_eq(s.hidden[1], 32);
    ck_assert_int_eq(s.hidden[2], 0);
    qnet_t *r = new_net_shape(&s, 1);
    ck_assert(qnet_same_shape(q, r));
    ck_assert_uint_eq(qnet_nparams(r), qnet_nparams(q));
    qnet_destroy(&r);
    h[1] = 33;
    r = new_net(4, h, 2, 2, 16);
    ck_assert(!qnet_same_shape(q, r));
    qnet_destroy(&r);
    qnet_destroy(&q);
}
END_TEST

START_TEST(test_init_is_torch_uniform_and_seeded)
{
    int h[2] = {16, 9};
    qnet_t *a = new_net(4, h, 2, 3, 8), *b = new_net(4, h, 2, 3, 8);
    rng_t r;
    rng_seed(&r, 7);
    qnet_init(a, &r);
    rng_seed(&r, 7);
    qnet_init(b, &r);
    ck_assert_int_eq(memcmp(qnet_params(a), qnet_params(b), qnet_nparams(a) * sizeof(float)), 0);
    for (int l = 0; l < qnet_nlayers(a); l++) {
        int nin, nout;
        qnet_layer_dims(a, l, &nin, &nout);
        float bound = 1.0f / sqrtf((float)nin), lo = bound, hi = -bound;
        const float *p = qnet_weight(a, l);
        for (int i = 0; i < nin * nout + nout; i++) {  /* weight then bias */
            ck_assert(fabsf(p[i]) <= bound);
            lo = fminf(lo, p[i]);
            hi = fmaxf(hi, p[i]);
        }
        /* Spread over most of the interval, not a constant. */
        ck_assert(hi - lo > bound);
    }
    qnet_destroy(&a);
    qnet_destroy(&b);
}
END_TEST

/* ----------------------------------------------------------- forward */

/* in=2 -> 3 (ReLU) -> 2, weights by hand (stored (in, out)). */
static qnet_t *tiny_net(void)
{
    int h[1] = {3};
    qnet_t *q = new_net(2, h, 1, 2, 4);
    static const float w0[6] = {1.0f, -1.0f, 0.5f,   /* from input 0 */
                                2.0f, 1.0f, -1.0f};  /* from input 1 */
    static const float b0[3] = {0.0f, 0.5f, -1.0f};
    static const float w1[6] = {1.0f, 2.0f,    /* from hidden 0 */
                                -1.0f, 0.5f,   /* from hidden 1 */
                                3.0f, -2.0f};  /* from hidden 2 */
    static const float b1[2] = {0.25f, -0.5f};
    memcpy(qnet_weight(q, 0), w0, sizeof(w0));
    memcpy(qnet_bias(q, 0), b0, sizeof(b0));
    memcpy(qnet_weight(q, 1), w1, sizeof(w1));
    memcpy(qnet_bias(q, 1), b1, sizeof(b1));
    return q;
}

START_TEST(test_forward_tiny_net_hand_values)
{
    qnet_t *q = tiny_net();
    const float x[4] = {1.0f, 2.0f, -1.0f, 0.5f};
    /* Row 0, x = (1, 2):
     *   pre  = (1*1 + 2*2 + 0, 1*-1 + 2*1 + 0.5, 1*0.5 + 2*-1 - 1) = (5, 1.5, -2.5)
     *   h    = (5, 1.5, 0)
     *   Q    = (5*1 + 1.5*-1 + 0.25, 5*2 + 1.5*0.5 - 0.5) = (3.75, 10.25)
     * Row 1, x = (-1, 0.5):
     *   pre  = (-1 + 1, 1 + 0.5 + 0.5, -0.5 - 0.5 - 1) = (0, 2, -2)
     *   h    = (0, 2, 0)
     *   Q    = (-2 + 0.25, 1 - 0.5) = (-1.75, 0.5) */
    const float *y = qnet_forward(q, x, 2);
    ck_assert_float_eq(y[0], 3.75f);
    ck_assert_float_eq(y[1], 10.25f);
    ck_assert_float_eq(y[2], -1.75f);
    ck_assert_float_eq(y[3], 0.5f);

    float p[4];
    qnet_predict(q, x, 2, p);
    ck_assert_int_eq(memcmp(p, y, sizeof(p)), 0);
    qnet_destroy(&q);
}
END_TEST

/* Every row's Q values are the same bits whether computed by the training
 * forward or by predict, and whatever the batch size around it. */
START_TEST(test_predict_matches_forward_bitwise_any_batch)
{
    int h[2] = {37, 20};
    const int maxb = 200;
    qnet_t *q = new_net(5, h, 2, 3, maxb);
    rng_t r;
    rng_seed(&r, 11);
    qnet_init(q, &r);
    float *x = malloc(sizeof(float) * maxb * 5);
    float *ref = malloc(sizeof(float) * maxb * 3), *got = malloc(sizeof(float) * maxb * 3);
    for (int i = 0; i < maxb * 5; i++)
        x[i] = (float)(4.0 * rng_next_double(&r) - 2.0);
    memcpy(ref, qnet_forward(q, x, maxb), sizeof(float) * maxb * 3);

    const int sizes[] = {1, 3, 4, 63, 64, 65, 129, 200};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        int B = sizes[k];
        const float *y = qnet_forward(q, x, B);
        ck_assert_int_eq(memcmp(y, ref, sizeof(float) * B * 3), 0);
        qnet_predict(q, x, B, got);
        ck_assert_int_eq(memcmp(got, ref, sizeof(float) * B * 3), 0);
        /* Row offsets too: rows b.. of a batch starting elsewhere. */
        qnet_predict(q, x + 5 * 7, B > 193 ? 193 : B, got);
        ck_assert_int_eq(memcmp(got, ref + 3 * 7, sizeof(float) * (B > 193 ? 193 : B) * 3), 0);
    }
    /* predict for more rows than max_batch */
    float *big = malloc(sizeof(float) * 3 * 3 * maxb), *xb = malloc(sizeof(float) * 5 * 3 * maxb);
    for (int c = 0; c < 3; c++)
        memcpy(xb + c * maxb * 5, x, sizeof(float) * maxb * 5);
    qnet_predict(q, xb, 3 * maxb, big);
    for (int c = 0; c < 3; c++)
        ck_assert_int_eq(memcmp(big + c * maxb * 3, ref, sizeof(float) * maxb * 3), 0);
    qnet_predict(q, x, 0, got);  /* B = 0 is a no-op */

    free(x), free(ref), free(got), free(big), free(xb);
    qnet_destroy(&q);
}
END_TEST

/* predict between forward and backward leaves the gradients unchanged. */
START_TEST(test_predict_does_not_clobber_training_activations)
{
    int h[1] = {16};
    qnet_t *q = new_net(3, h, 1, 2, 8);
    rng_t r;
    rng_seed(&r, 3);
    qnet_init(q, &r);
    float x[8 * 3], x2[100 * 3], y2[100 * 2], dout[8 * 2];
    for (int i = 0; i < 8 * 3; i++)
        x[i] = (float)rng_next_double(&r) - 0.5f;
    for (int i = 0; i < 100 * 3; i++)
        x2[i] = (float)rng_next_double(&r) * 3.0f;
    for (int i = 0; i < 8 * 2; i++)
        dout[i] = (float)rng_next_double(&r) - 0.5f;
    size_t n = qnet_nparams(q);
    float *g1 = malloc(n * sizeof(float));

    qnet_forward(q, x, 8);
    qnet_zero_grad(q);
    qnet_backward(q, dout, 8);
    memcpy(g1, qnet_grads(q), n * sizeof(float));

    qnet_forward(q, x, 8);
    qnet_predict(q, x2, 100, y2);
    qnet_zero_grad(q);
    qnet_backward(q, dout, 8);
    ck_assert_int_eq(memcmp(g1, qnet_grads(q), n * sizeof(float)), 0);
    free(g1);
    qnet_destroy(&q);
}
END_TEST

/* Every kernel variant the CPU has computes the same bits: forward,
 * predict, gradients and an Adam step, on shapes with edge rows and edge
 * columns. */
START_TEST(test_kernel_variants_agree_bitwise)
{
    enum { IN = 5, OUT = 3, B = 67 };
    int h[2] = {37, 33};
    qnet_t *q = new_net(IN, h, 2, OUT, B);
    ck_assert_ptr_nonnull(qnet_isa(q));
    ck_assert_int_eq(qnet_set_isa(q, "no-such-isa"), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(qnet_set_isa(q, "base"), 0);
    ck_assert_str_eq(qnet_isa(q), "base");
    rng_t r;
    rng_seed(&r, 77);
    qnet_init(q, &r);
    float x[B * IN], dout[B * OUT], y0[B * OUT], p0[B * OUT], y[B * OUT];
    for (int i = 0; i < B * IN; i++)
        x[i] = (float)(4.0 * rng_next_double(&r) - 2.0);
    for (int i = 0; i < B * OUT; i++)
        dout[i] = (float)(rng_next_double(&r) - 0.5);
    size_t n = qnet_nparams(q), sz = n * sizeof(float);
    float *params0 = malloc(sz), *g0 = malloc(sz), *stepped0 = malloc(sz);
    memcpy(params0, qnet_params(q), sz);

    /* Reference results with the base kernels: forward, predict, backward,
     * then two Adam steps (the second with nonzero moments). */
    memcpy(y0, qnet_forward(q, x, B), sizeof(y0));
    qnet_zero_grad(q);
    qnet_backward(q, dout, B);
    memcpy(g0, qnet_grads(q), sz);
    qnet_predict(q, x, B, p0);
    ck_assert_int_eq(memcmp(p0, y0, sizeof(y0)), 0);
    qnet_adam_step(q, 1e-3, 0.9, 0.999, 1e-8);
    qnet_adam_step(q, 1e-3, 0.9, 0.999, 1e-8);
    memcpy(stepped0, qnet_params(q), sz);

    const char *isas[] = {"avx2", "avx512"};
    for (size_t k = 0; k < sizeof(isas) / sizeof(isas[0]); k++) {
        int rc = qnet_set_isa(q, isas[k]);
        if (rc == ERR_FAILED_PRECONDITION || rc == ERR_INVALID_ARGUMENT)
            continue;  /* not this CPU, or not an x86-64 build */
        ck_assert_int_eq(rc, 0);
        ck_assert_str_eq(qnet_isa(q), isas[k]);
        memcpy(qnet_params(q), params0, sz);
        memset(qnet_adam_m(q), 0, sz);
        memset(qnet_adam_v(q), 0, sz);
        qnet_set_adam_t(q, 0);
        ck_assert_int_eq(memcmp(qnet_forward(q, x, B), y0, sizeof(y0)), 0);
        qnet_zero_grad(q);
        qnet_backward(q, dout, B);
        ck_assert_int_eq(memcmp(qnet_grads(q), g0, sz), 0);
        qnet_predict(q, x, B, y);
        ck_assert_int_eq(memcmp(y, y0, sizeof(y)), 0);
        qnet_adam_step(q, 1e-3, 0.9, 0.999, 1e-8);
        qnet_adam_step(q, 1e-3, 0.9, 0.999, 1e-8);
        ck_assert_int_eq(memcmp(qnet_params(q), stepped0, sz), 0);
    }
    free(params0), free(g0), free(stepped0);
    qnet_destroy(&q);
}
END_TEST

/* ---------------------------------------------------------- backward */

/* Hand-checked gradient of the tiny net for dL/dQ = (1, 0) on row 0:
 * dQ0/dW1[i][0] = h[i] = (5, 1.5, 0), dQ0/db1 = (1, 0),
 * dL/dh = W1[:, 0] = (1, -1, 3), masked by h > 0 -> (1, -1, 0),
 * dW0[i][j] = x[i] * dpre[j] with x = (1, 2). */
START_TEST(test_backward_tiny_net_hand_values)
{
    qnet_t *q = tiny_net();
    const float x[2] = {1.0f, 2.0f}, dout[2] = {1.0f, 0.0f};
    qnet_forward(q, x, 1);
    qnet_zero_grad(q);
    qnet_backward(q, dout, 1);
    const float *g = qnet_grads(q);
    const float dw0[6] = {1, -1, 0, 2, -2, 0}, db0[3] = {1, -1, 0};
    const float dw1[6] = {5, 0, 1.5f, 0, 0, 0}, db1[2] = {1, 0};
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq(g[qnet_weight_offset(q, 0) + i], dw0[i]);
        ck_assert_float_eq(g[qnet_weight_offset(q, 1) + i], dw1[i]);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(g[qnet_bias_offset(q, 0) + i], db0[i]);
    for (int i = 0; i < 2; i++)
        ck_assert_float_eq(g[qnet_bias_offset(q, 1) + i], db1[i]);
    qnet_destroy(&q);
}
END_TEST

/*
 * Every parameter's gradient against the central difference of the
 * double-precision reference loss L = sum_{b,o} wl[b,o] Q[b,o].
 */
START_TEST(test_backward_matches_finite_differences)
{
    enum { IN = 4, OUT = 3, B = 6 };
    int h[2] = {7, 5};
    qnet_t *q = new_net(IN, h, 2, OUT, B);
    rng_t r;
    rng_seed(&r, 2024);
    qnet_init(q, &r);
    size_t n = qnet_nparams(q);
    float xf[B * IN], wf[B * OUT];
    double xd[B * IN], wd[B * OUT];
    for (int i = 0; i < B * IN; i++)
        xd[i] = xf[i] = (float)(2.0 * rng_next_double(&r) - 1.0);
    for (int i = 0; i < B * OUT; i++)
        wd[i] = wf[i] = (float)(2.0 * rng_next_double(&r) - 1.0);

    /* The float forward agrees with the double reference. */
    double *p = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        p[i] = qnet_params(q)[i];
    double yd[B * OUT];
    ref_forward(q, p, xd, B, yd);
    const float *y = qnet_forward(q, xf, B);
    for (int i = 0; i < B * OUT; i++)
        ck_assert_double_eq_tol(y[i], yd[i], 1e-5);

    qnet_zero_grad(q);
    qnet_backward(q, wf, B);
    const float *g = qnet_grads(q);
    const double eps = 1e-6;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double keep = p[i];
        p[i] = keep + eps;
        double lp = ref_loss(q, p, xd, wd, B);
        p[i] = keep - eps;
        double lm = ref_loss(q, p, xd, wd, B);
        p[i] = keep;
        double num = (lp - lm) / (2.0 * eps);
        double err = fabs(g[i] - num) / fmax(1e-3, fabs(g[i]) + fabs(num));
        if (err > worst)
            worst = err;
        ck_assert_msg(err < 1e-4, "param %zu: backward %.9g, numeric %.9g", i, (double)g[i], num);
    }
    ck_assert(worst < 1e-4);

    /* Gradients accumulate until zero_grad. */
    float *g1 = malloc(n * sizeof(float));
    memcpy(g1, g, n * sizeof(float));
    qnet_backward(q, wf, B);
    for (size_t i = 0; i < n; i++)  /* the same terms added again, in order */
        ck_assert_float_eq_tol(g[i], g1[i] + g1[i], 1e-6f * (1.0f + fabsf(g1[i])));
    qnet_zero_grad(q);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(g[i], 0.0f);
    free(g1);
    free(p);
    qnet_destroy(&q);
}
END_TEST

START_TEST(test_clip_grad_scales_to_max_norm)
{
    int h[1] = {2};
    qnet_t *q = new_net(1, h, 1, 1, 1);  /* 7 parameters */
    float *g = qnet_grads(q);
    qnet_zero_grad(q);
    g[0] = 3.0f;
    g[6] = -4.0f;
    ck_assert_float_eq_tol(qnet_grad_norm(q), 5.0f, 1e-6f);
    /* Above the limit: scaled by 1 / (5 + 1e-6) to norm 1. */
    ck_assert_float_eq_tol(qnet_clip_grad(q, 1.0f), 5.0f, 1e-6f);
    ck_assert_float_eq_tol(g[0], 0.6f, 1e-6f);
    ck_assert_float_eq_tol(g[6], -0.8f, 1e-6f);
    ck_assert_float_eq_tol(qnet_grad_norm(q), 1.0f, 1e-6f);
    for (int i = 1; i < 6; i++)
        ck_assert_float_eq(g[i], 0.0f);
    /* Under the limit: untouched. */
    ck_assert_float_eq_tol(qnet_clip_grad(q, 10.0f), 1.0f, 1e-6f);
    ck_assert_float_eq_tol(g[0], 0.6f, 1e-6f);
    ck_assert_float_eq_tol(g[6], -0.8f, 1e-6f);
    qnet_destroy(&q);
}
END_TEST

/* ---------------------------------------------------------- optimizer */

/* Adam from its formulas in double, for one scalar parameter. */
static void adam_ref(double *p, double *m, double *v, double g, int t, double lr, double b1,
                     double b2, double eps)
{
    *m = b1 * *m + (1 - b1) * g;
    *v = b2 * *v + (1 - b2) * g * g;
    double mhat = *m / (1 - pow(b1, t)), vhat = *v / (1 - pow(b2, t));
    *p -= lr * mhat / (sqrt(vhat) + eps);
}

START_TEST(test_adam_two_steps_hand_values)
{
    int h[1] = {1};
    qnet_t *q = new_net(1, h, 1, 1, 1);  /* 4 parameters */
    const float p0[4] = {1.0f, -2.0f, 0.5f, 0.0f};
    const float g1[4] = {0.5f, -3.0f, 0.0f, 1e-3f}, g2[4] = {-0.25f, 1.0f, 2.0f, 1e-3f};
    const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    memcpy(qnet_params(q), p0, sizeof(p0));
    double p[4], m[4] = {0}, v[4] = {0};
    for (int i = 0; i < 4; i++)
        p[i] = p0[i];

    memcpy(qnet_grads(q), g1, sizeof(g1));
    qnet_adam_step(q, lr, b1, b2, eps);
    ck_assert_int_eq(qnet_adam_t(q), 1);
    for (int i = 0; i < 4; i++)
        adam_ref(&p[i], &m[i], &v[i], g1[i], 1, lr, b1, b2, eps);
    /* Step 1 moves every parameter with a gradient by lr against its sign:
     * mhat / sqrt(vhat) = g / |g|. */
    ck_assert_float_eq_tol(qnet_params(q)[0], 0.9f, 1e-6f);
    ck_assert_float_eq_tol(qnet_params(q)[1], -1.9f, 1e-6f);
    ck_assert_float_eq(qnet_params(q)[2], 0.5f);
    ck_assert_float_eq_tol(qnet_params(q)[3], -0.1f, 2e-6f);
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq_tol(qnet_params(q)[i], p[i], 1e-6);
        ck_assert_double_eq_tol(qnet_adam_m(q)[i], m[i], 1e-7);
        ck_assert_double_eq_tol(qnet_adam_v(q)[i], v[i], 1e-8);
    }

    memcpy(qnet_grads(q), g2, sizeof(g2));
    qnet_adam_step(q, lr, b1, b2, eps);
    ck_assert_int_eq(qnet_adam_t(q), 2);
    for (int i = 0; i < 4; i++)
        adam_ref(&p[i], &m[i], &v[i], g2[i], 2, lr, b1, b2, eps);
    /* Parameter 0 by hand: m = 0.9*0.05 + 0.1*-0.25 = 0.02,
     * v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225,
     * p = 0.9 - 0.1 * (0.02/0.19) / sqrt(0.00031225/0.001999) = 0.8733663. */
    ck_assert_float_eq_tol(qnet_params(q)[0], 0.8733663f, 2e-6f);
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq_tol(qnet_params(q)[i], p[i], 1e-6);
        ck_assert_double_eq_tol(qnet_adam_m(q)[i], m[i], 1e-7);
        ck_assert_double_eq_tol(qnet_adam_v(q)[i], v[i], 1e-7);
    }
    qnet_set_adam_t(q, 41);
    ck_assert_int_eq(qnet_adam_t(q), 41);
    qnet_destroy(&q);
}
END_TEST

/* ----------------------------------------------------- target network */

START_TEST(test_copy_params_and_polyak_hand_values)
{
    int h[2] = {3, 2};
    qnet_t *a = new_net(2, h, 2, 2, 4), *b = new_net(2, h, 2, 2, 64);
    size_t n = qnet_nparams(a);
    ck_assert_uint_eq(n, 2 * 3 + 3 + 3 * 2 + 2 + 2 * 2 + 2);
    for (size_t i = 0; i < n; i++) {
        qnet_params(a)[i] = (float)i;
        qnet_params(b)[i] = -1.0f;
    }
    qnet_copy_params(b, a);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(qnet_params(b)[i], (float)i);

    /* dst = 0.75 dst + 0.25 src, with dst = i and src = 10 + 4 i: 2.5 + 1.75 i */
    for (size_t i = 0; i < n; i++)
        qnet_params(a)[i] = 10.0f + 4.0f * (float)i;
    qnet_polyak(b, a, 0.25f);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(qnet_params(b)[i], 2.5f + 1.75f * (float)i);
    for (size_t i = 0; i < n; i++)  /* src unchanged */
        ck_assert_float_eq(qnet_params(a)[i], 10.0f + 4.0f * (float)i);
    qnet_polyak(b, a, 1.0f);
    ck_assert_int_eq(memcmp(qnet_params(a), qnet_params(b), n * sizeof(float)), 0);
    qnet_destroy(&a);
    qnet_destroy(&b);
}
END_TEST

Suite *qnet_suite(void)
{
    Suite *s = suite_create("qnet");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_new_rejects_bad_shapes);
    tcase_add_test(tc, test_destroy_nulls_pointer_and_is_safe_twice);
    tcase_add_test(tc, test_shape_and_block_layout);
    tcase_add_test(tc, test_init_is_torch_uniform_and_seeded);
    tcase_add_test(tc, test_forward_tiny_net_hand_values);
    tcase_add_test(tc, test_predict_matches_forward_bitwise_any_batch);
    tcase_add_test(tc, test_predict_does_not_clobber_training_activations);
    tcase_add_test(tc, test_kernel_variants_agree_bitwise);
    tcase_add_test(tc, test_backward_tiny_net_hand_values);
    tcase_add_test(tc, test_backward_matches_finite_differences);
    tcase_add_test(tc, test_clip_grad_scales_to_max_norm);
    tcase_add_test(tc, test_adam_two_steps_hand_values);
    tcase_add_test(tc, test_copy_params_and_polyak_hand_values);
    suite_add_tcase(s, tc);
    return s;
}
