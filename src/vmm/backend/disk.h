/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The backing store of a disk: a raw image file or a block device, sized and locked, with the I/O that
 * virtio-blk needs. Offsets and lengths are in bytes; the device model checks requests against size and
 * sector alignment, and these functions check again.
 *
 * Opening is apart from the rest, so that whoever has the privilege opens: systemd (OpenFile=), a
 * client passing an fd, or disk_open_path() here. disk_new() works on the fd, whoever opened it. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cleanup.h"

typedef struct Disk {
        int fd;
        uint64_t size;     /* bytes: a non-zero multiple of 512 */
        bool read_only;    /* writes, discards and write-zeroes fail with -EROFS */
        bool block_device; /* otherwise a regular file */
        bool can_discard;  /* disk_discard() can work: offer VIRTIO_BLK_F_DISCARD only then */
        int flush_error;   /* the first write-back error (negative errno), which every later flush returns */
        char *label;       /* "[Disk] #1 (/path, line 12)", for messages */
} Disk;

typedef struct DiskParams {
        const char *label; /* names the disk in messages, e.g. "[Disk] #1 (/path, line 12)"; copied */
        bool read_only;
} DiskParams;

/* Opens path for a disk: O_RDONLY for a read-only one, O_RDWR otherwise, O_CLOEXEC, and O_NONBLOCK so
 * that a FIFO cannot hang us (disk_new() refuses it and clears the flag). Logs "LABEL does not exist" or
 * "LABEL cannot be opened: ..." and returns -errno on failure. Needs the privilege to open path; checks
 * nothing else. */
int disk_open_path(const char *path, bool read_only, const char *label, int *ret_fd);

/* The disk on fd, whoever opened it. Takes fd from the call on: owned by the Disk on success, closed on
 * failure. Accepts regular files and block devices whose size is a non-zero multiple of 512, opened
 * for writing unless p->read_only, and takes an OFD lock on the whole of it: shared (F_RDLCK) for a
 * read-only disk, exclusive (F_WRLCK) otherwise, so that readers share an image and a writer has it
 * alone. Logs a message naming it by p->label ("LABEL is in use by another VM") and returns -errno on
 * failure. */
int disk_new(int fd, const DiskParams *p, Disk **ret);

Disk *disk_free(Disk *d);
DEFINE_FREEP(Disk, disk_free);

/* Reads or writes the whole of the iovecs at offset, retrying after EINTR and short transfers. Return 0,
 * -ERANGE beyond the end of the disk, -EROFS for a write to a read-only disk, -EIO when the backing
 * store ends early (a file shrunk under us), or the -errno of the failing call. Do not log. */
int disk_preadv(Disk *d, const struct iovec *iov, int iovcnt, uint64_t offset);
int disk_pwritev(Disk *d, const struct iovec *iov, int iovcnt, uint64_t offset);

/* Makes completed writes durable (fdatasync: for a block device, a flush of its write cache). Once a
 * flush has failed, or a write failed with EIO, every later flush fails with that error until the disk
 * is opened anew: the kernel may have marked the lost pages clean, and a flush that succeeded would
 * call them durable. */
int disk_flush(Disk *d);

/* Deallocates a range: punching a hole in a file (reads give zeros afterwards), BLKDISCARD on a block
 * device (reads give what the device says). -EOPNOTSUPP when the backing store cannot. */
int disk_discard(Disk *d, uint64_t offset, uint64_t length);

/* Makes a range read back as zeros: FALLOC_FL_ZERO_RANGE (or a hole) on a file, BLKZEROOUT on a block
 * device, writing zeros where the file system can do neither. Works on every writable disk. */
int disk_write_zeroes(Disk *d, uint64_t offset, uint64_t length);
