/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl restore's copy of a state file into a state directory: complete or absent, never replacing a
 * state that is there, holes kept, a file of its own. */
#include <dirent.h>
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
#include "cleanup.h"
#include "vmctl/vmctl-restore.h"

#define MIB  (UINT64_C(1) << 20)
#define SIZE (16 * MIB)

static char src_dir[] = "/var/tmp/test-vmctl-restore-src.XXXXXX";
static char dst_dir[] = "/var/tmp/test-vmctl-restore-dst.XXXXXX";
static char src_path[sizeof src_dir + 16];
static int dst_fd = -EBADF;

/* Data at 0, at 2 MiB and in the last page, holes between: a state file's shape in small. */
static void make_source(const char *path, uint8_t seed) {
        static uint8_t buf[64 * 1024];
        int fd;

        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) SIZE), 0);
        for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (uint8_t) (i * 7 + seed);
        assert_int_equal(pwrite(fd, buf, 4096, 0), 4096);
        assert_int_equal(pwrite(fd, buf, sizeof buf, (off_t) (2 * MIB)), (ssize_t) sizeof buf);
        assert_int_equal(pwrite(fd, buf, 4096, (off_t) (SIZE - 4096)), 4096);
        assert_int_equal(fsync(fd), 0);
        close(fd);
}

static uint8_t *read_all(int dir, const char *name, size_t *ret_size) {
        struct stat st;
        uint8_t *p;
        int fd;

        fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        p = malloc((size_t) st.st_size + 1);
        assert_non_null(p);
        assert_int_equal(pread(fd, p, (size_t) st.st_size, 0), st.st_size);
        close(fd);
        *ret_size = (size_t) st.st_size;
        return p;
}

static unsigned count_entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        unsigned n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

typedef struct Progress {
        uint64_t done, total;
        unsigned calls;
} Progress;

static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        Progress *p = userdata;

        assert_true(done >= p->done);
        assert_true(done <= total);
        p->done = done, p->total = total;
        p->calls++;
}

static int copy(int src, const char *name, Progress *p, struct stat *ret_st, char **ret_log) {
        Capture c;
        int r;

        capture_begin(&c);
        r = state_file_copy(src, dst_fd, name, getuid(), getgid(), "SRC", p ? on_progress : NULL, p, ret_st);
        *ret_log = capture_end(&c);
        return r;
}

static void test_copy(void **state) {
        _cleanup_free_ uint8_t *a = NULL, *b = NULL;
        _cleanup_free_ char *log = NULL;
        struct stat src_st, st, copy_st;
        Progress p = {};
        size_t na, nb;
        int src;

        make_source(src_path, 1);
        src = open(src_path, O_RDONLY | O_CLOEXEC);
        assert_true(src >= 0);
        /* The source's file offset does not matter: the copy starts at 0. */
        assert_int_equal(lseek(src, 12345, SEEK_SET), 12345);
        assert_int_equal(copy(src, "state", &p, &copy_st, &log), 0);
        assert_string_equal(log, "");
        assert_int_equal(fstatat(dst_fd, "state", &st, 0), 0);
        assert_int_equal(fstat(src, &src_st), 0);
        assert_int_equal(st.st_ino, copy_st.st_ino);
        assert_true(st.st_ino != src_st.st_ino || st.st_dev != src_st.st_dev);
        assert_int_equal(st.st_nlink, 1);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_size, SIZE);
        /* Holes stay holes: the data is 72 KiB of 16 MiB (allow for file systems' block sizes). */
        assert_true((uint64_t) st.st_blocks * 512 <= 4 * MIB);
        assert_true(p.calls >= 1);
        assert_int_equal(p.done, p.total);
        a = read_all(dst_fd, "state", &na);
        b = read_all(AT_FDCWD, src_path, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        assert_int_equal(count_entries(dst_dir), 1);

        /* A later change of the source does not reach the copy. */
        make_source(src_path, 2);
        free(b);
        b = read_all(dst_fd, "state", &nb);
        assert_memory_equal(a, b, na);
        close(src);
        assert_int_equal(unlinkat(dst_fd, "state", 0), 0);
}

static void test_never_replaces(void **state) {
        _cleanup_free_ uint8_t *before = NULL, *after = NULL;
        _cleanup_free_ char *log = NULL;
        size_t n1, n2;
        int src, fd;

        fd = openat(dst_fd, "state", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "the suspended VM", 16), 16);
        close(fd);
        before = read_all(dst_fd, "state", &n1);

        make_source(src_path, 3);
        src = open(src_path, O_RDONLY | O_CLOEXEC);
        assert_true(src >= 0);
        assert_int_equal(copy(src, "state", NULL, NULL, &log), -EEXIST);
        after = read_all(dst_fd, "state", &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(before, after, n1);
        /* No temporary file left behind. */
        assert_int_equal(count_entries(dst_dir), 1);
        close(src);
        assert_int_equal(unlinkat(dst_fd, "state", 0), 0);
}

static void test_not_regular(void **state) {
        _cleanup_free_ char *log = NULL;
        int src = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        assert_true(src >= 0);
        assert_int_equal(copy(src, "state", NULL, NULL, &log), -EINVAL);
        assert_string_equal(log, "SRC is not a regular file.\n");
        assert_int_equal(count_entries(dst_dir), 0);
        close(src);
}

static int setup(void **state) {
        if (!mkdtemp(src_dir) || !mkdtemp(dst_dir))
                return -1;
        (void) snprintf(src_path, sizeof src_path, "%s/src", src_dir);
        dst_fd = open(dst_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return dst_fd >= 0 ? 0 : -1;
}

static int teardown(void **state) {
        dst_fd = safe_close(dst_fd);
        (void) unlink(src_path);
        (void) rmdir(src_dir);
        (void) rmdir(dst_dir);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_copy),
                cmocka_unit_test(test_never_replaces),
                cmocka_unit_test(test_not_regular),
        };
        unsetenv("JOURNAL_STREAM");
        return cmocka_run_group_tests(tests, setup, teardown);
}
