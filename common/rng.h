/*
 * rng.h — numpy-exact random numbers: SeedSequence -> PCG64 -> doubles.
 *
 * rng_seed(s) followed by rng_next_double() gives bit for bit the stream of
 * np.random.Generator(np.random.PCG64(np.random.SeedSequence(s))).random(),
 * which is what Gymnasium's reset(seed=s) draws from (see
 * ../shared/docs/cartpole-v1-semantics.md, section 6). The state is a plain
 * struct so that it can live inside a session and be saved in a checkpoint.
 */
#ifndef RNG_H
#define RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng {
    unsigned __int128 state;
    unsigned __int128 inc;
} rng_t;

/* Seeds from SeedSequence(entropy words), least significant word first,
 * as numpy splits an integer seed into 32-bit words. n >= 1. */
void rng_seed_words(rng_t *r, const uint32_t *words, size_t n);

/* Seeds from a 64-bit integer seed: SeedSequence(seed). */
void rng_seed(rng_t *r, uint64_t seed);

/* Seeds from 128 bits of OS entropy, as SeedSequence(None) does; the bytes
 * come from a per-thread buffer of OS random bytes, each used once.
 * Returns 0 or ERR_IO. */
int rng_seed_os(rng_t *r);

/* The next raw 64-bit output (PCG64 XSL-RR). */
uint64_t rng_next_u64(rng_t *r);

/* A double in [0, 1): (next_u64 >> 11) * 2^-53. */
double rng_next_double(rng_t *r);

/* An integer in [0, n), n > 0, without modulo bias (Lemire's method). Not
 * numpy's integers(); used by the agent, not the environments. */
uint64_t rng_below(rng_t *r, uint64_t n);

/* Fills buf with n bytes from the OS random source. Returns 0 or ERR_IO. */
int rng_os_bytes(void *buf, size_t n);

#endif
