/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* virtio-rng (virtio spec 5.4): one queue of device-writable buffers that the device fills from the
 * host's getrandom(). */

#include "device/virtio/virtio.h"

int virtio_rng_new(const GuestMemory *mem, const char *id, VirtioDevice **ret);
