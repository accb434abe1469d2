/*
 * check_env.c — the registry and the wrappers' action checks (env.c),
 * across the classic-control suite.
 *
 * The registry must list exactly Gymnasium's classic control with its
 * TimeLimits, thresholds and action spaces; instances must stay small (a
 * million sessions fit in memory). env_check_step / env_step must refuse,
 * changing neither the state nor the random stream, every action the
 * space does not take: the other kind (a Box action for a Discrete space
 * and the reverse), Discrete values outside [0, n) (Gymnasium's Acrobot
 * indexes a list and takes -1..-3), Box values that are NaN or infinite,
 * another dtype; and clip an out-of-bounds Pendulum torque as np.clip does.
 * The physics themselves are replayed against Gymnasium in each class's
 * suite (check_cartpole.c, check_acrobot.c, ...).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "env.h"

static const struct {
    const char *id;
    unsigned steps;
    bool has_threshold;
    double threshold;
    unsigned obs_dim;
    env_space_kind_t kind;
    unsigned n_or_dim;
    float low, high; /* Box: the action bounds */
} registry[] = {
    {"CartPole-v1", 500, true, 475.0, 4, ENV_DISCRETE, 2, 0, 0},
    {"CartPole-v0", 200, true, 195.0, 4, ENV_DISCRETE, 2, 0, 0},
    {"Acrobot-v1", 500, true, -100.0, 6, ENV_DISCRETE, 3, 0, 0},
    {"MountainCar-v0", 200, true, -110.0, 2, ENV_DISCRETE, 3, 0, 0},
    {"MountainCarContinuous-v0", 999, true, 90.0, 2, ENV_BOX, 1, -1.0f, 1.0f},
    {"Pendulum-v1", 200, false, 0.0, 3, ENV_BOX, 1, -2.0f, 2.0f},
};
#define NREG (sizeof registry / sizeof registry[0])

START_TEST(test_registry_lists_classic_control_with_gymnasiums_specs)
{
    ck_assert_uint_eq(env_class_count(), NREG);
    ck_assert_ptr_null(env_class_at(NREG));
    ck_assert_ptr_null(env_find("LunarLander-v3"));
    ck_assert_ptr_null(env_find("cartpole-v1"));
    for (size_t k = 0; k < NREG; k++) {
        const env_class_t *cls = env_find(registry[k].id);
        ck_assert_msg(cls != NULL, "%s not registered", registry[k].id);
        ck_assert_ptr_eq(cls, env_class_at(k));
        ck_assert_uint_eq(cls->max_episode_steps, registry[k].steps);
        ck_assert_int_eq(cls->has_reward_threshold, registry[k].has_threshold);
        if (registry[k].has_threshold)
            ck_assert(cls->reward_threshold == registry[k].threshold);
        ck_assert_uint_eq(cls->obs_dim, registry[k].obs_dim);
        ck_assert_uint_le(cls->obs_dim, ENV_DIM_MAX);
        ck_assert_int_eq(cls->action_kind, registry[k].kind);
        if (cls->action_kind == ENV_DISCRETE) {
            ck_assert_uint_eq(cls->n_actions, registry[k].n_or_dim);
            ck_assert_ptr_nonnull(cls->step);
        } else {
            ck_assert_uint_eq(cls->action_dim, registry[k].n_or_dim);
            ck_assert_uint_eq(f32_bits(cls->action_low[0]), f32_bits(registry[k].low));
            ck_assert_uint_eq(f32_bits(cls->action_high[0]), f32_bits(registry[k].high));
            ck_assert_ptr_nonnull(cls->step_box);
        }
        for (unsigned i = 0; i < cls->obs_dim; i++)
            ck_assert(cls->obs_low[i] <= cls->obs_high[i]);
        /* A million sessions must fit in memory. */
        ck_assert_uint_le(env_size(cls), 128);
        ck_assert_uint_eq(env_size(cls) % _Alignof(env_t), 0);
        ck_assert_uint_ge(env_size(cls), sizeof(env_t) + cls->state_size);
    }
}
END_TEST

/* An instance of id, reset with seed 7. */
static env_t *open_reset(const char *id)
{
    const env_class_t *cls = env_find(id);
    ck_assert_ptr_nonnull(cls);
    env_t *env = calloc(1, env_size(cls));
    errbuf_t e;
    uint64_t seed = 7;
    float obs[ENV_DIM_MAX];
    ck_assert_int_eq(env_init(env, cls, NULL, 0, &e), 0);
    ck_assert_int_eq(env_reset(env, &seed, NULL, 0, obs, &e), 0);
    return env;
}

/* env_step refuses a with code and a message holding want; nothing moves. */
static void refused(env_t *env, const env_action_t *a, int code, const char *want)
{
    size_t size = env_size(env->cls);
    unsigned char *before = malloc(size);
    memcpy(before, env, size);
    float obs[ENV_DIM_MAX];
    double reward;
    bool term, trunc;
    errbuf_t e;
    ck_assert_int_eq(env_check_step(env, a, &e), code);
    ck_assert_msg(strstr(e.msg, want) != NULL, "message '%s' lacks '%s'", e.msg, want);
    ck_assert_int_eq(env_step(env, a, obs, &reward, &term, &trunc, &e), code);
    ck_assert_msg(memcmp(before, env, size) == 0, "%s: a refused step changed the instance",
                  env->cls->id);
    free(before);
}

START_TEST(test_discrete_spaces_refuse_box_actions_and_values_outside_n)
{
    float f = 0.5f;
    for (size_t k = 0; k < 4; k++) {
        env_t *env = open_reset(registry[k].id);
        refused(env, &(env_action_t){.box = &f, .dtype = ENV_F32}, ERR_INVALID_ARGUMENT,
                "action space: send an integer action");
        refused(env, ENV_DISCRETE(-1), ERR_INVALID_ARGUMENT, "is outside [0,");
        refused(env, ENV_DISCRETE(registry[k].n_or_dim), ERR_INVALID_ARGUMENT, "is outside [0,");
        refused(env, ENV_DISCRETE(INT64_MIN), ERR_INVALID_ARGUMENT, "is outside [0,");
        free(env);
    }
    /* Gymnasium's Acrobot takes -1..-3 through list indexing; envd does not. */
    env_t *acro = open_reset("Acrobot-v1");
    for (int a = -3; a < 0; a++)
        refused(acro, ENV_DISCRETE(a), ERR_INVALID_ARGUMENT, "is outside [0, 3)");
    free(acro);
}
END_TEST

START_TEST(test_box_spaces_refuse_integers_nan_infinities_and_other_dtypes)
{
    const float bad32[] = {NAN, INFINITY, -INFINITY};
    const double bad64[] = {NAN, INFINITY, -INFINITY};
    const char *what[] = {"is NaN", "is +inf", "is -inf"};
    for (size_t k = 4; k < NREG; k++) {
        env_t *env = open_reset(registry[k].id);
        refused(env, ENV_DISCRETE(1), ERR_INVALID_ARGUMENT, "Box action space of shape [1]");
        for (int i = 0; i < 3; i++) {
            refused(env, &(env_action_t){.box = &bad32[i], .dtype = ENV_F32},
                    ERR_INVALID_ARGUMENT, what[i]);
            refused(env, &(env_action_t){.box = &bad64[i], .dtype = ENV_F64},
                    ERR_INVALID_ARGUMENT, what[i]);
        }
        int32_t i32 = 1;
        refused(env, &(env_action_t){.box = &i32, .dtype = (env_dtype_t)3}, ERR_INVALID_ARGUMENT,
                "float32 or float64");
        free(env);
    }
}
END_TEST

START_TEST(test_order_enforcing_answers_before_the_action_check)
{
    const env_class_t *cls = env_find("Pendulum-v1");
    env_t *env = calloc(1, env_size(cls));
    errbuf_t e;
    ck_assert_int_eq(env_init(env, cls, NULL, 0, &e), 0);
    refused(env, ENV_DISCRETE(5), ERR_FAILED_PRECONDITION, "before the first reset");
    free(env);
}
END_TEST

/* Pendulum clips its action with np.clip, which keeps the dtype: a torque
 * far out of bounds steps exactly as the bound does, reward included, in
 * either dtype. (MountainCarContinuous clips with Python's min and max,
 * which return a Python float for a clipped value and the array's scalar
 * otherwise, and its reward uses the action as given: there an
 * out-of-bounds action is not the bound, and its golden "wide" cases pin
 * down what it is.) */
START_TEST(test_out_of_bounds_pendulum_torques_are_clipped)
{
    env_t *a = open_reset("Pendulum-v1"), *b = open_reset("Pendulum-v1");
    float far32 = 1e30f, bound32 = 2.0f;
    double far64 = -1e300, bound64 = -2.0;
    float oa[ENV_DIM_MAX], ob[ENV_DIM_MAX];
    double ra, rb;
    bool ta, tb, ua, ub;
    errbuf_t e;
    for (int round = 0; round < 2; round++) {
        env_action_t fa = round ? (env_action_t){.box = &far64, .dtype = ENV_F64}
                                : (env_action_t){.box = &far32, .dtype = ENV_F32};
        env_action_t fb = round ? (env_action_t){.box = &bound64, .dtype = ENV_F64}
                                : (env_action_t){.box = &bound32, .dtype = ENV_F32};
        ck_assert_int_eq(env_step(a, &fa, oa, &ra, &ta, &ua, &e), 0);
        ck_assert_int_eq(env_step(b, &fb, ob, &rb, &tb, &ub, &e), 0);
        ck_assert_mem_eq(oa, ob, 3 * sizeof *oa);
        ck_assert_uint_eq(f64_bits(ra), f64_bits(rb));
    }
    free(a);
    free(b);
}
END_TEST

Suite *env_suite(void)
{
    Suite *s = suite_create("env");
    TCase *tc = tcase_create("env");
    tcase_add_test(tc, test_registry_lists_classic_control_with_gymnasiums_specs);
    tcase_add_test(tc, test_discrete_spaces_refuse_box_actions_and_values_outside_n);
    tcase_add_test(tc, test_box_spaces_refuse_integers_nan_infinities_and_other_dtypes);
    tcase_add_test(tc, test_order_enforcing_answers_before_the_action_check);
    tcase_add_test(tc, test_out_of_bounds_pendulum_torques_are_clipped);
    suite_add_tcase(s, tc);
    return s;
}
