/*
 * check_session.c — the session table: ids, lookup, limit, LRU and reclaim.
 *
 * The clock is a parameter of every call, so TTL and LRU behaviour are
 * tested at exact millisecond boundaries without sleeping. The index (open
 * addressing with backward-shift deletion) and the LRU list are checked
 * against a plain reference array through tens of thousands of random
 * creates, closes, touches and reaps, across several index doublings.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "session.h"

static session_table_t *table_new(size_t max_sessions)
{
    session_table_t *t = NULL;
    errbuf_t e;
    ck_assert_msg(session_table_new(max_sessions, &t, &e) == 0, "session_table_new: %s", e.msg);
    return t;
}

static const env_class_t *cartpole(void)
{
    const env_class_t *cls = env_find("CartPole-v1");
    ck_assert_ptr_nonnull(cls);
    return cls;
}

static session_t *create_ok(session_table_t *t, uint64_t now_ms)
{
    session_t *s = NULL;
    errbuf_t e;
    ck_assert_msg(session_create(t, cartpole(), NULL, 0, now_ms, &s, &e) == 0, "%s", e.msg);
    ck_assert_ptr_nonnull(s);
    return s;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_create_find_close)
{
    session_table_t *t = table_new(10);
    session_t *s[3];

    ck_assert_uint_eq(session_count(t), 0);
    ck_assert_uint_eq(session_max(t), 10);
    for (int i = 0; i < 3; i++) {
        s[i] = create_ok(t, 5);
        ck_assert_uint_ne(s[i]->id, 0);
        ck_assert_ptr_eq(s[i]->env.cls, cartpole());
        ck_assert_uint_eq(s[i]->last_used_ms, 5);
        ck_assert_int_eq(s[i]->env.has_reset, 0);
    }
    ck_assert_uint_eq(session_count(t), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_eq(session_find(t, s[i]->id), s[i]);
    uint64_t gone = s[1]->id;
    session_close(t, s[1]);
    ck_assert_uint_eq(session_count(t), 2);
    ck_assert_ptr_null(session_find(t, gone));
    ck_assert_ptr_eq(session_find(t, s[0]->id), s[0]);
    ck_assert_ptr_eq(session_find(t, s[2]->id), s[2]);
    ck_assert_ptr_null(session_find(t, 0));
    session_table_destroy(&t);
    ck_assert_ptr_null(t);
    session_table_destroy(&t); /* safe twice */
}
END_TEST

START_TEST(test_make_options_reach_the_env_and_bad_ones_create_nothing)
{
    session_table_t *t = table_new(10);
    option_t steps = {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 7};
    option_t bad = {.key = "no_such_option", .type = OPTION_BOOL, .v.b = true};
    session_t *s = NULL;
    errbuf_t e;

    ck_assert_int_eq(session_create(t, cartpole(), &steps, 1, 0, &s, &e), 0);
    ck_assert_uint_eq(s->env.max_steps, 7);
    s = NULL;
    ck_assert_int_eq(session_create(t, cartpole(), &bad, 1, 0, &s, &e), ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(e.msg, "no_such_option"), "%s", e.msg);
    ck_assert_uint_eq(session_count(t), 1);
    /* The failed create left nothing on the LRU list: one reap takes all. */
    ck_assert_uint_eq(session_reap(t, 1000, 1), 1);
    ck_assert_uint_eq(session_count(t), 0);
    session_table_destroy(&t);
}
END_TEST

/* 5000 sessions: several index doublings from the initial 1024 slots. */
START_TEST(test_ids_are_unique_and_nonzero_across_index_growth)
{
    enum { N = 5000 };
    session_table_t *t = table_new(N);
    uint64_t *ids = malloc(N * sizeof *ids);
    size_t bytes0 = session_index_bytes(t);

    for (size_t i = 0; i < N; i++) {
        session_t *s = create_ok(t, i);
        ck_assert_uint_ne(s->id, 0);
        ids[i] = s->id;
        /* at most half full, so that probe runs stay short */
        ck_assert_uint_ge(session_index_bytes(t) / sizeof(void *), 2 * session_count(t));
    }
    ck_assert_uint_gt(session_index_bytes(t), bytes0);
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(session_find(t, ids[i]) && session_find(t, ids[i])->id == ids[i],
                      "session %zu lost after growth", i);
    qsort(ids, N, sizeof *ids, cmp_u64);
    for (size_t i = 1; i < N; i++)
        ck_assert_msg(ids[i] != ids[i - 1], "id %llx issued twice", (unsigned long long)ids[i]);
    free(ids);
    session_table_destroy(&t);
}
END_TEST

START_TEST(test_limit_is_resource_exhausted_and_frees_up_on_close)
{
    session_table_t *t = table_new(3);
    session_t *s[3], *extra = NULL;
    errbuf_t e;

    for (int i = 0; i < 3; i++)
        s[i] = create_ok(t, 0);
    ck_assert_int_eq(session_create(t, cartpole(), NULL, 0, 0, &extra, &e),
                     ERR_RESOURCE_EXHAUSTED);
    ck_assert_ptr_null(extra);
    ck_assert_msg(strstr(e.msg, "limit"), "%s", e.msg);
    ck_assert_uint_eq(session_count(t), 3);
    session_close(t, s[0]);
    extra = create_ok(t, 0);
    ck_assert_uint_eq(session_count(t), 3);
    ck_assert_ptr_eq(session_find(t, extra->id), extra);
    session_table_destroy(&t);
}
END_TEST

/* Reclaimed: last use + ttl <= now. One millisecond either side. */
START_TEST(test_reap_by_ttl_with_an_explicit_clock)
{
    session_table_t *t = table_new(10);
    session_t *a = create_ok(t, 1000);
    session_t *b = create_ok(t, 1100);
    uint64_t ida = a->id, idb = b->id;

    ck_assert_uint_eq(session_reap(t, 1099, 100), 0);
    ck_assert_ptr_eq(session_find(t, ida), a);
    ck_assert_uint_eq(session_reap(t, 1100, 100), 1);
    ck_assert_ptr_null(session_find(t, ida));
    ck_assert_ptr_eq(session_find(t, idb), b);
    ck_assert_uint_eq(session_reap(t, 1199, 100), 0);
    ck_assert_uint_eq(session_reap(t, 1200, 100), 1);
    ck_assert_ptr_null(session_find(t, idb));
    ck_assert_uint_eq(session_count(t), 0);
    ck_assert_uint_eq(session_reap(t, 1000000, 100), 0);
    session_table_destroy(&t);
}
END_TEST

/* Touching moves a session to the young end: a session created first but
 * used last outlives the ones created after it. */
START_TEST(test_touch_keeps_a_session_alive_in_lru_order)
{
    session_table_t *t = table_new(10);
    session_t *a = create_ok(t, 0);
    session_t *b = create_ok(t, 10);
    session_t *c = create_ok(t, 20);
    uint64_t ida = a->id, idb = b->id, idc = c->id;

    session_touch(t, a, 30);   /* head to tail: b, c, a */
    ck_assert_uint_eq(a->last_used_ms, 30);
    session_touch(t, a, 31);   /* already the tail */
    session_touch(t, c, 32);   /* middle to tail: b, a, c */
    ck_assert_uint_eq(session_reap(t, 129, 100), 1); /* b (10), not c (created 20) */
    ck_assert_ptr_null(session_find(t, idb));
    ck_assert_ptr_eq(session_find(t, idc), c);
    ck_assert_uint_eq(session_reap(t, 131, 100), 1); /* a (31) */
    ck_assert_ptr_null(session_find(t, ida));
    ck_assert_ptr_eq(session_find(t, idc), c);
    ck_assert_uint_eq(session_reap(t, 132, 100), 1); /* c (32) */
    ck_assert_uint_eq(session_count(t), 0);
    /* A table emptied by reaping takes new sessions. */
    a = create_ok(t, 200);
    session_touch(t, a, 201);
    ck_assert_uint_eq(session_reap(t, 301, 100), 1);
    session_table_destroy(&t);
}
END_TEST

/* ------------------------------------------------------ against a reference */

typedef struct ref_entry {
    uint64_t id;
    session_t *s;
    uint64_t last_used;
} ref_entry_t;

typedef struct ref {
    ref_entry_t *e;
    size_t n;
} ref_t;

static void ref_remove_at(ref_t *r, size_t i) { r->e[i] = r->e[--r->n]; }

static void ck_table_matches(session_table_t *t, const ref_t *r, int op)
{
    ck_assert_msg(session_count(t) == r->n, "op %d: count %zu, reference %zu", op,
                  session_count(t), r->n);
    for (size_t i = 0; i < r->n; i++)
        ck_assert_msg(session_find(t, r->e[i].id) == r->e[i].s, "op %d: session %llx lost", op,
                      (unsigned long long)r->e[i].id);
}

/* Random creates, closes, touches and reaps with population swings from
 * empty to 4000 sessions, so probe runs form, wrap around the end of the
 * index and get holes punched in them at every position. */
START_TEST(test_random_operations_match_a_reference_array)
{
    enum { MAX = 4000, OPS = 40000 };
    session_table_t *t = table_new(MAX);
    ref_t r = {.e = calloc(MAX, sizeof(ref_entry_t)), .n = 0};
    uint64_t *closed = calloc(OPS, sizeof *closed);
    size_t nclosed = 0, reaped_total = 0;
    uint64_t now = 1;
    rng_t g;
    errbuf_t e;

    rng_seed(&g, 7);
    for (int op = 0; op < OPS; op++, now++) {
        /* Grow for a while, then shrink: phases of 5000 operations. */
        bool growing = (op / 5000) % 2 == 0;
        double roll = rng_next_double(&g);
        double p_create = growing ? 0.6 : 0.25;
        if (roll < p_create) {
            session_t *s = NULL;
            int rc = session_create(t, cartpole(), NULL, 0, now, &s, &e);
            if (r.n == MAX) {
                ck_assert_int_eq(rc, ERR_RESOURCE_EXHAUSTED);
                continue;
            }
            ck_assert_msg(rc == 0, "op %d: %s", op, e.msg);
            r.e[r.n++] = (ref_entry_t){s->id, s, now};
            ck_assert_ptr_eq(session_find(t, s->id), s);
        } else if (roll < p_create + 0.25) {
            if (r.n == 0)
                continue;
            size_t i = rng_below(&g, r.n);
            uint64_t id = r.e[i].id;
            ck_assert_ptr_eq(session_find(t, id), r.e[i].s);
            session_close(t, r.e[i].s);
            ref_remove_at(&r, i);
            closed[nclosed++] = id;
            ck_assert_msg(session_find(t, id) == NULL, "op %d: closed session still found", op);
        } else if (roll < 0.995) {
            if (r.n == 0)
                continue;
            size_t i = rng_below(&g, r.n);
            session_touch(t, r.e[i].s, now);
            r.e[i].last_used = now;
        } else {
            /* A TTL short enough to catch some of the idle sessions. */
            uint64_t ttl = 1 + rng_below(&g, 3000);
            size_t want = 0;
            for (size_t i = r.n; i-- > 0;)
                if (r.e[i].last_used + ttl <= now) {
                    ck_assert_msg(session_find(t, r.e[i].id) == r.e[i].s, "op %d", op);
                    closed[nclosed++] = r.e[i].id;
                    ref_remove_at(&r, i);
                    want++;
                }
            size_t got = session_reap(t, now, ttl);
            ck_assert_msg(got == want, "op %d: reaped %zu, reference %zu", op, got, want);
            reaped_total += got;
        }
        if (op % 500 == 0)
            ck_table_matches(t, &r, op);
    }
    ck_table_matches(t, &r, OPS);
    for (size_t i = 0; i < nclosed; i++)
        ck_assert_msg(session_find(t, closed[i]) == NULL, "closed id %llx found again",
                      (unsigned long long)closed[i]);
    ck_assert_uint_gt(reaped_total, 0); /* the test exercised reaping */
    ck_assert_uint_gt(nclosed, 10000);
    free(closed);
    free(r.e);
    session_table_destroy(&t);
}
END_TEST

Suite *session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_create_find_close);
    tcase_add_test(tc, test_make_options_reach_the_env_and_bad_ones_create_nothing);
    tcase_add_test(tc, test_ids_are_unique_and_nonzero_across_index_growth);
    tcase_add_test(tc, test_limit_is_resource_exhausted_and_frees_up_on_close);
    suite_add_tcase(s, tc);

    tc = tcase_create("lru");
    tcase_add_test(tc, test_reap_by_ttl_with_an_explicit_clock);
    tcase_add_test(tc, test_touch_keeps_a_session_alive_in_lru_order);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_add_test(tc, test_random_operations_match_a_reference_array);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
