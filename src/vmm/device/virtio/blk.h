/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* virtio-blk (virtio spec 1.2, 5.2) over a Disk: read, write, flush (fdatasync), discard and
 * write-zeroes where the backing store supports them, a read-only mode the guest sees, and the
 * serial as the device ID (/dev/disk/by-id/virtio-SERIAL). Requests run synchronously on the
 * device's I/O thread, straight between the backing store and guest memory. */

#include "backend/disk.h"
#include "device/virtio/virtio.h"

/* Takes disk (also on failure). serial: at most 20 bytes. */
int virtio_blk_new(const GuestMemory *mem, const char *id, Disk *disk, const char *serial, VirtioDevice **ret);
