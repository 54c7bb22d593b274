/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The backing store of one [Disk]: a raw image file or a block device, opened, sized and locked, with
 * the I/O that virtio-blk needs. Offsets and lengths are in bytes; the device model checks requests
 * against size and sector alignment, and these functions check again. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cleanup.h"
#include "vm-config.h"

typedef struct Disk {
        int fd;
        uint64_t size;     /* bytes: a non-zero multiple of 512 */
        bool read_only;    /* writes, discards and write-zeroes fail with -EROFS */
        bool block_device; /* otherwise a regular file */
        bool can_discard;  /* disk_discard() can work: offer VIRTIO_BLK_F_DISCARD only then */
        unsigned index;    /* 0-based, as in the fd name "diskN" */
        char *label;       /* "[Disk] #1 (/path, line 12)", for messages */
} Disk;

/* Opens the backing store of [Disk] d, index counting from 0. inherited_fd is the fd systemd passed as
 * "diskN" (OpenFile=), or -EBADF to open d->path here; disk_open() owns it in either case and closes it
 * on failure. Accepts regular files and block devices whose size is a non-zero multiple of 512, and
 * takes an OFD lock on the whole of it: shared (F_RDLCK) for a read-only disk, exclusive (F_WRLCK)
 * otherwise, so that readers share an image and a writer has it alone. Logs a message naming the entry
 * ("[Disk] #1 (/path, line 12) is in use by another VM") and returns -errno on failure. */
int disk_open(const VmDisk *d, unsigned index, int inherited_fd, Disk **ret);

Disk *disk_free(Disk *d);
DEFINE_FREEP(Disk, disk_free);

/* Reads or writes the whole of the iovecs at offset, retrying after EINTR and short transfers. Return 0,
 * -ERANGE beyond the end of the disk, -EROFS for a write to a read-only disk, -EIO when the backing
 * store ends early (a file shrunk under us), or the -errno of the failing call. Do not log. */
int disk_preadv(Disk *d, const struct iovec *iov, int iovcnt, uint64_t offset);
int disk_pwritev(Disk *d, const struct iovec *iov, int iovcnt, uint64_t offset);

/* Makes completed writes durable (fdatasync: for a block device, a flush of its write cache). */
int disk_flush(Disk *d);

/* Deallocates a range: punching a hole in a file (reads give zeros afterwards), BLKDISCARD on a block
 * device (reads give what the device says). -EOPNOTSUPP when the backing store cannot. */
int disk_discard(Disk *d, uint64_t offset, uint64_t length);

/* Makes a range read back as zeros: FALLOC_FL_ZERO_RANGE (or a hole) on a file, BLKZEROOUT on a block
 * device, writing zeros where the file system can do neither. Works on every writable disk. */
int disk_write_zeroes(Disk *d, uint64_t offset, uint64_t length);
