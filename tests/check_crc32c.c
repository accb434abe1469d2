/*
 * check_crc32c.c — CRC-32C against published vectors.
 *
 * "123456789" is the standard check value of the CRC catalogue; the four
 * 32-byte buffers are RFC 3720 (iSCSI) appendix B.4. The masked value of an
 * 8-byte length 24 is the 4 bytes that follow the length in the first record
 * of every TensorFlow event file (a3 7f 4b 22), since that record (wall time
 * plus "brain.Event:2") is always 24 bytes long.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"

START_TEST(test_check_value_of_123456789)
{
    ck_assert_uint_eq(crc32c("123456789", 9), 0xE3069283u);
}
END_TEST

START_TEST(test_empty_input_is_zero)
{
    ck_assert_uint_eq(crc32c("", 0), 0);
}
END_TEST

START_TEST(test_rfc3720_vectors)
{
    unsigned char buf[32];
    memset(buf, 0x00, sizeof buf);
    ck_assert_uint_eq(crc32c(buf, sizeof buf), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    ck_assert_uint_eq(crc32c(buf, sizeof buf), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    ck_assert_uint_eq(crc32c(buf, sizeof buf), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(crc32c(buf, sizeof buf), 0x113FDB5Cu);
}
END_TEST

START_TEST(test_extend_equals_whole_at_every_split)
{
    const char *s = "The quick brown fox jumps over the lazy dog";
    size_t n = strlen(s);
    uint32_t whole = crc32c(s, n);
    for (size_t k = 0; k <= n; k++)
        ck_assert_uint_eq(crc32c_extend(crc32c(s, k), s + k, n - k), whole);
}
END_TEST

START_TEST(test_mask_of_check_value)
{
    /* rotr15(0xE3069283) = 0x2507C60D, + 0xa282ead8 = 0xC78AB0E5 */
    ck_assert_uint_eq(crc32c_mask(0xE3069283u), 0xC78AB0E5u);
    ck_assert_uint_eq(crc32c_mask(0), 0xA282EAD8u);
}
END_TEST

START_TEST(test_masked_crc_of_tf_event_first_length)
{
    const unsigned char len24[8] = {24, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_uint_eq(crc32c_mask(crc32c(len24, sizeof len24)), 0x224B7FA3u);
}
END_TEST

Suite *crc32c_suite(void)
{
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("vectors");
    tcase_add_test(tc, test_check_value_of_123456789);
    tcase_add_test(tc, test_empty_input_is_zero);
    tcase_add_test(tc, test_rfc3720_vectors);
    tcase_add_test(tc, test_extend_equals_whole_at_every_split);
    tcase_add_test(tc, test_mask_of_check_value);
    tcase_add_test(tc, test_masked_crc_of_tf_event_first_length);
    suite_add_tcase(s, tc);
    return s;
}
