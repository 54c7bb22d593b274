/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"
#include "backend/disk.h"

#define MIB (UINT64_C(1) << 20)

static char dir[] = "/var/tmp/test-disk.XXXXXX";
static char image[sizeof dir + 16];

/* A file of size bytes at path, each 512-byte sector filled with its number's low byte plus 1. */
static void make_image(const char *path, uint64_t size) {
        static uint8_t sector[512];
        int fd;

        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        for (uint64_t off = 0; off + sizeof sector <= size; off += sizeof sector) {
                memset(sector, (int) ((off / 512 + 1) & 0xff), sizeof sector);
                assert_int_equal(pwrite(fd, sector, sizeof sector, (off_t) off), (ssize_t) sizeof sector);
        }
        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        assert_int_equal(fsync(fd), 0);
        close(fd);
}

/* path (or fd, if >= 0) as vmm opens [Disk] #(index+1) on line 7: disk_open_path() unless an fd was
 * passed, then disk_new(), labelled as the config entry; returns its result and what it logged. */
static int open_disk(const char *path, bool read_only, unsigned index, int fd, Disk **ret, char **ret_log) {
        char label[256];
        Capture c;
        int r = 0;

        (void) snprintf(label, sizeof label, "[Disk] #%u (%s, line 7)", index + 1, path);
        *ret = NULL;
        capture_begin(&c);
        if (fd < 0)
                r = disk_open_path(path, read_only, label, &fd);
        if (r >= 0)
                r = disk_new(fd, &(DiskParams) { .label = label, .read_only = read_only }, ret);
        *ret_log = capture_end(&c);
        return r;
}

static Disk *open_ok(const char *path, bool read_only) {
        Disk *d;
        char *log;

        assert_int_equal(open_disk(path, read_only, 0, -EBADF, &d, &log), 0);
        assert_string_equal(log, "");
        free(log);
        assert_non_null(d);
        return d;
}

static void check_open_error(const char *path, bool read_only, int fd, int error, const char *message) {
        char expected[1024], *log;
        Disk *d;

        snprintf(expected, sizeof expected, "[Disk] #2 (%s, line 7) %s\n", path, message);
        assert_int_equal(open_disk(path, read_only, 1, fd, &d, &log), error);
        assert_string_equal(log, expected);
        assert_null(d);
        free(log);
}

static int setup(void **state) {
        if (!mkdtemp(dir))
                return -1;
        snprintf(image, sizeof image, "%s/root.img", dir);
        return 0;
}

static int teardown(void **state) {
        char cmd[sizeof dir + 16];

        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_open(void **state) {
        _cleanup_(disk_freep) Disk *d = NULL, *e = NULL;
        char label[256], *log;
        int fd;

        make_image(image, MIB);
        d = open_ok(image, false);
        assert_true(d->size == MIB);
        assert_false(d->read_only);
        assert_false(d->block_device);
        snprintf(label, sizeof label, "[Disk] #1 (%s, line 7)", image);
        assert_string_equal(d->label, label);
        assert_int_equal(fcntl(d->fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDWR);
        assert_true(fcntl(d->fd, F_GETFD) & FD_CLOEXEC);
        d = disk_free(d);

        /* Read-only: opened O_RDONLY; no discard offered. */
        d = open_ok(image, true);
        assert_true(d->read_only);
        assert_false(d->can_discard);
        assert_int_equal(fcntl(d->fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        d = disk_free(d);

        /* The fd systemd passed (OpenFile=) is used as it is, and owned from then on. */
        fd = open(image, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(open_disk("/nonexistent/but/unused", false, 3, fd, &e, &log), 0);
        assert_string_equal(log, "");
        free(log);
        assert_int_equal(e->fd, fd);
        assert_true(e->size == MIB);
        assert_string_equal(e->label, "[Disk] #4 (/nonexistent/but/unused, line 7)");
}

static void test_open_errors(void **state) {
        char path[sizeof dir + 32];
        int fd;

        snprintf(path, sizeof path, "%s/missing.img", dir);
        check_open_error(path, false, -EBADF, -ENOENT, "does not exist");
        check_open_error(path, true, -EBADF, -ENOENT, "does not exist");

        /* Not files: a directory (read-only, as O_RDWR fails earlier), a FIFO (which must not block), a
         * character device. */
        check_open_error(dir, true, -EBADF, -EBADFD, "is not a regular file or block device");
        check_open_error(dir, false, -EBADF, -EISDIR, "cannot be opened: Is a directory");
        snprintf(path, sizeof path, "%s/fifo", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        check_open_error(path, false, -EBADF, -EBADFD, "is not a regular file or block device");
        check_open_error("/dev/null", false, -EBADF, -EBADFD, "is not a regular file or block device");

        /* Sizes: empty, and not whole sectors. */
        snprintf(path, sizeof path, "%s/short.img", dir);
        make_image(path, 0);
        check_open_error(path, false, -EBADF, -EINVAL, "is empty");
        make_image(path, 1000);
        check_open_error(path, false, -EBADF, -EINVAL, "has a size of 1000 bytes, not a multiple of 512");
        make_image(path, MIB + 511);
        check_open_error(path, true, -EBADF, -EINVAL, "has a size of 1049087 bytes, not a multiple of 512");

        /* A read-only fd for a writable disk (OpenFile=...:read-only with ReadOnly=no). */
        make_image(path, MIB);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        check_open_error(path, false, fd, -EBADF, "was passed in read-only, but ReadOnly=no");
        assert_true(fcntl(fd, F_GETFD) < 0 && errno == EBADF); /* closed on failure */
}

static void test_lock(void **state) {
        _cleanup_(disk_freep) Disk *w = NULL, *r1 = NULL, *r2 = NULL;

        make_image(image, MIB);

        /* A writer has the image alone: a second writer and a reader fail, clearly. */
        w = open_ok(image, false);
        check_open_error(image, false, -EBADF, -EBUSY, "is in use by another VM");
        check_open_error(image, true, -EBADF, -EBUSY, "is in use by another VM that may write to it");
        w = disk_free(w);

        /* Readers share it, and keep a writer out. Closing releases the lock. */
        r1 = open_ok(image, true);
        r2 = open_ok(image, true);
        check_open_error(image, false, -EBADF, -EBUSY, "is in use by another VM");
        r1 = disk_free(r1);
        check_open_error(image, false, -EBADF, -EBUSY, "is in use by another VM");
        r2 = disk_free(r2);
        w = open_ok(image, false);
}

static bool fd_closed(int fd) {
        return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* disk_new() on fd with label "vdb" (a name a hot-added disk could have); its result and what it
 * logged. */
static int new_disk(int fd, bool read_only, Disk **ret, char **ret_log) {
        char label[] = "vdb";
        Capture c;
        int r;

        *ret = NULL;
        capture_begin(&c);
        r = disk_new(fd, &(DiskParams) {.label = label, .read_only = read_only}, ret);
        *ret_log = capture_end(&c);
        memset(label, 0, sizeof label); /* copied, not kept */
        return r;
}

static Disk *new_ok(int fd, bool read_only) {
        Disk *d;
        char *log;

        assert_true(fd >= 0);
        assert_int_equal(new_disk(fd, read_only, &d, &log), 0);
        assert_string_equal(log, "");
        free(log);
        return d;
}

/* disk_new() fails on fd with message, and has closed fd. */
static void check_new_error(int fd, bool read_only, int error, const char *message) {
        char *log;
        Disk *d;

        assert_true(fd >= 0);
        assert_int_equal(new_disk(fd, read_only, &d, &log), error);
        assert_string_equal(log, message);
        assert_null(d);
        free(log);
        assert_true(fd_closed(fd));
}

/* The fd comes from whoever opened it: disk_new() takes it, on success and on failure. */
static void test_new(void **state) {
        _cleanup_(disk_freep) Disk *d = NULL;
        char path[sizeof dir + 32];
        int fd;

        struct stat before, after;

        make_image(image, MIB);
        /* An old modification time, which anything that touched the image would move visibly. */
        assert_int_equal(
                utimensat(AT_FDCWD, image, (struct timespec[2]){{0, UTIME_OMIT}, {1000000000, 123}}, 0), 0);
        assert_int_equal(stat(image, &before), 0);
        fd = open(image, O_RDWR | O_CLOEXEC | O_NONBLOCK);
        assert_true(fd >= 0);
        d = new_ok(fd, false);
        /* Opening changes nothing of the image, its modification time included: a suspended VM's state
         * compares it. */
        assert_int_equal(stat(image, &after), 0);
        assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
        assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
        assert_int_equal(d->fd, fd);
        assert_true(d->size == MIB);
        assert_false(d->read_only);
        assert_true(d->can_discard);
        assert_string_equal(d->label, "vdb");
        assert_int_equal(fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDWR); /* blocking from now on */
        d = disk_free(d);
        assert_true(fd_closed(fd));

        /* A read-only fd for a read-only disk. */
        fd = open(image, O_RDONLY | O_CLOEXEC);
        d = new_ok(fd, true);
        assert_true(d->read_only);
        assert_false(d->can_discard);
        d = disk_free(d);

        /* Failures close the fd. */
        check_new_error(open(image, O_RDONLY | O_CLOEXEC), false, -EBADF,
                        "vdb was passed in read-only, but ReadOnly=no\n");
        check_new_error(open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY), true, -EBADFD,
                        "vdb is not a regular file or block device\n");
        check_new_error(open("/dev/null", O_RDWR | O_CLOEXEC), false, -EBADFD,
                        "vdb is not a regular file or block device\n");
        snprintf(path, sizeof path, "%s/odd.img", dir);
        make_image(path, 1000);
        check_new_error(open(path, O_RDWR | O_CLOEXEC), false, -EINVAL,
                        "vdb has a size of 1000 bytes, not a multiple of 512\n");
}

static void test_open_path(void **state) {
        char path[sizeof dir + 32], *log;
        Capture c;
        int fd = -EBADF;

        make_image(image, MIB);
        assert_int_equal(disk_open_path(image, false, "vdb", &fd), 0);
        assert_int_equal(fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDWR | O_NONBLOCK);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
        assert_int_equal(disk_open_path(image, true, "vdb", &fd), 0);
        assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        close(fd);

        snprintf(path, sizeof path, "%s/missing.img", dir);
        fd = -EBADF;
        capture_begin(&c);
        assert_int_equal(disk_open_path(path, false, "vdb", &fd), -ENOENT);
        assert_int_equal(disk_open_path(dir, false, "vdc", &fd), -EISDIR);
        log = capture_end(&c);
        assert_string_equal(log, "vdb does not exist\nvdc cannot be opened: Is a directory\n");
        free(log);
        assert_int_equal(fd, -EBADF); /* untouched */
}

/* The OFD lock taken through disk_new() on fds opened elsewhere, with the same messages. */
static void test_lock_new(void **state) {
        _cleanup_(disk_freep) Disk *w = NULL, *r1 = NULL, *r2 = NULL;

        make_image(image, MIB);
        w = new_ok(open(image, O_RDWR | O_CLOEXEC), false);
        check_new_error(open(image, O_RDWR | O_CLOEXEC), false, -EBUSY, "vdb is in use by another VM\n");
        check_new_error(open(image, O_RDONLY | O_CLOEXEC), true, -EBUSY,
                        "vdb is in use by another VM that may write to it\n");
        w = disk_free(w);

        r1 = new_ok(open(image, O_RDONLY | O_CLOEXEC), true);
        r2 = new_ok(open(image, O_RDONLY | O_CLOEXEC), true);
        check_new_error(open(image, O_RDWR | O_CLOEXEC), false, -EBUSY, "vdb is in use by another VM\n");
        r1 = disk_free(r1);
        r2 = disk_free(r2);
        w = new_ok(open(image, O_RDWR | O_CLOEXEC), false);
        /* an fd passed in and a path opened here are one lock: the config's [Disk] is refused too. */
        check_open_error(image, false, -EBADF, -EBUSY, "is in use by another VM");
}

static void test_io(void **state) {
        _cleanup_(disk_freep) Disk *d = NULL, *ro = NULL;
        uint8_t a[100], b[1000], c[948], back[2048];
        struct iovec wv[] = {{a, sizeof a}, {NULL, 0}, {b, sizeof b}, {c, sizeof c}};
        struct iovec rv[] = {{back, 1}, {back + 1, sizeof back - 1}};
        int fd;

        make_image(image, MIB);
        d = open_ok(image, false);
        memset(a, 0xaa, sizeof a);
        memset(b, 0xbb, sizeof b);
        memset(c, 0xcc, sizeof c);

        assert_int_equal(disk_pwritev(d, wv, 4, 4096), 0);
        assert_int_equal(disk_preadv(d, rv, 2, 4096), 0);
        assert_memory_equal(back, a, sizeof a);
        assert_memory_equal(back + 100, b, sizeof b);
        assert_memory_equal(back + 1100, c, sizeof c);
        /* Untouched around it. */
        assert_int_equal(disk_preadv(d, &(struct iovec){back, 512}, 1, 4096 - 512), 0);
        assert_int_equal(back[0], (4096 / 512) & 0xff);
        assert_int_equal(disk_flush(d), 0);

        /* The last sector is fine; beyond it is not. */
        assert_int_equal(disk_preadv(d, &(struct iovec){back, 512}, 1, MIB - 512), 0);
        assert_int_equal(disk_preadv(d, &(struct iovec){back, 1024}, 1, MIB - 512), -ERANGE);
        assert_int_equal(disk_pwritev(d, &(struct iovec){back, 512}, 1, MIB), -ERANGE);
        assert_int_equal(disk_preadv(d, &(struct iovec){back, 512}, 1, UINT64_MAX - 100), -ERANGE);
        assert_int_equal(disk_preadv(d, rv, -1, 0), -EINVAL);

        /* A file shrunk under us: a read that reaches its end (after a short read) is an I/O error. */
        fd = open(image, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 8192), 0);
        close(fd);
        assert_int_equal(disk_preadv(d, rv, 2, 8192 - 1024), -EIO);
        assert_int_equal(disk_preadv(d, rv, 2, 65536), -EIO);
        d = disk_free(d);

        make_image(image, MIB);
        ro = open_ok(image, true);
        assert_int_equal(disk_preadv(ro, rv, 2, 0), 0);
        assert_int_equal(back[0], 1);
        assert_int_equal(disk_pwritev(ro, wv, 4, 0), -EROFS);
        assert_int_equal(disk_discard(ro, 0, 4096), -EROFS);
        assert_int_equal(disk_write_zeroes(ro, 0, 4096), -EROFS);
        assert_int_equal(disk_flush(ro), 0);
}

/* A failed flush is remembered: after the store recovers, a flush still fails (the kernel may have
 * dropped the pages it could not write). The failure is made with an fd that cannot be synced. */
static void test_flush_error_latches(void **state) {
        _cleanup_(disk_freep) Disk *d = NULL;
        int good, bad;

        make_image(image, MIB);
        d = open_ok(image, false);
        assert_int_equal(disk_flush(d), 0);
        good = dup(d->fd);
        bad = open(image, O_PATH | O_CLOEXEC);
        assert_true(good >= 0 && bad >= 0);
        assert_true(dup2(bad, d->fd) >= 0); /* fdatasync() on an O_PATH fd fails (EBADF) */
        assert_int_equal(disk_flush(d), -EBADF);
        assert_true(dup2(good, d->fd) >= 0); /* the store is fine again */
        assert_int_equal(fdatasync(d->fd), 0);
        assert_int_equal(disk_flush(d), -EBADF);
        assert_int_equal(disk_flush(d), -EBADF);
        close(good);
        close(bad);
}

static uint64_t blocks(const char *path) {
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        return (uint64_t) st.st_blocks;
}

static void test_discard(void **state) {
        _cleanup_(disk_freep) Disk *d = NULL;
        static uint8_t buf[256 * 1024], zero[256 * 1024];
        uint64_t before;

        make_image(image, MIB);
        d = open_ok(image, false);
        assert_true(d->can_discard); /* /var/tmp is on a file system that punches holes */

        before = blocks(image);
        assert_int_equal(disk_discard(d, 256 * 1024, sizeof buf), 0);
        assert_int_equal(disk_flush(d), 0);
        assert_true(blocks(image) + (sizeof buf / 512) / 2 <= before);
        assert_int_equal(disk_preadv(d, &(struct iovec){buf, sizeof buf}, 1, 256 * 1024), 0);
        assert_memory_equal(buf, zero, sizeof buf);
        /* The size stays. */
        assert_int_equal(disk_preadv(d, &(struct iovec){buf, 512}, 1, 512 * 1024), 0);
        assert_int_equal(buf[0], (512 * 1024 / 512 + 1) & 0xff);
        assert_int_equal(disk_discard(d, MIB - 512, 1024), -ERANGE);
        assert_int_equal(disk_discard(d, 0, 0), 0);
}

static void test_write_zeroes(void **state) {
        _cleanup_(disk_freep) Disk *d = NULL;
        static uint8_t buf[16384], zero[16384];

        make_image(image, MIB);
        d = open_ok(image, false);
        assert_int_equal(disk_write_zeroes(d, 4096, 8192), 0);
        assert_int_equal(disk_preadv(d, &(struct iovec){buf, sizeof buf}, 1, 0), 0);
        assert_int_equal(buf[4095], (4096 / 512) & 0xff);
        assert_memory_equal(buf + 4096, zero, 8192);
        assert_int_equal(buf[12288], (12288 / 512 + 1) & 0xff);
        assert_true(d->size == MIB);
        assert_int_equal(disk_write_zeroes(d, MIB, 512), -ERANGE);
        assert_int_equal(disk_write_zeroes(d, MIB - 512, 512), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_open),    cmocka_unit_test(test_open_errors),
                cmocka_unit_test(test_lock),    cmocka_unit_test(test_new),
                cmocka_unit_test(test_open_path), cmocka_unit_test(test_lock_new),
                cmocka_unit_test(test_io),
                cmocka_unit_test(test_flush_error_latches),
                cmocka_unit_test(test_discard), cmocka_unit_test(test_write_zeroes),
        };
        unsetenv("JOURNAL_STREAM");
        return cmocka_run_group_tests(tests, setup, teardown);
}
