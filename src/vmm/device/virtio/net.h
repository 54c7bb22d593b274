/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* virtio-net (virtio spec 1.2, 5.1) on a tap: one receive and one transmit queue. The tap speaks the
 * same 12-byte virtio-net header (IFF_VNET_HDR), so frames and their checksum/TSO metadata pass
 * between the tap and guest memory without a copy; the offloads the guest accepts are switched on in
 * the tap (TUNSETOFFLOAD) when the driver starts. Receive buffers are the driver's "big packet"
 * chains (no mergeable buffers), each able to hold a 64 KiB GSO frame. */

#include <stdint.h>

#include "device/virtio/virtio.h"

/* Takes tap_fd (also on failure): a non-blocking tap, or in tests one end of a SOCK_DGRAM socketpair. */
int virtio_net_new(const GuestMemory *mem, const char *id, int tap_fd, const uint8_t mac[static 6],
                   VirtioDevice **ret);
