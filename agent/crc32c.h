/*
 * crc32c.h — CRC-32C (Castagnoli), the checksum of TFRecord framing and of
 * agentd checkpoints.
 *
 * Reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF:
 * crc32c("123456789") = 0xE3069283. One checksum for both file formats, so
 * there is one implementation to test.
 */
#ifndef CRC32C_H
#define CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of n bytes. */
uint32_t crc32c(const void *buf, size_t n);

/* Extends crc, the CRC-32C of some earlier bytes (0 for none), by n more:
 * crc32c_extend(crc32c(a, na), b, nb) == crc32c of a followed by b. */
uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t n);

/* TFRecord's masked form: ((crc >> 15) | (crc << 17)) + 0xa282ead8. TFRecord
 * masks because a CRC stored next to the bytes it covers makes CRCs of CRCs
 * degenerate. */
uint32_t crc32c_mask(uint32_t crc);

#endif
