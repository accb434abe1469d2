/*
 * crc32c.c — table-driven CRC-32C (see crc32c.h).
 *
 * The byte-at-a-time table is built once from the polynomial under
 * pthread_once rather than pasted in as 256 literals: the loop is the
 * definition, and a checkpoint writer and the learner may race to the first
 * call. One byte per step is ~1 GB/s, ample for the files agentd writes.
 */
#include "crc32c.h"

#include <pthread.h>

#define CRC32C_POLY 0x82F63B78u /* 0x1EDC6F41 bit-reversed */

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        table[i] = c;
    }
}

uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    pthread_once(&table_once, table_build);
    crc = ~crc;
    while (n--)
        crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint32_t crc32c(const void *buf, size_t n)
{
    return crc32c_extend(0, buf, n);
}

uint32_t crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
