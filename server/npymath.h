/*
 * npymath.h — numpy's and Python's scalar arithmetic where it is not C's.
 *
 * The classic-control environments (acrobot.c, mountaincar*.c, pendulum.c)
 * are bit-exact with Gymnasium only if a few operations give the bits numpy
 * or Python give, which are not the bits the obvious C gives:
 *
 *  - np.cos/np.sin of a float32 scalar run numpy's own float32 kernel (FMA
 *    Cody-Waite reduction and two polynomials), not glibc's cosf/sinf and
 *    not (float)cos((double)x) (../shared/docs/acrobot-v1-semantics.md 6.1);
 *  - x**2 on a numpy float64 scalar is the C library's pow(x, 2.0), and on
 *    a float32 scalar powf(x, 2.0f); neither is always x*x, and compilers
 *    rewrite both into x*x unless kept from it (acrobot note 6.2, pendulum
 *    note 4.2);
 *  - x % y on float64 is Python's modulo (the sign of y), not fmod
 *    (pendulum note 4.2);
 *  - Python's min(x, hi) and max(x, lo) keep their first argument unless
 *    the second compares strictly greater (smaller), so NaN and -0.0 pass.
 *
 * Pure functions of their arguments; nothing here allocates or fails.
 */
#ifndef NPYMATH_H
#define NPYMATH_H

/* np.cos(np.float32(x)) and np.sin(np.float32(x)) on x86-64 with FMA3, as
 * numpy 1.24-2.x compute them. */
float npymath_cosf(float x);
float npymath_sinf(float x);

/* np.float64(x) ** 2: the C library's pow(x, 2.0), never x*x. */
double npymath_pow2(double x);

/* np.float32(x) ** 2 under numpy 2's promotion: powf(x, 2.0f), never x*x. */
float npymath_pow2f(float x);

/* np.float64(x) % y, which is Python's x % y: fmod, then moved into y's
 * sign, a zero result +0.0 or -0.0 as y. */
double npymath_mod(double x, double y);

/* (double)(float)x: x rounded to float32 and widened back, as numpy's
 * float32 state arrays hold a double. Not the cast alone: GCC 12.2 at -O2
 * (its SLP vectorizer) drops the rounding when two such round trips are
 * stored side by side, e.g. `float p = x, v = y; s->p = p; s->v = v;`
 * stores x and y unrounded. The empty asm makes the float32 value one the
 * compiler cannot see through. */
static inline double npymath_round_f32(double x)
{
    float f = (float)x;
#if defined(__x86_64__) || defined(__i386__)
    __asm__("" : "+x"(f));
#else
    __asm__("" : "+m"(f));
#endif
    return f;
}

/* Python's max(x, lo) and min(x, hi) on floats: x unless lo > x (hi < x). */
static inline double npymath_py_max(double x, double lo)
{
    return lo > x ? lo : x;
}

static inline double npymath_py_min(double x, double hi)
{
    return hi < x ? hi : x;
}

#endif
