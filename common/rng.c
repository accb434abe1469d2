/*
 * rng.c — numpy's SeedSequence and PCG64 (XSL-RR 128/64), bit for bit.
 *
 * Follows ../shared/docs/cartpole-v1-semantics.md section 6: a 4-word pool
 * hashed from the seed's 32-bit words, eight generate_state words paired
 * into the 128-bit initstate and initseq, then PCG64's standard seeding.
 */
#include "rng.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "err.h"

#define SS_INIT_A 0x43b0d7e5u
#define SS_MULT_A 0x931e8875u
#define SS_INIT_B 0x8b51f9ddu
#define SS_MULT_B 0x58f38dedu
#define SS_MIX_L 0xca01f9ddu
#define SS_MIX_R 0x4973f715u
#define SS_POOL 4

static const unsigned __int128 PCG_MULT =
    ((unsigned __int128)0x2360ed051fc65da4ULL << 64) | 0x4385df649fccf645ULL;

static uint32_t ss_hash(uint32_t v, uint32_t *hc)
{
    v ^= *hc;
    *hc *= SS_MULT_A;
    v *= *hc;
    return v ^ (v >> 16);
}

static uint32_t ss_mix(uint32_t a, uint32_t b)
{
    uint32_t r = SS_MIX_L * a - SS_MIX_R * b;
    return r ^ (r >> 16);
}

void rng_seed_words(rng_t *r, const uint32_t *words, size_t n)
{
    uint32_t pool[SS_POOL];
    uint32_t hc = SS_INIT_A;

    for (size_t i = 0; i < SS_POOL; i++)
        pool[i] = ss_hash(i < n ? words[i] : 0, &hc);
    for (size_t src = 0; src < SS_POOL; src++)
        for (size_t dst = 0; dst < SS_POOL; dst++)
            if (dst != src)
                pool[dst] = ss_mix(pool[dst], ss_hash(pool[src], &hc));
    for (size_t i = SS_POOL; i < n; i++)
        for (size_t dst = 0; dst < SS_POOL; dst++)
            pool[dst] = ss_mix(pool[dst], ss_hash(words[i], &hc));

    uint32_t out[8];
    uint32_t hb = SS_INIT_B;
    for (size_t i = 0; i < 8; i++) {
        uint32_t d = pool[i % SS_POOL] ^ hb;
        hb *= SS_MULT_B;
        d *= hb;
        out[i] = d ^ (d >> 16);
    }
    uint64_t s[4];
    for (size_t k = 0; k < 4; k++)
        s[k] = (uint64_t)out[2 * k] | ((uint64_t)out[2 * k + 1] << 32);

    unsigned __int128 initstate = ((unsigned __int128)s[0] << 64) | s[1];
    unsigned __int128 initseq = ((unsigned __int128)s[2] << 64) | s[3];
    r->inc = (initseq << 1) | 1u;
    r->state = 0;
    r->state = r->state * PCG_MULT + r->inc;
    r->state += initstate;
    r->state = r->state * PCG_MULT + r->inc;
}

void rng_seed(rng_t *r, uint64_t seed)
{
    uint32_t words[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    rng_seed_words(r, words, words[1] ? 2 : 1);
}

int rng_os_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return ERR_IO;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* A million unseeded first resets each asked the kernel for 16 bytes, and
 * on a VM a system call costs over a microsecond. OS seeds now come from a
 * per-thread buffer of OS bytes, filled OS_POOL bytes at a time; each byte
 * is handed out once and wiped. A forked child drops its copy of the
 * buffer, or parent and child would draw the same seeds. */
#define OS_POOL 4096

static _Thread_local unsigned char os_pool[OS_POOL];
static _Thread_local size_t os_left;
static pthread_once_t os_once = PTHREAD_ONCE_INIT;

static void os_pool_drop(void) { os_left = 0; }
static void os_pool_init(void) { pthread_atfork(NULL, NULL, os_pool_drop); }

static int os_pool_take(void *out, size_t n)
{
    pthread_once(&os_once, os_pool_init);
    if (os_left < n) {
        int rc = rng_os_bytes(os_pool, OS_POOL);
        if (rc < 0)
            return rc;
        os_left = OS_POOL;
    }
    unsigned char *p = os_pool + (OS_POOL - os_left);
    memcpy(out, p, n);
    memset(p, 0, n);
    os_left -= n;
    return 0;
}

int rng_seed_os(rng_t *r)
{
    uint32_t words[4];
    int rc = os_pool_take(words, sizeof words);
    if (rc < 0)
        return rc;
    /* SeedSequence drops leading zero words of the integer; so do we. */
    size_t n = 4;
    while (n > 1 && words[n - 1] == 0)
        n--;
    rng_seed_words(r, words, n);
    return 0;
}

uint64_t rng_next_u64(rng_t *r)
{
    r->state = r->state * PCG_MULT + r->inc;
    uint64_t hi = (uint64_t)(r->state >> 64);
    uint64_t lo = (uint64_t)r->state;
    uint64_t v = hi ^ lo;
    unsigned rot = (unsigned)(hi >> 58);
    return (v >> rot) | (v << ((64u - rot) & 63u));
}

double rng_next_double(rng_t *r)
{
    return (double)(rng_next_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t rng_below(rng_t *r, uint64_t n)
{
    unsigned __int128 m = (unsigned __int128)rng_next_u64(r) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (unsigned __int128)rng_next_u64(r) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}
