/*
 * check_rng.c — the numpy-exact random stream against numpy's own numbers.
 *
 * The vectors are section 9 of ../shared/docs/cartpole-v1-semantics.md,
 * computed with numpy 1.24.2: for each seed, PCG64's state and increment
 * right after seeding, the first four raw outputs, and the CartPole state
 * that reset(seed=...) builds from them. rng_below is not numpy's, so it is
 * checked for its contract only.
 */
#include <check.h>
#include <string.h>

#include "bits.h"
#include "cartpole.h"
#include "env.h"
#include "rng.h"

#define U128(hi, lo) (((unsigned __int128)(hi) << 64) | (lo))

typedef struct rng_vector {
    const char *name;            /* the seed in decimal */
    uint32_t words[5];           /* SeedSequence entropy, least significant first */
    size_t nwords;
    unsigned __int128 state, inc; /* PCG64 right after seeding */
    uint64_t out[4];             /* first four next_uint64 */
    uint64_t state64[4];         /* CartPole state after reset, double bits */
    uint32_t obs32[4];           /* and its float32 observation */
} rng_vector_t;

static const rng_vector_t vectors[] = {
    {"0", {0x00000000}, 1,
     U128(0x1aa1b5345996452d, 0x09585eb7a69561e3), U128(0x418ddadb3af71a82, 0x588133bc447873a9),
     {0xa30febcfd9c2825f, 0x4510bdf882d9d721, 0x0a7d3da94ecde8b8, 0x043b27b61342f01d},
     {0x3f8c0cbca647ced0, 0xbf9792e736320f47, 0xbfa7808d4489d6d2, 0xbfa8c0f80ec8f29d},
     {0x3c6065e5, 0xbcbc973a, 0xbd3c046a, 0xbd4607c0}},
    {"1", {0x00000001}, 1,
     U128(0x9c5b484bfedb756c, 0x2a6e7d6f320fbc7e), U128(0x922af2da2645f895, 0xa19857b95740937b),
     {0x8306bdf37922e4ff, 0xf35196bbc152a866, 0x24e7a4f608ec18cd, 0xf2dab0aed2ac6fd2},
     {0x3f535e59496dac00, 0x3fa7105158c043bc, 0xbfa2381235316a62, 0x3fa6f889bc9088e2},
     {0x3a9af2ca, 0x3d38828b, 0xbd11c092, 0x3d37c44e}},
    {"42", {0x0000002a}, 1,
     U128(0xcea44f6798798f2a, 0xacbc7c9d68860ac8), U128(0xfa505436c9a8416e, 0x66caf2e28d25abff),
     {0xc621fbcd16d92688, 0x705a5661a791ffc1, 0xdbcd12c26eda1624, 0xb286b60e1600888d},
     {0x3f9c0d97eba2bd40, 0xbf79090f63c0b010, 0x3fa25c36f3afc536, 0x3f9435e26c08cd04},
     {0x3ce06cbf, 0xbbc8487b, 0x3d12e1b8, 0x3ca1af13}},
    {"4294967296", {0x00000000, 0x00000001}, 2,
     U128(0x24d060cf1520dbdd, 0x21bbf7fbff1ac5d4), U128(0x77ff3ed86c5c5633, 0x7b62eea7340ca9c7),
     {0xe3c5ebe285ac1625, 0x8ea09968fe31dbcc, 0xcd084ff84d8de9be, 0xf4de16ec3a8b9986},
     {0x3fa3f4626081226a, 0x3f77675bdb304fc0, 0x3f9ed01ffcebd25c, 0x3fa75f9e2f3ee8b8},
     {0x3d1fa313, 0x3bbb3adf, 0x3cf68100, 0x3d3afcf1}},
    {"9223372036854775808", {0x00000000, 0x80000000}, 2,
     U128(0x19f38fac928ef115, 0xada495ade18f7415), U128(0x71efe86c260ef309, 0x545d80ba006e813b),
     {0xcfb443e389167cfd, 0x98b11eb7647f71b8, 0xde463a1436212dfd, 0x6cd50b6497ce000b},
     {0x3f9fe1b4c16a08fc, 0x3f83c0e55f839928, 0x3fa2dad86a7139d6, 0xbf7eab20f8a6b668},
     {0x3cff0da6, 0x3c1e072b, 0x3d16d6c3, 0xbbf55908}},
    {"18446744073709551615", {0xffffffff, 0xffffffff}, 2,
     U128(0xddc419442aebde79, 0x4d8b0a3b048acdb0), U128(0x37762aacb3cc854f, 0x4ed623c7d18951ed),
     {0xae163a7a8c47568f, 0xd86659f5f3382359, 0x01e52b195bc2d24a, 0xe5026aaf19a22db1},
     {0x3f926f4a976b4fb8, 0x3fa1ae11fdfd71a0, 0xbfa93890faeda5d7, 0x3fa433aeefd1ed3c},
     {0x3c937a55, 0x3d0d7090, 0xbd49c488, 0x3d219d77}},
    /* 2^128 + 1: five entropy words, the only path through the extra-word mixing. */
    {"340282366920938463463374607431768211457",
     {0x00000001, 0x00000000, 0x00000000, 0x00000000, 0x00000001}, 5,
     U128(0x653fbbd194f6e4e4, 0x7459f08a4f217764), U128(0xdb2a70e54109f667, 0x627ae06540f7c471),
     {0x79cbb417f0f216fa, 0x99c0296124ccf668, 0x3ebdf884ef5e1f5e, 0x39b3403a0845760d},
     {0xbf63da8c80302ca0, 0x3f8499bab41d70c0, 0xbf9a1a69646d0d90, 0xbf9c1eb31bfcb107},
     {0xbb1ed464, 0x3c24cdd6, 0xbcd0d34b, 0xbce0f599}},
};

#define NVECTORS (int)(sizeof vectors / sizeof vectors[0])

static void ck_rng_equals(const rng_t *r, const rng_vector_t *v, const char *how)
{
    ck_assert_msg(r->state == v->state, "seed %s (%s): state after seeding differs", v->name, how);
    ck_assert_msg(r->inc == v->inc, "seed %s (%s): inc after seeding differs", v->name, how);
}

START_TEST(test_seed_words_matches_numpy)
{
    const rng_vector_t *v = &vectors[_i];
    rng_t r;

    rng_seed_words(&r, v->words, v->nwords);
    ck_rng_equals(&r, v, "rng_seed_words");
    for (int k = 0; k < 4; k++) {
        uint64_t got = rng_next_u64(&r);
        ck_assert_msg(got == v->out[k], "seed %s: next_u64 #%d = %016llx, numpy %016llx", v->name,
                      k + 1, (unsigned long long)got, (unsigned long long)v->out[k]);
    }
}
END_TEST

START_TEST(test_seed_u64_matches_numpy)
{
    const rng_vector_t *v = &vectors[_i];
    rng_t r;

    if (v->nwords > 2)
        return; /* beyond uint64: rng_seed_words only */
    uint64_t seed = v->words[0] | (v->nwords > 1 ? (uint64_t)v->words[1] << 32 : 0);
    rng_seed(&r, seed);
    ck_rng_equals(&r, v, "rng_seed");
}
END_TEST

/* The draws -> initial state step, through CartPole's own reset. */
START_TEST(test_cartpole_initial_state_matches_gymnasium)
{
    const rng_vector_t *v = &vectors[_i];
    rng_t r;
    cartpole_t cp;
    float obs[4];
    errbuf_t e;

    rng_seed_words(&r, v->words, v->nwords);
    ck_assert_int_eq(cartpole_v1_class.init(&cp, NULL, 0, &e), 0);
    ck_assert_int_eq(cartpole_v1_class.reset(&cp, &r, NULL, 0, obs, &e), 0);
    const double s[4] = {cp.x, cp.x_dot, cp.theta, cp.theta_dot};
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(f64_bits(s[k]) == v->state64[k], "seed %s: state[%d] = %016llx, want %016llx",
                      v->name, k, (unsigned long long)f64_bits(s[k]),
                      (unsigned long long)v->state64[k]);
        ck_assert_msg(f32_bits(obs[k]) == v->obs32[k], "seed %s: obs[%d] = %08x, want %08x",
                      v->name, k, f32_bits(obs[k]), v->obs32[k]);
    }
}
END_TEST

START_TEST(test_below_stays_in_range_and_hits_every_value)
{
    enum { N = 7, DRAWS = 10000 };
    int hits[N] = {0};
    rng_t r;

    rng_seed(&r, 12345);
    for (int k = 0; k < DRAWS; k++) {
        uint64_t x = rng_below(&r, N);
        ck_assert_uint_lt(x, N);
        hits[x]++;
    }
    for (int k = 0; k < N; k++)
        ck_assert_msg(hits[k] > 0, "rng_below(%d) never gave %d in %d draws", N, k, DRAWS);
    for (int k = 0; k < 100; k++)
        ck_assert_uint_eq(rng_below(&r, 1), 0);
}
END_TEST

/* A bound just above 2^63 rejects almost half of all raw outputs, so this
 * exercises the retry loop. */
START_TEST(test_below_large_bound_stays_in_range)
{
    const uint64_t n = (UINT64_C(1) << 63) + 1;
    rng_t r;

    rng_seed(&r, 7);
    for (int k = 0; k < 10000; k++)
        ck_assert_uint_lt(rng_below(&r, n), n);
}
END_TEST

Suite *rng_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("numpy");
    tcase_add_loop_test(tc, test_seed_words_matches_numpy, 0, NVECTORS);
    tcase_add_loop_test(tc, test_seed_u64_matches_numpy, 0, NVECTORS);
    tcase_add_loop_test(tc, test_cartpole_initial_state_matches_gymnasium, 0, NVECTORS);
    suite_add_tcase(s, tc);
    tc = tcase_create("below");
    tcase_add_test(tc, test_below_stays_in_range_and_hits_every_value);
    tcase_add_test(tc, test_below_large_bound_stays_in_range);
    suite_add_tcase(s, tc);
    return s;
}
