/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

/* Captures what a log call writes to stderr. */
static char *capture(int (*fn)(void), int *ret) {
        static char buf[4096];
        int pipefd[2], saved;
        ssize_t n;

        assert_int_equal(pipe(pipefd), 0);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        *ret = fn();
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(pipefd[1]);
        n = read(pipefd[0], buf, sizeof buf - 1);
        close(pipefd[0]);
        buf[n < 0 ? 0 : n] = 0;
        return buf;
}

static int log_enoent(void) {
        errno = EPERM; /* %m must show the passed error, not errno */
        return log_error_errno(ENOENT, "open %s: %m", "/x");
}

static int log_negative(void) {
        return log_error_errno(-EBUSY, "busy: %m");
}

static int log_debug_suppressed(void) {
        return log_debug_errno(EIO, "not shown");
}

static void test_log_errno(void **state) {
        int r;
        char *out;

        out = capture(log_enoent, &r);
        assert_int_equal(r, -ENOENT);
        assert_string_equal(out, "open /x: No such file or directory\n");

        out = capture(log_negative, &r);
        assert_int_equal(r, -EBUSY);
        assert_string_equal(out, "busy: Device or resource busy\n");

        out = capture(log_debug_suppressed, &r);
        assert_int_equal(r, -EIO); /* still returned when not printed */
        assert_string_equal(out, "");
}

static void test_log_prefix(void **state) {
        int r;
        char *out;

        log_set_prefix("vmm[web]");
        out = capture(log_negative, &r);
        log_set_prefix(NULL);
        assert_string_equal(out, "vmm[web]: busy: Device or resource busy\n");
}

/* A fake journal: the fields of the last entry, joined by "|". */
static char journal_entry[4096];
static int journal_result;

static int fake_journal_send(const struct iovec *iov, int n) {
        size_t len = 0;

        journal_entry[0] = 0;
        for (int i = 0; i < n; i++) {
                assert_true(len + iov[i].iov_len + 2 < sizeof journal_entry);
                if (i > 0)
                        journal_entry[len++] = '|';
                memcpy(journal_entry + len, iov[i].iov_base, iov[i].iov_len);
                len += iov[i].iov_len;
                journal_entry[len] = 0;
        }
        return journal_result;
}

static int log_from_here_line;

static int log_from_here(void) {
        log_from_here_line = __LINE__ + 1;
        return log_warning_errno(ENOENT, "no %s: %m", "disk");
}

static void test_log_journal_fields(void **state) {
        char expected[512], *out;
        int r;

        log_set_journal_send(fake_journal_send);
        log_set_target(LOG_TARGET_JOURNAL);

        /* No VM name yet: no VM= field. */
        assert_null(log_get_vm_name());
        out = capture(log_from_here, &r);
        assert_int_equal(r, -ENOENT);
        assert_string_equal(out, ""); /* nothing on stderr */
        snprintf(expected, sizeof expected,
                 "MESSAGE=no disk: No such file or directory|PRIORITY=4|CODE_FILE=%s|CODE_LINE=%d|"
                 "CODE_FUNC=log_from_here|SYSLOG_IDENTIFIER=%s|ERRNO=2",
                 __FILE__, log_from_here_line, program_invocation_short_name);
        assert_string_equal(journal_entry, expected);

        /* With one, and without an error: VM=, no ERRNO=. */
        log_set_vm_name("web");
        assert_string_equal(log_get_vm_name(), "web");
        out = capture(log_negative, &r);
        assert_non_null(strstr(journal_entry, "MESSAGE=busy: Device or resource busy|PRIORITY=3|"));
        assert_non_null(strstr(journal_entry, "|ERRNO=16|VM=web"));
        log_info("hello");
        assert_non_null(strstr(journal_entry, "MESSAGE=hello|PRIORITY=6|"));
        assert_null(strstr(journal_entry, "ERRNO="));
        assert_non_null(strstr(journal_entry, "|VM=web"));

        /* The prefix goes into MESSAGE= as it goes into the line. */
        log_set_prefix("vmm[web]");
        log_info("hi");
        log_set_prefix(NULL);
        assert_non_null(strstr(journal_entry, "MESSAGE=vmm[web]: hi|"));

        /* A journal that is not there: the line goes to stderr, with its priority for the stream. */
        journal_result = -ECONNREFUSED;
        out = capture(log_negative, &r);
        assert_string_equal(out, "<3>busy: Device or resource busy\n");
        journal_result = 0;

        /* Long names are cut, not overflowed; NULL clears. */
        log_set_vm_name("0123456789012345678901234567890123456789012345678901234567890123456789");
        assert_int_equal(strlen(log_get_vm_name()), 64);
        log_set_vm_name(NULL);
        assert_null(log_get_vm_name());

        log_set_target(LOG_TARGET_AUTO);
        log_set_journal_send(NULL);
}

/* JOURNAL_STREAM names the stream by device and inode; only that fd counts as the journal. */
static void test_fd_is_journal_stream(void **state) {
        char buf[64];
        struct stat st;
        int fds[2];

        assert_int_equal(pipe(fds), 0);
        assert_int_equal(fstat(fds[1], &st), 0);
        unsetenv("JOURNAL_STREAM");
        assert_false(fd_is_journal_stream(fds[1]));
        snprintf(buf, sizeof buf, "%llu:%llu", (unsigned long long) st.st_dev,
                 (unsigned long long) st.st_ino);
        setenv("JOURNAL_STREAM", buf, 1);
        assert_true(fd_is_journal_stream(fds[1]));
        assert_true(fd_is_journal_stream(fds[0])); /* both ends of a pipe are one inode */
        setenv("JOURNAL_STREAM", "garbage", 1);
        assert_false(fd_is_journal_stream(fds[1]));
        unsetenv("JOURNAL_STREAM");
        close(fds[0]);
        close(fds[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_log_errno),
                cmocka_unit_test(test_log_prefix),
                cmocka_unit_test(test_log_journal_fields),
                cmocka_unit_test(test_fd_is_journal_stream),
        };
        unsetenv("JOURNAL_STREAM");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
