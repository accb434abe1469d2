/*
 * check_replay.c — the replay ring: wrap-around, saturation, and sampling
 * that returns whole stored rows, deterministically, covering them all.
 *
 * Row k added carries a recognisable pattern: obs = (k, k + 0.5, ...),
 * next_obs = obs + 1000, action = k % 7, reward = k * 0.25,
 * terminated = k % 3 == 0, truncated = k % 5 == 0, so any sampled row can
 * be traced back to k and checked field by field.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "replay.h"
#include "rng.h"

#define DIM 3

/* A buffer the test needs: the constructor failing fails the test with its reason. */
static replay_t *new_replay(size_t cap, int obs_dim)
{
    replay_t *r = NULL;
    errbuf_t e;
    ck_assert_msg(replay_new(cap, obs_dim, &r, &e) == 0, "%s", e.msg);
    return r;
}

static void row(int k, float *obs, float *next)
{
    for (int j = 0; j < DIM; j++) {
        obs[j] = (float)k + 0.5f * (float)j;
        next[j] = obs[j] + 1000.0f;
    }
}

static void add_rows(replay_t *r, int from, int to)
{
    float obs[DIM], next[DIM];
    for (int k = from; k < to; k++) {
        row(k, obs, next);
        replay_add(r, obs, k % 7, (float)k * 0.25f, next, k % 3 == 0, k % 5 == 0);
    }
}

/* The k whose row this is, after checking all its fields agree. */
static int check_row(const float *obs, int32_t act, float rew, const float *next, uint8_t term)
{
    int k = (int)obs[0];
    float eo[DIM], en[DIM];
    row(k, eo, en);
    ck_assert_int_eq(memcmp(obs, eo, sizeof(eo)), 0);
    ck_assert_int_eq(memcmp(next, en, sizeof(en)), 0);
    ck_assert_int_eq(act, k % 7);
    ck_assert_float_eq(rew, (float)k * 0.25f);
    ck_assert_int_eq(term, k % 3 == 0);
    return k;
}

START_TEST(test_new_rejects_bad_sizes_and_destroy_is_safe_twice)
{
    int sizes[2][2] = {{0, 4}, {10, 0}};
    for (int i = 0; i < 2; i++) {
        replay_t *bad = (replay_t *)&bad; /* not NULL: the constructor must clear it */
        errbuf_t e;
        err_clear(&e);
        ck_assert_int_eq(replay_new((size_t)sizes[i][0], sizes[i][1], &bad, &e),
                         ERR_INVALID_ARGUMENT);
        ck_assert_ptr_null(bad);
        ck_assert_str_ne(e.msg, "");
    }
    replay_t *r = new_replay(10, 4);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(replay_size(r), 0);
    ck_assert_uint_eq(replay_capacity(r), 10);
    ck_assert_int_eq(replay_obs_dim(r), 4);
    replay_destroy(&r);
    ck_assert_ptr_null(r);
    replay_destroy(&r);
    replay_destroy(NULL);
}
END_TEST

START_TEST(test_size_saturates_at_capacity)
{
    replay_t *r = new_replay(5, DIM);
    for (int k = 0; k < 12; k++) {
        add_rows(r, k, k + 1);
        ck_assert_uint_eq(replay_size(r), k + 1 < 5 ? (size_t)k + 1 : 5);
        ck_assert_uint_eq(replay_added(r), (uint64_t)k + 1);
    }
    replay_clear(r);
    ck_assert_uint_eq(replay_size(r), 0);
    replay_destroy(&r);
}
END_TEST

START_TEST(test_wrap_around_overwrites_oldest)
{
    replay_t *r = new_replay(4, DIM);
    add_rows(r, 0, 6);  /* rows 0..5 into 4 slots: 4 and 5 replace 0 and 1 */
    const int want[4] = {4, 5, 2, 3};
    for (int i = 0; i < 4; i++) {
        int k = check_row(replay_obs(r) + i * DIM, replay_action(r)[i], replay_reward(r)[i],
                          replay_next_obs(r) + i * DIM, replay_terminated(r)[i]);
        ck_assert_int_eq(k, want[i]);
        ck_assert_int_eq(replay_truncated(r)[i], k % 5 == 0);
    }
    replay_destroy(&r);
}
END_TEST

START_TEST(test_add_batch_equals_single_adds)
{
    enum { N = 11, CAP = 8 };
    replay_t *a = new_replay(CAP, DIM), *b = new_replay(CAP, DIM);
    float obs[N * DIM], next[N * DIM], rew[N];
    int32_t act[N];
    uint8_t term[N], trunc[N];
    for (int k = 0; k < N; k++) {
        row(k, obs + k * DIM, next + k * DIM);
        act[k] = k % 7;
        rew[k] = (float)k * 0.25f;
        term[k] = k % 3 == 0;
        trunc[k] = k % 5 == 0;
    }
    add_rows(a, 0, N);
    replay_add_batch(b, N, obs, act, rew, next, term, trunc);
    ck_assert_uint_eq(replay_added(a), replay_added(b));
    ck_assert_int_eq(memcmp(replay_obs(a), replay_obs(b), sizeof(float) * CAP * DIM), 0);
    ck_assert_int_eq(memcmp(replay_next_obs(a), replay_next_obs(b), sizeof(float) * CAP * DIM), 0);
    ck_assert_int_eq(memcmp(replay_action(a), replay_action(b), sizeof(int32_t) * CAP), 0);
    ck_assert_int_eq(memcmp(replay_reward(a), replay_reward(b), sizeof(float) * CAP), 0);
    ck_assert_int_eq(memcmp(replay_terminated(a), replay_terminated(b), CAP), 0);
    ck_assert_int_eq(memcmp(replay_truncated(a), replay_truncated(b), CAP), 0);
    replay_add_batch(b, 1, obs, act, rew, next, term, NULL);  /* truncated NULL: 0 */
    ck_assert_int_eq(replay_truncated(b)[N % CAP], 0);
    replay_destroy(&a);
    replay_destroy(&b);
}
END_TEST

START_TEST(test_sample_empty_is_precondition_error)
{
    replay_t *r = new_replay(4, DIM);
    rng_t g, g0;
    rng_seed(&g, 1);
    g0 = g;
    float obs[DIM];
    ck_assert_int_eq(replay_sample(r, &g, 1, obs, NULL, NULL, NULL, NULL),
                     ERR_FAILED_PRECONDITION);
    ck_assert(g.state == g0.state);
    add_rows(r, 0, 1);
    ck_assert_int_eq(replay_sample(r, &g, -1, obs, NULL, NULL, NULL, NULL), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(replay_sample(r, &g, 0, obs, NULL, NULL, NULL, NULL), 0);
    replay_destroy(&r);
}
END_TEST

/* After wrap-around, samples are only rows still stored, each whole. */
START_TEST(test_sample_returns_only_stored_rows_whole)
{
    enum { CAP = 10, B = 256 };
    replay_t *r = new_replay(CAP, DIM);
    add_rows(r, 0, 25);  /* rows 15..24 remain */
    rng_t g;
    rng_seed(&g, 99);
    float obs[B * DIM], next[B * DIM], rew[B];
    int32_t act[B];
    uint8_t term[B];
    ck_assert_int_eq(replay_sample(r, &g, B, obs, act, rew, next, term), 0);
    for (int b = 0; b < B; b++) {
        int k = check_row(obs + b * DIM, act[b], rew[b], next + b * DIM, term[b]);
        ck_assert_int_ge(k, 15);
        ck_assert_int_le(k, 24);
    }
    /* Partly filled: only rows 0..2 exist. */
    replay_t *p = new_replay(CAP, DIM);
    add_rows(p, 0, 3);
    ck_assert_int_eq(replay_sample(p, &g, B, obs, act, rew, next, term), 0);
    for (int b = 0; b < B; b++)
        ck_assert_int_le(check_row(obs + b * DIM, act[b], rew[b], next + b * DIM, term[b]), 2);
    replay_destroy(&p);
    replay_destroy(&r);
}
END_TEST

START_TEST(test_sample_deterministic_for_same_seed)
{
    enum { B = 64 };
    replay_t *r = new_replay(50, DIM);
    add_rows(r, 0, 73);
    float o1[B * DIM], o2[B * DIM], n1[B * DIM], n2[B * DIM], r1[B], r2[B];
    int32_t a1[B], a2[B];
    uint8_t t1[B], t2[B];
    rng_t g;
    rng_seed(&g, 5);
    replay_sample(r, &g, B, o1, a1, r1, n1, t1);
    rng_seed(&g, 5);
    replay_sample(r, &g, B, o2, a2, r2, n2, t2);
    ck_assert_int_eq(memcmp(o1, o2, sizeof(o1)), 0);
    ck_assert_int_eq(memcmp(n1, n2, sizeof(n1)), 0);
    ck_assert_int_eq(memcmp(a1, a2, sizeof(a1)), 0);
    ck_assert_int_eq(memcmp(r1, r2, sizeof(r1)), 0);
    ck_assert_int_eq(memcmp(t1, t2, sizeof(t1)), 0);
    /* The draws are rng_below(size) in order: slot i holds row i + 50 for
     * i < 23 (overwritten), else row i. */
    rng_seed(&g, 5);
    for (int b = 0; b < B; b++) {
        int i = (int)rng_below(&g, 50);
        ck_assert_int_eq((int)o1[b * DIM], i < 23 ? i + 50 : i);
    }
    /* Another seed gives another batch. */
    rng_seed(&g, 6);
    replay_sample(r, &g, B, o2, NULL, NULL, NULL, NULL);
    ck_assert_int_ne(memcmp(o1, o2, sizeof(o1)), 0);
    replay_destroy(&r);
}
END_TEST

START_TEST(test_every_stored_row_gets_sampled)
{
    enum { CAP = 100, B = 32 };
    replay_t *r = new_replay(CAP, DIM);
    add_rows(r, 0, 130);
    int seen[130] = {0};
    rng_t g;
    rng_seed(&g, 123);
    float obs[B * DIM];
    /* 3200 draws over 100 rows: each is missed with probability
     * (0.99)^3200 ~ 1e-14, and the seed is fixed anyway. */
    for (int it = 0; it < 100; it++) {
        ck_assert_int_eq(replay_sample(r, &g, B, obs, NULL, NULL, NULL, NULL), 0);
        for (int b = 0; b < B; b++)
            seen[(int)obs[b * DIM]]++;
    }
    for (int k = 0; k < 30; k++)
        ck_assert_int_eq(seen[k], 0);
    for (int k = 30; k < 130; k++)
        ck_assert_int_gt(seen[k], 0);
    replay_destroy(&r);
}
END_TEST

/* A checkpoint round trip through the field accessors. */
START_TEST(test_restore_through_accessors)
{
    enum { CAP = 6 };
    replay_t *a = new_replay(CAP, DIM), *b = new_replay(CAP, DIM);
    add_rows(a, 0, 9);
    memcpy(replay_obs(b), replay_obs(a), sizeof(float) * CAP * DIM);
    memcpy(replay_next_obs(b), replay_next_obs(a), sizeof(float) * CAP * DIM);
    memcpy(replay_action(b), replay_action(a), sizeof(int32_t) * CAP);
    memcpy(replay_reward(b), replay_reward(a), sizeof(float) * CAP);
    memcpy(replay_terminated(b), replay_terminated(a), CAP);
    memcpy(replay_truncated(b), replay_truncated(a), CAP);
    replay_set_added(b, replay_added(a));
    ck_assert_uint_eq(replay_size(b), CAP);
    /* Both continue identically: same next slot, same samples. */
    add_rows(a, 9, 11);
    add_rows(b, 9, 11);
    ck_assert_int_eq(memcmp(replay_obs(a), replay_obs(b), sizeof(float) * CAP * DIM), 0);
    rng_t g1, g2;
    rng_seed(&g1, 8);
    rng_seed(&g2, 8);
    float o1[16 * DIM], o2[16 * DIM];
    replay_sample(a, &g1, 16, o1, NULL, NULL, NULL, NULL);
    replay_sample(b, &g2, 16, o2, NULL, NULL, NULL, NULL);
    ck_assert_int_eq(memcmp(o1, o2, sizeof(o1)), 0);
    replay_destroy(&a);
    replay_destroy(&b);
}
END_TEST

Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_new_rejects_bad_sizes_and_destroy_is_safe_twice);
    tcase_add_test(tc, test_size_saturates_at_capacity);
    tcase_add_test(tc, test_wrap_around_overwrites_oldest);
    tcase_add_test(tc, test_add_batch_equals_single_adds);
    tcase_add_test(tc, test_sample_empty_is_precondition_error);
    tcase_add_test(tc, test_sample_returns_only_stored_rows_whole);
    tcase_add_test(tc, test_sample_deterministic_for_same_seed);
    tcase_add_test(tc, test_every_stored_row_gets_sampled);
    tcase_add_test(tc, test_restore_through_accessors);
    suite_add_tcase(s, tc);
    return s;
}
