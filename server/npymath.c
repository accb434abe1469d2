/*
 * npymath.c — numpy's float32 sin/cos kernel, unfolded pow and powf, and
 * Python's float modulo (see npymath.h for why each exists).
 *
 * The kernel follows ../shared/docs/acrobot-v1-semantics.md section 6.1
 * step by step; that restatement was checked against numpy on every finite
 * float32. Every fmaf below is one fused operation with one rounding (glibc
 * picks the FMA instruction or an exact emulation), every other float
 * operation rounds to float32 (x86-64 SSE, FLT_EVAL_METHOD 0), and the
 * build's -ffp-contract=off keeps the compiler from fusing anything else.
 */
#include "npymath.h"

#include <math.h>

/* ---------------------------------------------------------------- sin/cos */

/* Beyond these magnitudes numpy hands the element to the C library, whose
 * reduction stays accurate where Cody-Waite's three-part pi/2 does not. */
#define NPY_COS_MAX 0x1.17341p+16f   /* 71476.0625f, 478b9a08 */
#define NPY_SIN_MAX 0x1.cabbfep+16f  /* 117435.9921875f, 47e55dff */

/* 2/pi, and 1.5 * 2^23: adding and subtracting it rounds to an integer. */
#define TWO_OVER_PI 0x1.45f306p-1f   /* 3f22f983 */
#define ROUND_MAGIC 0x1.8p23f        /* 4b400000 */

/* pi/2 in three float32 parts (bfc90fd8, b4a8885a, a7c234c4, negated). */
#define PIO2_HI 0x1.921fb0p+0f
#define PIO2_MID 0x1.5110b4p-22f
#define PIO2_LO 0x1.846988p-48f

/* Returns cos(x) if want_cos, else sin(x), as numpy does. */
static float npymath_trigf(float x, int want_cos)
{
    if (isnan(x) || fabsf(x) > (want_cos ? NPY_COS_MAX : NPY_SIN_MAX))
        return want_cos ? cosf(x) : sinf(x);

    /* numpy's source writes x * (2/pi) + magic, but the compiled kernel
     * (GCC, contraction on) fuses the two: it only matters where x * 2/pi
     * rounds to exactly k + 1/2 in float32, e.g. x = 0x1.f6a7a4p+1. */
    float q = fmaf(x, TWO_OVER_PI, ROUND_MAGIC) - ROUND_MAGIC;

    float r = fmaf(q, -PIO2_HI, x);
    r = fmaf(q, -PIO2_MID, r);
    r = fmaf(q, -PIO2_LO, r);
    float r2 = r * r;

    float c = fmaf(0x1.98e616p-16f, r2, -0x1.6c06dcp-10f);
    c = fmaf(c, r2, 0x1.55553cp-5f);
    c = fmaf(c, r2, -0.5f);
    c = fmaf(c, r2, 1.0f);

    float s = fmaf(0x1.7d3bbcp-19f, r2, -0x1.a06bbap-13f);
    s = fmaf(s, r2, 0x1.11119ap-7f);
    s = fmaf(s, r2, -0x1.555556p-3f);
    s = fmaf(s, r2, 0.0f);
    s = fmaf(s, r, r);

    /* q is an integer of magnitude < 2^17 here, so the cast is exact.
     * Quadrant k: cos(x) = sin(x + pi/2), hence one more for cosine. */
    int k = (int)q + (want_cos ? 1 : 0);
    float v = (k & 1) ? c : s;
    return (k & 2) ? 0.0f - v : v;
}

float npymath_cosf(float x)
{
    return npymath_trigf(x, 1);
}

float npymath_sinf(float x)
{
    return npymath_trigf(x, 0);
}

/* ---------------------------------------------------------------- powers */

/* GCC and Clang rewrite pow(x, 2.0) and powf(x, 2.0f) into x*x even
 * without -ffast-math, which is the correctly rounded square; glibc's pow is
 * not always that (acrobot note 6.2). An exponent the compiler cannot see
 * keeps the library call. */
static volatile double npymath_two = 2.0;
static volatile float npymath_twof = 2.0f;

double npymath_pow2(double x)
{
    return pow(x, npymath_two);
}

float npymath_pow2f(float x)
{
    return powf(x, npymath_twof);
}

/* ---------------------------------------------------------------- modulo */

double npymath_mod(double x, double y)
{
    /* numpy's npy_divmod, which is CPython's float_rem except that y == 0
     * gives fmod's NaN instead of raising. fmod is exact; only the move into
     * y's sign rounds. */
    double m = fmod(x, y);
    if (y == 0.0)
        return m;
    if (m != 0.0) {
        if ((y < 0) != (m < 0))
            m += y;
    } else {
        m = copysign(0.0, y);
    }
    return m;
}
