/*
 * check_npymath.c — npymath.c against values numpy and glibc give.
 *
 * The sin/cos table was computed with np.cos/np.sin on np.float32 scalars
 * (numpy 1.24.2, FMA3 dispatch, the kernel numpy 2 keeps), including the
 * two examples of ../shared/docs/acrobot-v1-semantics.md 6.1 and both sides
 * of the thresholds where numpy hands over to glibc. The pow examples are
 * the notes' (acrobot 6.2, pendulum 4.2): inputs where the library's pow or
 * powf is not x*x, so a compiler that folded the call would fail them.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bits.h"
#include "npymath.h"

static float f32_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

START_TEST(test_float32_sin_cos_match_numpy)
{
    static const struct {
        uint32_t x, cos, sin;
    } v[] = {
        {0x00000000, 0x3f800000, 0x00000000}, /* 0.0 */
        {0x80000000, 0x3f800000, 0x80000000}, /* -0.0 */
        {0x0da24260, 0x3f800000, 0x0da24260}, /* 1e-30 */
        {0x3f800000, 0x3f0a5140, 0x3f576aa5}, /* 1.0 */
        {0xbf800000, 0x3f0a5140, 0xbf576aa5}, /* -1.0 */
        {0x3f000000, 0x3f60a940, 0x3ef57744}, /* 0.5 */
        {0x3f490fdb, 0x3f3504f3, 0x3f3504f3}, /* pi/4 */
        {0x3fc90fdb, 0xb33bbd2e, 0x3f800000}, /* pi/2 */
        {0xbfc90fdb, 0xb33bbd2e, 0xbf800000}, /* -pi/2 */
        {0x40490fdb, 0xbf800000, 0xb3bbbd2e}, /* pi */
        {0x4096cbe4, 0x324cde2e, 0xbf800000}, /* 3 pi/2 */
        /* x * 2/pi rounds to k + 1/2: the fused multiply-add matters
         * (unfused, cos would be bf3504f2). */
        {0x407b53d2, 0xbf3504f1, 0xbf3504f5}, /* 3.9269909858703613 */
        /* Seed 835's theta1: glibc cosf gives 3f7f5a6b. */
        {0x3d919d66, 0x3f7f5a6a, 0x3d917dff},
        {0x41200000, 0xbf56cd64, 0xbf0b44f7}, /* 10.0 */
        {0xc2c88000, 0x3f75f639, 0x3e8df805}, /* -100.25 */
        {0x447a2000, 0x3dc6dffc, 0x3f7eca46}, /* 1000.5 */
        {0xc640e6b6, 0x3f35be20, 0x3f344b09}, /* -12345.677734375 */
        {0x478b9a08, 0x3def8fc6, 0xbf7e3e19}, /* 71476.0625: last cos by the kernel */
        {0x478b9a09, 0x3dff71be, 0xbf7e0039}, /* 71476.0703125 */
        {0x47e55dff, 0xbf7e3e64, 0xbdef7be3}, /* 117435.9921875: last sin by the kernel */
        {0x47e55e00, 0xbf7e0089, 0xbdff5de0}, /* 117436.0 */
        {0x501502f9, 0x3f5f84c5, 0xbef99a64}, /* 1e10 */
        {0xff61b1e6, 0xbef7f57c, 0xbf5ff9c4}, /* -3e38 */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        float x = f32_of(v[i].x);
        ck_assert_msg(f32_bits(npymath_cosf(x)) == v[i].cos, "cos(%08x) = %08x, want %08x",
                      v[i].x, f32_bits(npymath_cosf(x)), v[i].cos);
        ck_assert_msg(f32_bits(npymath_sinf(x)) == v[i].sin, "sin(%08x) = %08x, want %08x",
                      v[i].x, f32_bits(npymath_sinf(x)), v[i].sin);
    }
}
END_TEST

/* Beyond the kernel's range numpy calls glibc, and so does npymath. */
START_TEST(test_float32_sin_cos_beyond_range_are_glibcs)
{
    const float xs[] = {0x1.17342p+16f, -0x1.17342p+16f, 1e20f, -3e38f, INFINITY};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        ck_assert_uint_eq(f32_bits(npymath_cosf(xs[i])), f32_bits(cosf(xs[i])));
        if (fabsf(xs[i]) > 0x1.cabbfep+16f)
            ck_assert_uint_eq(f32_bits(npymath_sinf(xs[i])), f32_bits(sinf(xs[i])));
    }
    ck_assert(isnan(npymath_cosf(NAN)) && isnan(npymath_sinf(NAN)));
    ck_assert(isnan(npymath_cosf(INFINITY)) && isnan(npymath_sinf(-INFINITY)));
}
END_TEST

START_TEST(test_pow2_is_the_library_pow_not_x_times_x)
{
    volatile double x = -0x1.f00b703d46e0ap+1;
    ck_assert_uint_eq(f64_bits(npymath_pow2(x)), f64_bits(0x1.e09629b824902p+3));
    ck_assert_uint_eq(f64_bits(x * x), f64_bits(0x1.e09629b824901p+3));
    ck_assert(npymath_pow2(3.0) == 9.0 && npymath_pow2(-0.5) == 0.25);
    ck_assert_uint_eq(f64_bits(npymath_pow2(-0.0)), 0);
}
END_TEST

START_TEST(test_pow2f_is_the_library_powf_not_u_times_u)
{
    volatile float u = 0x1.ff8626p+0f, w = 0x1.001p-2f;
    ck_assert_uint_eq(f32_bits(npymath_pow2f(u)), f32_bits(0x1.ff0c6ap+1f));
    ck_assert_uint_eq(f32_bits(u * u), f32_bits(0x1.ff0c68p+1f));
    ck_assert_uint_eq(f32_bits(npymath_pow2f(w)), f32_bits(0x1.002002p-4f));
    ck_assert_uint_eq(f32_bits(npymath_pow2f(-w)), f32_bits(0x1.002002p-4f));
    ck_assert_uint_eq(f32_bits(w * w), f32_bits(0x1.002p-4f));
    ck_assert(npymath_pow2f(2.0f) == 4.0f);
}
END_TEST

START_TEST(test_mod_takes_the_sign_of_the_divisor)
{
    const double tp = 2 * M_PI;
    /* fmod is exact; moving up by 2 pi rounds once. */
    ck_assert(npymath_mod(7.0, tp) == 7.0 - tp);
    ck_assert(npymath_mod(-1.0, tp) == -1.0 + tp);
    ck_assert(npymath_mod(-7.0, tp) == fmod(-7.0, tp) + tp);
    /* A remainder too small to survive the move gives exactly 2 pi. */
    ck_assert(npymath_mod(-1e-300, tp) == tp);
    /* Zero results are +0.0 for a positive divisor, -0.0 for a negative. */
    ck_assert_uint_eq(f64_bits(npymath_mod(tp, tp)), 0);
    ck_assert_uint_eq(f64_bits(npymath_mod(-tp, tp)), 0);
    ck_assert_uint_eq(f64_bits(npymath_mod(-0.0, tp)), 0);
    ck_assert_uint_eq(f64_bits(npymath_mod(3.0, -3.0)), f64_bits(-0.0));
    ck_assert(npymath_mod(1.0, -3.0) == -2.0);
    ck_assert(npymath_mod(-1.0, -3.0) == -1.0);
    /* numpy's NaN cases (Python would raise for y = 0). */
    ck_assert(isnan(npymath_mod(NAN, tp)) && isnan(npymath_mod(INFINITY, tp)));
    ck_assert(isnan(npymath_mod(1.0, 0.0)));
}
END_TEST

START_TEST(test_python_min_max_keep_the_first_argument)
{
    ck_assert(npymath_py_max(0.5, -1.0) == 0.5);
    ck_assert(npymath_py_max(-2.0, -1.0) == -1.0);
    ck_assert(npymath_py_min(2.0, 1.0) == 1.0);
    ck_assert(isnan(npymath_py_max(NAN, -1.0)) && isnan(npymath_py_min(NAN, 1.0)));
    /* Equal values: the first one stays, sign of zero included. */
    ck_assert_uint_eq(f64_bits(npymath_py_max(-0.0, 0.0)), f64_bits(-0.0));
    ck_assert_uint_eq(f64_bits(npymath_py_min(0.0, -0.0)), 0);
}
END_TEST

typedef struct pair {
    double a, b;
} pair_t;

/* The pattern GCC 12.2's SLP vectorizer gets wrong: two round trips
 * stored side by side. With plain casts it stores x and y unrounded (this
 * test then fails); noipa keeps the calls' constants from folding it. */
static void __attribute__((noipa)) store_rounded(pair_t *p, double x, double y)
{
    p->a = npymath_round_f32(x);
    p->b = npymath_round_f32(y);
}

START_TEST(test_round_f32_rounds_even_in_pairs)
{
    pair_t p;
    store_rounded(&p, 0.1, -1.2);
    ck_assert_uint_eq(f64_bits(p.a), f64_bits(0x1.99999ap-4));
    ck_assert_uint_eq(f64_bits(p.b), f64_bits(-0x1.333334p+0));
    ck_assert(npymath_round_f32(1e39) == INFINITY);
    ck_assert_uint_eq(f64_bits(npymath_round_f32(-0.0)), f64_bits(-0.0));
}
END_TEST

Suite *npymath_suite(void)
{
    Suite *s = suite_create("npymath");
    TCase *tc = tcase_create("npymath");
    tcase_add_test(tc, test_float32_sin_cos_match_numpy);
    tcase_add_test(tc, test_float32_sin_cos_beyond_range_are_glibcs);
    tcase_add_test(tc, test_pow2_is_the_library_pow_not_x_times_x);
    tcase_add_test(tc, test_pow2f_is_the_library_powf_not_u_times_u);
    tcase_add_test(tc, test_mod_takes_the_sign_of_the_divisor);
    tcase_add_test(tc, test_python_min_max_keep_the_first_argument);
    tcase_add_test(tc, test_round_f32_rounds_even_in_pairs);
    suite_add_tcase(s, tc);
    return s;
}
