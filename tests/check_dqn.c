/*
 * check_dqn.c — the DQN update against hand-computed values: TD targets
 * with terminated vs truncated transitions, Double DQN's argmax/value
 * split, the Huber gradient on both sides of delta, the epsilon schedule,
 * epsilon-greedy selection, the target-network update, and a training run
 * that must drive the loss on a fixed transition towards zero.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dqn.h"

#define EPS 1e-6

static dqn_config_t test_config(void)
{
    return (dqn_config_t){.gamma = 0.99, .lr = 1e-3, .adam_eps = 1e-8, .batch = 8,
                          .double_dqn = true, .huber_delta = 1.0, .max_grad_norm = 10.0,
                          .target_update = 4, .tau = 1.0};
}

static qnet_shape_t test_shape(void)
{
    return (qnet_shape_t){.in = 4, .out = 2, .nhidden = 2, .hidden = {16, 16}};
}

START_TEST(test_td_target_terminated_has_no_future_truncated_bootstraps)
{
    /* Row 0 terminated, row 1 truncated (stored with terminated = 0 and its
     * true last observation), row 2 an ordinary step. */
    float rew[3] = {1.0f, 1.0f, 0.5f};
    uint8_t term[3] = {1, 0, 0};
    float qt[6] = {3.0f, 7.0f, 2.0f, 4.0f, -1.0f, -2.0f};
    float y[3];
    dqn_td_targets(y, rew, term, NULL, qt, 3, 2, 0.5f, false);
    ck_assert_float_eq_tol(y[0], 1.0f, EPS);             /* r only */
    ck_assert_float_eq_tol(y[1], 1.0f + 0.5f * 4.0f, EPS); /* r + g max Q' = 3 */
    ck_assert_float_eq_tol(y[2], 0.5f + 0.5f * -1.0f, EPS);
}
END_TEST

START_TEST(test_double_dqn_takes_argmax_from_online_and_value_from_target)
{
    float rew[2] = {0.0f, 2.0f};
    uint8_t term[2] = {0, 0};
    float qo[4] = {5.0f, 1.0f, 0.0f, 9.0f};  /* online picks 0, then 1 */
    float qt[4] = {3.0f, 10.0f, 6.0f, -4.0f}; /* target's own max would be 10 and 6 */
    float y[2];
    dqn_td_targets(y, rew, term, qo, qt, 2, 2, 0.9f, true);
    ck_assert_float_eq_tol(y[0], 0.9f * 3.0f, EPS);
    ck_assert_float_eq_tol(y[1], 2.0f + 0.9f * -4.0f, EPS);
    dqn_td_targets(y, rew, term, qo, qt, 2, 2, 0.9f, false);
    ck_assert_float_eq_tol(y[0], 0.9f * 10.0f, EPS);
    ck_assert_float_eq_tol(y[1], 2.0f + 0.9f * 6.0f, EPS);
}
END_TEST

START_TEST(test_huber_gradient_is_linear_inside_delta_and_clipped_outside)
{
    /* Errors q - y: 0.5 (inside), 3 (outside, +), -2 (outside, -), 0. */
    float q[8] = {0.5f, 100.0f, -50.0f, 3.0f, 1.0f, 7.0f, 4.0f, 4.0f};
    int32_t act[4] = {0, 1, 0, 1};
    float y[4] = {0.0f, 0.0f, 3.0f, 4.0f};
    float dq[8];
    double loss = dqn_huber_grad(dq, q, act, y, 4, 2, 1.0f);
    /* (0.125 + 2.5 + 1.5 + 0) / 4 */
    ck_assert_double_eq_tol(loss, (0.125 + 2.5 + 1.5) / 4.0, 1e-9);
    float want[8] = {0.5f / 4, 0, 0, 1.0f / 4, -1.0f / 4, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq_tol(dq[i], want[i], EPS);
    /* delta 2: the error 3 is still outside, -2 is on the boundary. */
    loss = dqn_huber_grad(dq, q, act, y, 4, 2, 2.0f);
    ck_assert_double_eq_tol(loss, (0.125 + 2.0 * (3 - 1.0) + 2.0) / 4.0, 1e-9);
    ck_assert_float_eq_tol(dq[3], 2.0f / 4, EPS);
    ck_assert_float_eq_tol(dq[4], -2.0f / 4, EPS);
}
END_TEST

START_TEST(test_huber_gradient_matches_finite_differences)
{
    float q[6] = {0.3f, -1.7f, 2.2f, 0.9f, -0.4f, 5.0f};
    int32_t act[3] = {1, 0, 1};
    float y[3] = {0.1f, 0.0f, 3.5f};
    float dq[6], scratch[6];
    dqn_huber_grad(dq, q, act, y, 3, 2, 1.0f);
    for (int i = 0; i < 6; i++) {
        float h = 1e-3f, saved = q[i];
        q[i] = saved + h;
        double lp = dqn_huber_grad(scratch, q, act, y, 3, 2, 1.0f);
        q[i] = saved - h;
        double lm = dqn_huber_grad(scratch, q, act, y, 3, 2, 1.0f);
        q[i] = saved;
        ck_assert_double_eq_tol(dq[i], (lp - lm) / (2 * h), 1e-3);
    }
}
END_TEST

START_TEST(test_epsilon_schedule_is_linear_then_flat)
{
    ck_assert_double_eq_tol(dqn_epsilon(0, 1.0, 0.05, 1000), 1.0, 1e-12);
    ck_assert_double_eq_tol(dqn_epsilon(500, 1.0, 0.05, 1000), 0.525, 1e-12);
    ck_assert_double_eq_tol(dqn_epsilon(250, 1.0, 0.05, 1000), 0.7625, 1e-12);
    ck_assert_double_eq_tol(dqn_epsilon(1000, 1.0, 0.05, 1000), 0.05, 1e-12);
    ck_assert_double_eq_tol(dqn_epsilon(99999, 1.0, 0.05, 1000), 0.05, 1e-12);
    ck_assert_double_eq_tol(dqn_epsilon(10, 1.0, 0.05, 0), 0.05, 1e-12);
}
END_TEST

START_TEST(test_greedy_selection_takes_the_first_best_action)
{
    float q[9] = {1, 3, 2, 5, 5, 0, -1, -2, -1};
    int32_t act[3];
    rng_t rng;
    rng_seed(&rng, 1);
    dqn_select_actions(act, q, 3, 3, 0.0, &rng);
    ck_assert_int_eq(act[0], 1);
    ck_assert_int_eq(act[1], 0);
    ck_assert_int_eq(act[2], 0);
}
END_TEST

START_TEST(test_full_exploration_draws_every_action_evenly)
{
    enum { N = 30000, A = 3 };
    static float q[N * A]; /* all zero: greedy would always say 0 */
    static int32_t act[N];
    rng_t rng;
    rng_seed(&rng, 7);
    dqn_select_actions(act, q, N, A, 1.0, &rng);
    int count[A] = {0};
    for (int i = 0; i < N; i++) {
        ck_assert(act[i] >= 0 && act[i] < A);
        count[act[i]]++;
    }
    for (int a = 0; a < A; a++)
        ck_assert_int_gt(count[a], N / A - 600); /* about 7 sigma */
}
END_TEST

/* A learner of cfg with weights drawn from seed, and a replay buffer
 * holding one terminal transition (its target is exactly its reward, 1). */
typedef struct learner {
    dqn_t *d;
    replay_t *r;
    rng_t rng;
} learner_t;

static void learner_open(learner_t *l, const dqn_config_t *cfg, uint64_t seed)
{
    qnet_shape_t shape = test_shape();
    errbuf_t e;
    l->d = NULL;
    ck_assert_msg(dqn_new(cfg, &shape, &l->d, &e) == 0, "%s", e.msg);
    rng_seed(&l->rng, seed);
    dqn_init(l->d, &l->rng);
    ck_assert_msg(replay_new(16, 4, &l->r, &e) == 0, "%s", e.msg);
    float s[4] = {0.01f, -0.02f, 0.03f, 0.04f}, s2[4] = {0.02f, 0.1f, 0.02f, -0.1f};
    replay_add(l->r, s, 1, 1.0f, s2, 1, 0);
}

static void learner_close(learner_t *l)
{
    replay_destroy(&l->r);
    dqn_destroy(&l->d);
}

START_TEST(test_training_on_one_terminal_transition_drives_its_q_to_the_reward)
{
    dqn_config_t cfg = test_config();
    learner_t l;
    learner_open(&l, &cfg, 3);
    dqn_t *d = l.d;
    replay_t *r = l.r;
    double first = dqn_train_step(d, r, &l.rng), last = first;
    for (int i = 0; i < 500; i++)
        last = dqn_train_step(d, r, &l.rng);
    ck_assert_double_gt(first, 1e-3);
    ck_assert_double_lt(last, first * 1e-2);
    float s[4] = {0.01f, -0.02f, 0.03f, 0.04f}, qv[2];
    qnet_predict(dqn_online(d), s, 1, qv);
    ck_assert_float_eq_tol(qv[1], 1.0f, 0.05f);
    ck_assert_int_eq(dqn_updates(d), 501);
    learner_close(&l);
}
END_TEST

START_TEST(test_target_moves_only_every_target_update_steps)
{
    dqn_config_t cfg = test_config();
    learner_t l;
    learner_open(&l, &cfg, 4);
    dqn_t *d = l.d;
    replay_t *r = l.r;
    size_t n = qnet_nparams(dqn_online(d));
    size_t bytes = n * sizeof(float);
    float *before = malloc(bytes);
    memcpy(before, qnet_params(dqn_target(d)), bytes);
    for (int i = 1; i <= 3; i++) {
        dqn_train_step(d, r, &l.rng);
        ck_assert_int_eq(memcmp(before, qnet_params(dqn_target(d)), bytes), 0);
        ck_assert_int_ne(memcmp(qnet_params(dqn_online(d)), qnet_params(dqn_target(d)), bytes), 0);
    }
    dqn_train_step(d, r, &l.rng); /* the 4th */
    ck_assert_int_eq(memcmp(qnet_params(dqn_online(d)), qnet_params(dqn_target(d)), bytes), 0);
    free(before);
    learner_close(&l);
}
END_TEST

START_TEST(test_polyak_target_update_mixes_by_tau)
{
    dqn_config_t cfg = test_config();
    cfg.target_update = 1;
    cfg.tau = 0.25;
    learner_t l;
    learner_open(&l, &cfg, 5);
    dqn_t *d = l.d;
    replay_t *r = l.r;
    size_t n = qnet_nparams(dqn_online(d));
    float *old_target = malloc(n * sizeof(float));
    memcpy(old_target, qnet_params(dqn_target(d)), n * sizeof(float));
    dqn_train_step(d, r, &l.rng);
    const float *on = qnet_params(dqn_online(d)), *tg = qnet_params(dqn_target(d));
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq_tol(tg[i], 0.75f * old_target[i] + 0.25f * on[i], 1e-6);
    free(old_target);
    learner_close(&l);
}
END_TEST

START_TEST(test_bad_config_is_rejected_with_a_message)
{
    dqn_config_t cfg = test_config();
    cfg.tau = 0.0;
    qnet_shape_t shape = test_shape();
    dqn_t *d = NULL;
    errbuf_t e;
    ck_assert_int_eq(dqn_new(&cfg, &shape, &d, &e), ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(e.msg, "tau"));
}
END_TEST

Suite *dqn_suite(void)
{
    Suite *s = suite_create("dqn");
    TCase *tc = tcase_create("update");
    tcase_add_test(tc, test_td_target_terminated_has_no_future_truncated_bootstraps);
    tcase_add_test(tc, test_double_dqn_takes_argmax_from_online_and_value_from_target);
    tcase_add_test(tc, test_huber_gradient_is_linear_inside_delta_and_clipped_outside);
    tcase_add_test(tc, test_huber_gradient_matches_finite_differences);
    tcase_add_test(tc, test_epsilon_schedule_is_linear_then_flat);
    tcase_add_test(tc, test_greedy_selection_takes_the_first_best_action);
    tcase_add_test(tc, test_full_exploration_draws_every_action_evenly);
    tcase_add_test(tc, test_training_on_one_terminal_transition_drives_its_q_to_the_reward);
    tcase_add_test(tc, test_target_moves_only_every_target_update_steps);
    tcase_add_test(tc, test_polyak_target_update_mixes_by_tau);
    tcase_add_test(tc, test_bad_config_is_rejected_with_a_message);
    suite_add_tcase(s, tc);
    return s;
}
