/*
 * check_text.c — the growable text buffer and its JSON values: what is
 * written parses back (cJSON) to exactly what went in, control characters
 * included, and a buffer far past its first allocation keeps every byte.
 */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <string.h>

#include "text.h"

START_TEST(test_json_strings_parse_back_to_the_same_bytes)
{
    static const char *cases[] = {"plain", "quote \" and backslash \\", "tab\tnew\nline\x01\x1f",
                                  "utf-8 \xc3\xa9\xe2\x82\xac", ""};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        text_t t = {0};
        text_json_str(&t, cases[i]);
        ck_assert(!t.failed);
        cJSON *j = cJSON_Parse(t.data);
        ck_assert_msg(j && cJSON_IsString(j), "not a JSON string: %s", t.data);
        ck_assert_str_eq(j->valuestring, cases[i]);
        cJSON_Delete(j);
        text_free(&t);
    }
}
END_TEST

START_TEST(test_null_string_and_non_finite_numbers_are_null)
{
    text_t t = {0};
    text_printf(&t, "[");
    text_json_str(&t, NULL);
    text_printf(&t, ",");
    text_json_num(&t, NAN);
    text_printf(&t, ",");
    text_json_num(&t, -INFINITY);
    text_printf(&t, ",");
    text_json_num(&t, 0.1);
    text_printf(&t, "]");
    ck_assert_str_eq(t.data, "[null,null,null,0.1]");
    text_free(&t);
    ck_assert_ptr_null(t.data);
    ck_assert_uint_eq(t.len, 0);
}
END_TEST

START_TEST(test_a_long_text_keeps_every_byte)
{
    text_t t = {0};
    for (int i = 0; i < 100000; i++)
        text_printf(&t, "%05d,", i % 100000);
    ck_assert_uint_eq(t.len, 600000);
    ck_assert_uint_eq(strlen(t.data), 600000);
    ck_assert(memcmp(t.data + 6 * 54321, "54321,", 6) == 0);
    text_free(&t);
}
END_TEST

Suite *text_suite(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, test_json_strings_parse_back_to_the_same_bytes);
    tcase_add_test(tc, test_null_string_and_non_finite_numbers_are_null);
    tcase_add_test(tc, test_a_long_text_keeps_every_byte);
    suite_add_tcase(s, tc);
    return s;
}
