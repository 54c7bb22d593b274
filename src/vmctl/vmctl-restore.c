/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vmctl-restore.h"

/* The most one copy_file_range()/pread() moves: the unit of progress. */
#define CHUNK (UINT64_C(8) << 20)

static uint64_t min_u64(uint64_t a, uint64_t b) {
        return a < b ? a : b;
}

static int temp_name(const char *name, char buf[static NAME_MAX + 1]) {
        uint32_t v;

        if (getrandom(&v, sizeof v, 0) != (ssize_t) sizeof v)
                return -errno;
        (void) snprintf(buf, NAME_MAX + 1, ".#%s.%08" PRIx32, name, v);
        return 0;
}

/* [from, to) of src into dst at the same offsets: copy_file_range() until the kernel says it cannot
 * (across file systems before 5.19, some file systems never), then pread/pwrite. */
static int copy_range(int src, int dst, uint64_t from, uint64_t to, bool *no_cfr, uint64_t *done,
                      uint64_t total, CopyProgress progress, void *userdata) {
        _cleanup_free_ uint8_t *buf = NULL;

        while (from < to) {
                size_t want = (size_t) min_u64(CHUNK, to - from);
                ssize_t k;

                if (!*no_cfr) {
                        off_t in = (off_t) from, out = (off_t) from;
                        k = copy_file_range(src, &in, dst, &out, want, 0);
                        if (k < 0 &&
                            (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
                                *no_cfr = true;
                                continue;
                        }
                } else {
                        if (!buf && !(buf = malloc(CHUNK)))
                                return -ENOMEM;
                        k = pread(src, buf, want, (off_t) from);
                        if (k > 0) {
                                for (ssize_t w = 0; w < k;) {
                                        ssize_t m = pwrite(dst, buf + w, (size_t) (k - w), (off_t) from + w);
                                        if (m < 0 && errno == EINTR)
                                                continue;
                                        if (m <= 0)
                                                return m < 0 ? -errno : -EIO;
                                        w += m;
                                }
                        }
                }
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0) /* the source shrank under us: what we copy would not be what was checked */
                        return -ENODATA;
                from += (uint64_t) k;
                *done += (uint64_t) k;
                if (progress)
                        progress(*done, total, userdata);
        }
        return 0;
}

/* The source's data, range by range (SEEK_DATA/SEEK_HOLE); the holes come from sizing dst first. */
static int copy_data(int src, int dst, uint64_t size, CopyProgress progress, void *userdata) {
        uint64_t offset = 0, done = 0, total = 0;
        bool no_cfr = false;
        int r;

        if (ftruncate(dst, (off_t) size) < 0)
                return -errno;
        /* The total for progress: the data, not the holes. */
        for (uint64_t o = 0; o < size;) {
                off_t data = lseek(src, (off_t) o, SEEK_DATA), hole;
                if (data < 0 && errno == ENXIO)
                        break;
                if (data < 0)
                        return -errno;
                hole = lseek(src, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                if (hole <= data) /* cannot happen; never loop forever on a file system's surprise */
                        return -EIO;
                total += min_u64((uint64_t) hole, size) - (uint64_t) data;
                o = (uint64_t) hole;
        }
        while (offset < size) {
                off_t data = lseek(src, (off_t) offset, SEEK_DATA), hole;
                uint64_t end;

                if (data < 0 && errno == ENXIO)
                        break;
                if (data < 0)
                        return -errno;
                if ((uint64_t) data >= size)
                        break;
                hole = lseek(src, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                end = min_u64((uint64_t) hole, size);
                if (end <= (uint64_t) data)
                        return -EIO;
                r = copy_range(src, dst, (uint64_t) data, end, &no_cfr, &done, total, progress, userdata);
                if (r < 0)
                        return r;
                offset = end;
        }
        return 0;
}

int state_file_copy(int src_fd, int dir_fd, const char *name, uid_t uid, gid_t gid, const char *label,
                    CopyProgress progress, void *userdata, struct stat *ret_st) {
        _cleanup_close_ int fd = -EBADF;
        char tmp[NAME_MAX + 1] = "", proc[64];
        struct stat st;
        int r;

        if (strlen(name) > NAME_MAX - 11)
                return log_error_errno(EINVAL, "'%s' is too long a file name.", name);
        if (fstat(src_fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat %s: %m", label);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "%s is not a regular file.", label);

        fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        /* EISDIR: a kernel without O_TMPFILE; EOPNOTSUPP: a file system without it. */
        if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                return log_error_errno(errno, "Failed to create a file in the VM's state directory: %m");
        for (unsigned tries = 0; fd < 0 && tries < 16; tries++) {
                r = temp_name(name, tmp);
                if (r < 0)
                        return log_error_errno(r, "Failed to make a temporary name: %m");
                fd = openat(dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Failed to create %s in the VM's state directory: %m",
                                               tmp);
        }
        if (fd < 0)
                return log_error_errno(EEXIST,
                                       "Failed to find a free temporary name in the VM's state directory.");

        /* Shared blocks where the file system can (btrfs, XFS): instant, and still a file of its own
         * (a write to either side copies the block). Else the data, in the kernel where it can. */
        if (ioctl(fd, FICLONE, src_fd) < 0) {
                r = copy_data(src_fd, fd, (uint64_t) st.st_size, progress, userdata);
                if (r < 0) {
                        if (r == -ENODATA)
                                log_error_errno(r, "%s shrank while it was being copied.", label);
                        else
                                log_error_errno(r, "Failed to copy %s into the VM's state directory: %m",
                                                label);
                        goto fail;
                }
        } else if (progress)
                progress((uint64_t) st.st_size, (uint64_t) st.st_size, userdata);

        /* vmm runs as the state directory's owner (DynamicUser=): the copy must be its to read. */
        if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0600) < 0) {
                r = log_error_errno(errno, "Failed to give the copy of %s to the VM's user: %m", label);
                goto fail;
        }
        if (fsync(fd) < 0) {
                r = log_error_errno(errno, "Failed to sync the copy of %s: %m", label);
                goto fail;
        }

        /* Into place without replacing anything: a state that appeared meanwhile is never lost. */
        if (!tmp[0]) {
                (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
                r = linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
                if (r == -ENOENT) /* no /proc */
                        r = linkat(fd, "", dir_fd, name, AT_EMPTY_PATH) < 0 ? -errno : 0;
        } else {
                r = renameat2(dir_fd, tmp, dir_fd, name, RENAME_NOREPLACE) < 0 ? -errno : 0;
                if (r == -EINVAL) { /* a file system without RENAME_NOREPLACE */
                        r = linkat(dir_fd, tmp, dir_fd, name, 0) < 0 ? -errno : 0;
                        if (r >= 0)
                                (void) unlinkat(dir_fd, tmp, 0);
                }
                if (r >= 0)
                        tmp[0] = 0;
        }
        if (r == -EEXIST)
                goto fail; /* the caller says what is there */
        if (r < 0) {
                log_error_errno(r, "Failed to put the copy of %s into place: %m", label);
                goto fail;
        }
        if (fsync(dir_fd) < 0)
                return log_error_errno(errno, "Copied %s, but its directory cannot be synced: %m", label);
        if (ret_st && fstat(fd, ret_st) < 0)
                return log_error_errno(errno, "Failed to stat the copy of %s: %m", label);
        return 0;

fail:
        if (tmp[0])
                (void) unlinkat(dir_fd, tmp, 0);
        return r;
}

/* ---- the journal ---- */

static int entry_field(sd_journal *j, const char *field, char **ret) {
        const void *data;
        size_t length, n = strlen(field);
        int r;

        r = sd_journal_get_data(j, field, &data, &length);
        if (r < 0)
                return r;
        if (length <= n + 1)
                return -ENODATA;
        *ret = strndup((const char *) data + n + 1, length - n - 1);
        return *ret ? 0 : -ENOMEM;
}

static uint64_t realtime_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

int journal_vm_error(const char *name, uint64_t since_usec, uint64_t timeout_usec, char **ret) {
        _cleanup_free_ char *vm_match = NULL, *unit_match = NULL;
        sd_journal *j = NULL;
        uint64_t deadline = realtime_usec() + timeout_usec;
        int r;

        if (asprintf(&vm_match, "VM=%s", name) < 0 ||
            asprintf(&unit_match, "_SYSTEMD_UNIT=vm@%s.service", name) < 0)
                return -ENOMEM;
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r < 0)
                return r;
        /* VM= is vmm's own field, there even when journald could not tell the unit of a process that had
         * exited by the time it read the entry; _SYSTEMD_UNIT= covers what vmm logs before it knows its
         * name. Both from vmm itself: PID 1's lines about the unit are not the reason. */
        if ((r = sd_journal_add_match(j, vm_match, 0)) < 0 ||
            (r = sd_journal_add_match(j, "SYSLOG_IDENTIFIER=vmm", 0)) < 0 ||
            (r = sd_journal_add_disjunction(j)) < 0 || (r = sd_journal_add_match(j, unit_match, 0)) < 0 ||
            (r = sd_journal_add_match(j, "SYSLOG_IDENTIFIER=vmm", 0)) < 0 ||
            (r = sd_journal_seek_realtime_usec(j, since_usec)) < 0)
                goto finish;
        for (;;) {
                uint64_t now, t;

                r = sd_journal_next(j);
                if (r < 0)
                        goto finish;
                if (r > 0) {
                        _cleanup_free_ char *priority = NULL;
                        if (sd_journal_get_realtime_usec(j, &t) < 0 || t < since_usec ||
                            entry_field(j, "PRIORITY", &priority) < 0 || priority[0] < '0' ||
                            priority[0] > '3' || priority[1])
                                continue;
                        r = entry_field(j, "MESSAGE", ret);
                        goto finish;
                }
                now = realtime_usec();
                if (now >= deadline) {
                        r = -ENOENT;
                        goto finish;
                }
                r = sd_journal_wait(j, deadline - now);
                if (r < 0)
                        goto finish;
        }
finish:
        sd_journal_close(j);
        return r;
}
