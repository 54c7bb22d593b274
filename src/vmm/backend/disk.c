/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/disk.h"
#include "log.h"

#define SECTOR_SIZE 512

Disk *disk_free(Disk *d) {
        if (!d)
                return NULL;
        safe_close(d->fd);
        free(d->label);
        free(d);
        return NULL;
}

/* Whether the block device behind st can discard: its queue says so in sysfs (a partition's queue is
 * its disk's). Probing with BLKDISCARD itself is not safe on every kernel. */
static bool block_device_can_discard(const struct stat *st) {
        static const char *const rel[] = {"queue", "../queue"};

        for (size_t i = 0; i < ELEMENTSOF(rel); i++) {
                char path[128];
                unsigned long long v;
                _cleanup_fclose_ FILE *f = NULL;

                (void) snprintf(path, sizeof path, "/sys/dev/block/%u:%u/%s/discard_max_bytes",
                                major(st->st_rdev), minor(st->st_rdev), rel[i]);
                f = fopen(path, "re");
                if (!f)
                        continue;
                return fscanf(f, "%llu", &v) == 1 && v > 0;
        }
        return false;
}

/* Whether the file system punches holes, by its type. Not by trying: even a hole punched past the end,
 * which frees nothing, moves the file's modification time (ext4, tmpfs), and a suspended VM's state
 * refuses a disk whose time moved since the save, so that trying at every start, a failed one too,
 * would make every saved state of a VM with a disk unrestorable. These punch holes in every file
 * (ext4 also in the block-mapped files of an ext3 layout); elsewhere the guest gets no discard. */
static bool file_can_discard(int fd) {
        static const int64_t types[] = {
                0xEF53,     /* ext2/3/4 (the ext4 driver) */
                0x58465342, /* XFS */
                0x9123683E, /* btrfs */
                0x01021994, /* tmpfs */
                0xF2F52010, /* F2FS */
                0xCA451A4E, /* bcachefs */
        };
        struct statfs sfs;

        if (fstatfs(fd, &sfs) < 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if ((int64_t) sfs.f_type == types[i])
                        return true;
        return false;
}

int disk_open_path(const char *path, bool read_only, const char *label, int *ret_fd) {
        int fd;

        assert(path && label && ret_fd);
        /* O_NONBLOCK: a FIFO at the path must not hang us; disk_new() refuses it. */
        fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
                return log_error_errno(errno, "%s does not exist", label);
        if (fd < 0)
                return log_error_errno(errno, "%s cannot be opened: %m", label);
        *ret_fd = fd;
        return 0;
}

int disk_new(int fd, const DiskParams *p, Disk **ret) {
        _cleanup_close_ int owned = fd;
        _cleanup_(disk_freep) Disk *d = NULL;
        struct flock lock = {.l_whence = SEEK_SET};
        struct stat st;
        uint64_t size;
        int flags;

        assert(fd >= 0 && p && p->label && ret);

        d = calloc(1, sizeof *d);
        if (!d)
                return log_oom();
        d->fd = -EBADF;
        d->read_only = p->read_only;
        d->label = strdup(p->label);
        if (!d->label)
                return log_oom();

        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "%s: failed to stat: %m", d->label);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return log_error_errno(EBADFD, "%s is not a regular file or block device", d->label);
        d->block_device = S_ISBLK(st.st_mode);

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return log_error_errno(errno, "%s: failed to get file flags: %m", d->label);
        if (!p->read_only && (flags & O_ACCMODE) == O_RDONLY)
                return log_error_errno(EBADF, "%s was passed in read-only, but ReadOnly=no", d->label);
        if ((flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return log_error_errno(errno, "%s: failed to set file flags: %m", d->label);

        /* Readers share an image, a writer has it alone. An OFD lock belongs to this open file description,
         * goes with it when it is closed, and conflicts with other opens in this process too. */
        lock.l_type = p->read_only ? F_RDLCK : F_WRLCK;
        if (fcntl(fd, F_OFD_SETLK, &lock) < 0) {
                if (errno == EAGAIN || errno == EACCES)
                        return log_error_errno(EBUSY, "%s is in use by another VM%s", d->label,
                                               p->read_only ? " that may write to it" : "");
                return log_error_errno(errno, "%s: failed to lock: %m", d->label);
        }

        if (d->block_device) {
                if (ioctl(fd, BLKGETSIZE64, &size) < 0)
                        return log_error_errno(errno, "%s: failed to get the size of the block device: %m",
                                               d->label);
        } else
                size = (uint64_t) st.st_size;
        if (size == 0)
                return log_error_errno(EINVAL, "%s is empty", d->label);
        if (size % SECTOR_SIZE != 0)
                return log_error_errno(EINVAL, "%s has a size of %llu bytes, not a multiple of %d", d->label,
                                       (unsigned long long) size, SECTOR_SIZE);
        d->size = size;

        if (!d->read_only)
                d->can_discard = d->block_device ? block_device_can_discard(&st) : file_can_discard(fd);

        d->fd = TAKE_FD(owned);
        *ret = TAKE_PTR(d);
        return 0;
}

static int check_range(const Disk *d, uint64_t offset, uint64_t length) {
        if (offset > d->size || length > d->size - offset)
                return -ERANGE;
        return 0;
}

/* preadv()/pwritev() until all of iov is done. The caller's iovecs stay untouched: after a short
 * transfer the rest is done from a copy. */
static int full_io(Disk *d, bool write, const struct iovec *iov, int iovcnt, uint64_t offset) {
        _cleanup_free_ struct iovec *copy = NULL;
        struct iovec *cur = NULL;
        uint64_t total = 0;
        int r;

        if (iovcnt < 0 || iovcnt > IOV_MAX)
                return -EINVAL;
        for (int i = 0; i < iovcnt; i++) {
                if (iov[i].iov_len > UINT64_MAX - total)
                        return -ERANGE;
                total += iov[i].iov_len;
        }
        r = check_range(d, offset, total);
        if (r < 0)
                return r;

        while (total > 0) {
                ssize_t k;
                size_t left;

                k = write ? pwritev(d->fd, iov, iovcnt, (off_t) offset)
                          : preadv(d->fd, iov, iovcnt, (off_t) offset);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO; /* the file ended before the disk did: it was truncated under us */
                offset += (uint64_t) k;
                total -= (uint64_t) k;
                if (total == 0)
                        break;

                if (!copy) {
                        copy = malloc((size_t) iovcnt * sizeof *copy);
                        if (!copy)
                                return -ENOMEM;
                        memcpy(copy, iov, (size_t) iovcnt * sizeof *copy);
                        cur = copy;
                }
                for (left = (size_t) k; iovcnt > 0 && left >= cur->iov_len; cur++, iovcnt--)
                        left -= cur->iov_len;
                cur->iov_base = (uint8_t *) cur->iov_base + left;
                cur->iov_len -= left;
                iov = cur;
        }
        return 0;
}

int disk_preadv(Disk *d, const struct iovec *iov, int iovcnt, uint64_t offset) {
        assert(d);
        return full_io(d, false, iov, iovcnt, offset);
}

int disk_pwritev(Disk *d, const struct iovec *iov, int iovcnt, uint64_t offset) {
        int r;

        assert(d);
        if (d->read_only)
                return -EROFS;
        r = full_io(d, true, iov, iovcnt, offset);
        /* An I/O error of the store may have taken earlier writes with it: no flush may claim them. */
        if (r == -EIO && d->flush_error == 0)
                d->flush_error = r;
        return r;
}

int disk_flush(Disk *d) {
        assert(d);
        /* Once the kernel reported a write-back error, it may have dropped those pages as clean: a later
         * fdatasync() would succeed and call lost data durable. So the first error stays. */
        if (d->flush_error < 0)
                return d->flush_error;
        if (fdatasync(d->fd) < 0) {
                d->flush_error = errno == EINTR ? 0 : -errno;
                return -errno;
        }
        return 0;
}

int disk_discard(Disk *d, uint64_t offset, uint64_t length) {
        int r;

        assert(d);
        if (d->read_only)
                return -EROFS;
        r = check_range(d, offset, length);
        if (r < 0 || length == 0)
                return r;
        if (!d->can_discard)
                return -EOPNOTSUPP;
        if (d->block_device) {
                uint64_t range[2] = {offset, length};

                return ioctl(d->fd, BLKDISCARD, range) < 0 ? -errno : 0;
        }
        return fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset, (off_t) length) <
                               0
                       ? -errno
                       : 0;
}

int disk_write_zeroes(Disk *d, uint64_t offset, uint64_t length) {
        static const uint8_t zeroes[64 * 1024];
        int r;

        assert(d);
        if (d->read_only)
                return -EROFS;
        r = check_range(d, offset, length);
        if (r < 0 || length == 0)
                return r;
        if (d->block_device) {
                /* The kernel writes zeros itself where the device has no command for it. */
                uint64_t range[2] = {offset, length};

                return ioctl(d->fd, BLKZEROOUT, range) < 0 ? -errno : 0;
        }

        if (fallocate(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t) offset, (off_t) length) >=
            0)
                return 0;
        if (errno != EOPNOTSUPP)
                return -errno;
        if (d->can_discard && fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset,
                                        (off_t) length) >= 0)
                return 0;

        while (length > 0) {
                struct iovec iov = {
                        .iov_base = (void *) zeroes,
                        .iov_len = length < sizeof zeroes ? (size_t) length : sizeof zeroes,
                };

                r = full_io(d, true, &iov, 1, offset);
                if (r < 0)
                        return r;
                offset += iov.iov_len;
                length -= iov.iov_len;
        }
        return 0;
}
