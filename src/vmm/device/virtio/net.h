/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* virtio-net (virtio spec 1.2, 5.1) on a tap: one receive and one transmit queue. The tap speaks the
 * same 12-byte virtio-net header (IFF_VNET_HDR), so frames and their checksum/TSO metadata pass
 * between the tap and guest memory without a copy; the offloads the guest accepts are switched on in
 * the tap (TUNSETOFFLOAD) when the driver starts. Receive buffers are the driver's "big packet"
 * chains (no mergeable buffers), each able to hold a 64 KiB GSO frame. */

#include <stdint.h>

#include "device/virtio/virtio.h"

#define VIRTIO_NET_STATE_VERSION 1

/* The model's record (VirtioDeviceOps.state_size), fixed layout, host byte order (little-endian on every
 * arch we build for). The MAC is stored to be compared: a restore onto another MAC is refused. Not
 * stored: whether the tap has frames waiting (the restored device watches it again), and a receive
 * buffer taken but not yet filled, which the core record leaves available so that it is taken again. */
typedef struct VirtioNetState {
        uint32_t version; /* VIRTIO_NET_STATE_VERSION */
        uint32_t offload; /* TUN_F_* the driver's features switched on in the tap at DRIVER_OK */
        uint8_t mac[6];
        uint8_t reserved[2]; /* 0 */
        uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, tx_dropped;
} VirtioNetState;
_Static_assert(sizeof(VirtioNetState) == 56, "VirtioNetState is a fixed on-disk layout");

/* Takes tap_fd (also on failure): a non-blocking tap, or in tests one end of a SOCK_DGRAM socketpair.
 * A restore onto a live driver sets the record's offloads on the tap again (the tap may be new). */
int virtio_net_new(const GuestMemory *mem, const char *id, int tap_fd, const uint8_t mac[static 6],
                   VirtioDevice **ret);
