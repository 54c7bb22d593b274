/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>

#include "snapshot/crc32c.h"

#define POLY UINT32_C(0x82f63b78)

/* table[0][b]: the CRC of byte b alone; table[k][b]: the same byte followed by k zero bytes, so that
 * eight bytes are folded in with eight lookups. */
static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void) {
        for (unsigned b = 0; b < 256; b++) {
                uint32_t c = b;
                for (unsigned i = 0; i < 8; i++)
                        c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
                table[0][b] = c;
        }
        for (unsigned k = 1; k < 8; k++)
                for (unsigned b = 0; b < 256; b++)
                        table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
}

uint32_t crc32c(uint32_t crc, const void *data, size_t size) {
        const uint8_t *p = data;

        (void) pthread_once(&table_once, table_init);
        crc = ~crc;
        for (; size >= 8; p += 8, size -= 8) {
                /* Little-endian by construction (byte by byte), so the same on any host. */
                uint32_t lo = crc ^ ((uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
                                     (uint32_t) p[3] << 24);
                crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
                      table[4][lo >> 24] ^ table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
        }
        for (; size > 0; p++, size--)
                crc = (crc >> 8) ^ table[0][(crc ^ *p) & 0xff];
        return ~crc;
}
