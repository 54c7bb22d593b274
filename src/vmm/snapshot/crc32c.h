/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* CRC-32C (Castagnoli: reflected polynomial 0x82f63b78, initial value and final XOR 0xffffffff), the
 * checksum of iSCSI, ext4 and btrfs metadata: well known, with published test vectors, and better at
 * catching burst errors than the zlib CRC-32. In software, eight bytes a step from eight tables
 * ("slicing by 8", about 1-2 GB/s), so that it does not depend on SSE4.2; the RAM of a state file is
 * checked only on request, so its speed bounds a full verify, not a restore.
 *
 * Incremental: crc32c(crc32c(0, a, n), b, m) equals the CRC of a followed by b. */

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *data, size_t size);
