/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* virtio-rng (virtio spec 5.4): one queue of device-writable buffers that the device fills from the
 * host's getrandom(). */

#include "device/virtio/virtio.h"

#define VIRTIO_RNG_STATE_VERSION 1

/* The model's record (VirtioDeviceOps.state_size), fixed layout, host byte order (little-endian on every
 * arch we build for). Requests complete before the I/O loop comes back to rest, so there is nothing in
 * flight to store. */
typedef struct VirtioRngState {
        uint32_t version;  /* VIRTIO_RNG_STATE_VERSION */
        uint32_t reserved; /* 0 */
        uint64_t bytes;    /* handed to the guest */
} VirtioRngState;
_Static_assert(sizeof(VirtioRngState) == 16, "VirtioRngState is a fixed on-disk layout");

int virtio_rng_new(const GuestMemory *mem, const char *id, VirtioDevice **ret);
