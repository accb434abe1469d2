/*
 * bits.h — the bit patterns of floats, for tests that compare results
 * bit for bit (golden trajectories, seeding vectors, wire round trips).
 *
 * Header-only, as spawn.h: every tests/check_*.c is linked into one runner.
 */
#ifndef BITS_H
#define BITS_H

#include <stdint.h>
#include <string.h>

static inline uint32_t f32_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static inline uint64_t f64_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

#endif
