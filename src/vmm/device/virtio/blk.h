/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* virtio-blk (virtio spec 1.2, 5.2) over a Disk: read, write, flush (fdatasync), discard and
 * write-zeroes where the backing store supports them, a read-only mode the guest sees, and the
 * serial as the device ID (/dev/disk/by-id/virtio-SERIAL). Requests run synchronously on the
 * device's I/O thread, straight between the backing store and guest memory. */

#include "backend/disk.h"
#include "device/virtio/virtio.h"

#define VIRTIO_BLK_STATE_VERSION 1
#define VIRTIO_BLK_SERIAL_SIZE 20

/* The model's record (VirtioDeviceOps.state_size), fixed layout, host byte order (little-endian on every
 * arch we build for). The disk's identity as the guest sees it (size, read-only, discard, serial) is
 * stored to be compared, not loaded: a restore onto a disk that differs is refused. Not stored: the
 * config space, derived from the disk; the request being worked on (requests complete before the I/O
 * loop comes back to rest). */
typedef struct VirtioBlkState {
        uint32_t version;    /* VIRTIO_BLK_STATE_VERSION */
        uint8_t read_only;   /* 0 or 1 */
        uint8_t can_discard; /* 0 or 1 */
        uint8_t reserved0[2];
        char serial[VIRTIO_BLK_SERIAL_SIZE]; /* NUL-padded */
        uint8_t reserved1[4];
        uint64_t size; /* bytes */
        uint64_t n_read, n_written, n_flushed, n_discarded, n_errors;
} VirtioBlkState;
_Static_assert(sizeof(VirtioBlkState) == 80, "VirtioBlkState is a fixed on-disk layout");

/* Takes disk (also on failure). serial: at most 20 bytes. */
int virtio_blk_new(const GuestMemory *mem, const char *id, Disk *disk, const char *serial, VirtioDevice **ret);
/* The disk under a virtio-blk device (for the state file's identity of the disks); NULL for another model. */
const Disk *virtio_blk_disk(const VirtioDevice *d);
