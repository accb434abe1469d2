/*
 * check_classic.c — classic.c's option reading: Python's float() of an
 * option, utils.maybe_parse_reset_bounds and numpy uniform's range checks,
 * against hand-computed values and the errors Gymnasium raises.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "bits.h"
#include "classic.h"

START_TEST(test_float_option_takes_ints_and_doubles_only)
{
    const option_t i = {.key = "g", .type = OPTION_INT, .v.i = -9};
    const option_t big = {.key = "g", .type = OPTION_INT, .v.i = INT64_MAX};
    const option_t d = {.key = "g", .type = OPTION_DOUBLE, .v.d = 9.81};
    const option_t b = {.key = "flag", .type = OPTION_BOOL, .v.b = true};
    const option_t s = {.key = "word", .type = OPTION_STRING, .v.s = "1.5"};
    double out = 42.0;
    errbuf_t e;

    ck_assert_int_eq(classic_float_option(&i, "option", &out, &e), 0);
    ck_assert(out == -9.0);
    /* float() rounds to the nearest double. */
    ck_assert_int_eq(classic_float_option(&big, "option", &out, &e), 0);
    ck_assert(out == 0x1p63);
    ck_assert_int_eq(classic_float_option(&d, "option", &out, &e), 0);
    ck_assert(out == 9.81);
    ck_assert_int_eq(classic_float_option(&b, "option", &out, &e), ERR_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "flag") && strstr(e.msg, "bool"));
    ck_assert_int_eq(classic_float_option(&s, "option", &out, &e), ERR_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "word") && strstr(e.msg, "string"));
    ck_assert(out == 9.81);
}
END_TEST

START_TEST(test_reset_bounds_defaults_replacements_and_unknown_keys)
{
    const option_t opts[] = {
        {.key = "high", .type = OPTION_INT, .v.i = 2},
        {.key = "x_init", .type = OPTION_STRING, .v.s = "not ours"},
        {.key = "low", .type = OPTION_DOUBLE, .v.d = -0.25},
    };
    double low = -0.6, high = -0.4;
    errbuf_t e;

    ck_assert_int_eq(classic_reset_bounds(NULL, 0, &low, &high, &e), 0);
    ck_assert(low == -0.6 && high == -0.4);
    ck_assert_int_eq(classic_reset_bounds(opts, 3, &low, &high, &e), 0);
    ck_assert(low == -0.25 && high == 2.0);
    /* Only one of them: the other keeps its default. */
    low = -0.1;
    high = 0.1;
    ck_assert_int_eq(classic_reset_bounds(opts, 1, &low, &high, &e), 0);
    ck_assert(low == -0.1 && high == 2.0);
}
END_TEST

START_TEST(test_reset_bounds_refusals_change_nothing)
{
    const option_t bad[][2] = {
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 1.0},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.5}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = NAN}, {.key = "y", .type = OPTION_BOOL}},
        {{.key = "high", .type = OPTION_DOUBLE, .v.d = INFINITY},
         {.key = "y", .type = OPTION_BOOL}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = -DBL_MAX},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = DBL_MAX}},
        {{.key = "low", .type = OPTION_DOUBLE, .v.d = 0.0},
         {.key = "high", .type = OPTION_DOUBLE, .v.d = -0.0}},
        {{.key = "low", .type = OPTION_BOOL, .v.b = false}, {.key = "y", .type = OPTION_BOOL}},
    };
    errbuf_t e;

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        double low = -0.1, high = 0.1;
        ck_assert_msg(classic_reset_bounds(bad[k], 2, &low, &high, &e) == ERR_INVALID_ARGUMENT,
                      "#%zu accepted", k);
        ck_assert_int_eq(e.code, ERR_INVALID_ARGUMENT);
        ck_assert(low == -0.1 && high == 0.1);
    }
}
END_TEST

START_TEST(test_uniform_range)
{
    double r = 7.0;
    errbuf_t e;

    ck_assert_int_eq(classic_uniform_range(-0.6, -0.4, &r, &e), 0);
    ck_assert_uint_eq(f64_bits(r), 0x3fc9999999999998); /* 0.19999999999999996 */
    ck_assert_int_eq(classic_uniform_range(1.5, 1.5, &r, &e), 0);
    ck_assert_uint_eq(f64_bits(r), 0);
    ck_assert_int_eq(classic_uniform_range(-0.0, 0.0, &r, &e), 0);
    ck_assert_uint_eq(f64_bits(r), 0);
    r = 7.0;
    ck_assert_int_eq(classic_uniform_range(0.0, -0.0, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(classic_uniform_range(1.0, 0.5, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(classic_uniform_range(-DBL_MAX, DBL_MAX, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(classic_uniform_range(0.0, NAN, &r, &e), ERR_INVALID_ARGUMENT);
    ck_assert(r == 7.0);
}
END_TEST

Suite *classic_suite(void)
{
    Suite *s = suite_create("classic");
    TCase *tc = tcase_create("classic");
    tcase_add_test(tc, test_float_option_takes_ints_and_doubles_only);
    tcase_add_test(tc, test_reset_bounds_defaults_replacements_and_unknown_keys);
    tcase_add_test(tc, test_reset_bounds_refusals_change_nothing);
    tcase_add_test(tc, test_uniform_range);
    suite_add_tcase(s, tc);
    return s;
}
