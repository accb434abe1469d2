/*
 * check_err.c — error codes, their names, and the errbuf_t message; log
 * level names (how errors reach the log).
 *
 * The codes cross the wire as -code, so their values are pinned here
 * against envd.v1.Code; the message travels in a proto3 string, so a
 * message cut at ERR_MSG_MAX must still be valid UTF-8.
 */
#include <check.h>
#include <string.h>

#include "err.h"
#include "log.h"

START_TEST(test_wire_codes_match_the_proto)
{
    /* envd.v1.Code: OK 0, INVALID_ARGUMENT 1 ... INTERNAL 7 */
    ck_assert_int_eq(ERR_OK, 0);
    ck_assert_int_eq(ERR_INVALID_ARGUMENT, -1);
    ck_assert_int_eq(ERR_NOT_FOUND, -2);
    ck_assert_int_eq(ERR_FAILED_PRECONDITION, -3);
    ck_assert_int_eq(ERR_RESOURCE_EXHAUSTED, -4);
    ck_assert_int_eq(ERR_VERSION_MISMATCH, -5);
    ck_assert_int_eq(ERR_UNAVAILABLE, -6);
    ck_assert_int_eq(ERR_INTERNAL, -7);
    ck_assert_str_eq(err_name(ERR_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
    ck_assert_str_eq(err_name(ERR_TIMEOUT), "TIMEOUT");
    ck_assert_str_eq(err_name(-1000), "UNKNOWN");
}
END_TEST

START_TEST(test_err_set_records_and_returns_the_code)
{
    errbuf_t e;

    err_clear(&e);
    ck_assert_int_eq(e.code, ERR_OK);
    ck_assert_str_eq(e.msg, "");
    ck_assert_int_eq(err_set(&e, ERR_NOT_FOUND, "session %d", 42), ERR_NOT_FOUND);
    ck_assert_int_eq(e.code, ERR_NOT_FOUND);
    ck_assert_str_eq(e.msg, "session 42");
    ck_assert_int_eq(err_set(NULL, ERR_INTERNAL, "nowhere"), ERR_INTERNAL);
}
END_TEST

/* Every way of cutting a run of 2-, 3- and 4-byte characters at the limit
 * leaves only whole characters. */
START_TEST(test_cut_message_ends_on_a_whole_utf8_character)
{
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    char text[ERR_MSG_MAX * 2];
    errbuf_t e;

    for (size_t c = 0; c < 3; c++) {
        size_t clen = strlen(chars[c]);
        for (size_t shift = 0; shift < clen; shift++) {
            size_t n = 0;
            for (; n < shift; n++)
                text[n] = 'a';
            while (n + clen < sizeof text) {
                memcpy(text + n, chars[c], clen);
                n += clen;
            }
            text[n] = '\0';
            err_set(&e, ERR_NOT_FOUND, "%s", text);
            size_t len = strlen(e.msg);
            ck_assert_uint_le(len, ERR_MSG_MAX - 1);
            ck_assert_uint_ge(len, ERR_MSG_MAX - clen);
            ck_assert_msg((len - shift) % clen == 0, "char %zu shift %zu: %zu bytes kept", c,
                          shift, len);
        }
    }
    /* An ASCII message at the limit keeps every byte it can. */
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    err_set(&e, ERR_NOT_FOUND, "%s", text);
    ck_assert_uint_eq(strlen(e.msg), ERR_MSG_MAX - 1);
}
END_TEST

/* Every level's name parses back to it, in any case; agentd's summary
 * writes the names that --log-level reads. */
START_TEST(test_log_level_names_parse_back)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int level = LOG_ERROR; level <= LOG_DEBUG; level++) {
        ck_assert_str_eq(log_level_name(level), names[level]);
        ck_assert_int_eq(log_level_parse(log_level_name(level)), level);
    }
    ck_assert_int_eq(log_level_parse("DEBUG"), LOG_DEBUG);
    ck_assert_int_eq(log_level_parse("Warning"), LOG_WARN);
    ck_assert_int_eq(log_level_parse("verbose"), -1);
    ck_assert_int_eq(log_level_parse(""), -1);
    ck_assert_str_eq(log_level_name(4), "?");
    ck_assert_str_eq(log_level_name(-1), "?");
}
END_TEST

Suite *err_suite(void)
{
    Suite *s = suite_create("err");
    TCase *tc = tcase_create("err");
    tcase_add_test(tc, test_wire_codes_match_the_proto);
    tcase_add_test(tc, test_err_set_records_and_returns_the_code);
    tcase_add_test(tc, test_cut_message_ends_on_a_whole_utf8_character);
    tcase_add_test(tc, test_log_level_names_parse_back);
    suite_add_tcase(s, tc);
    return s;
}
