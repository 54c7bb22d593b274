/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Little-endian values of 1 to 8 bytes at any alignment, as guests and firmware tables lay them out.
 * Byte by byte, so that they are right on any host and never an unaligned access. */

#include <stdint.h>

static inline uint64_t le_read(const uint8_t *p, unsigned len) {
        uint64_t v = 0;
        for (unsigned i = 0; i < len && i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

static inline void le_write(uint8_t *p, unsigned len, uint64_t v) {
        for (unsigned i = 0; i < len && i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
