/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_log_errno),
                cmocka_unit_test(test_log_prefix),
        };
        unsetenv("JOURNAL_STREAM");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
