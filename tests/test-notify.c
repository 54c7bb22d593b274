/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "control/notify.h"

static void expect_format(NotifyEvent e, VmStopReason reason, const char *detail, const char *expected) {
        char buf[256];

        assert_int_equal(notify_format(e, reason, detail, buf, sizeof buf), (int) strlen(expected));
        assert_string_equal(buf, expected);
}

static void test_notify_format(void **state) {
        char small[8];

        expect_format(NOTIFY_STARTING, VM_STOP_NONE, NULL, "STATUS=Setting up the VM");
        expect_format(NOTIFY_RUNNING, VM_STOP_NONE, "2 vCPUs, 512 MiB",
                      "READY=1\nSTATUS=Guest is running (2 vCPUs, 512 MiB)");
        expect_format(NOTIFY_PAUSED, VM_STOP_NONE, NULL, "STATUS=Guest is paused");
        expect_format(NOTIFY_POWER_BUTTON, VM_STOP_NONE, NULL,
                      "STOPPING=1\nSTATUS=Guest is shutting down (power button pressed)");
        expect_format(NOTIFY_STOPPED, VM_STOP_POWEROFF, NULL, "STOPPING=1\nSTATUS=Guest powered off");
        expect_format(NOTIFY_STOPPED, VM_STOP_REBOOT, NULL,
                      "STOPPING=1\nSTATUS=Guest rebooted; the unit starts it again");
        expect_format(NOTIFY_STOPPED, VM_STOP_PANIC, NULL, "STOPPING=1\nSTATUS=Guest kernel panicked");
        expect_format(NOTIFY_STOPPED, VM_STOP_CRASH, NULL, "STOPPING=1\nSTATUS=Guest crashed");
        expect_format(NOTIFY_STOPPED, VM_STOP_ERROR, NULL, "STOPPING=1\nSTATUS=vmm failed");

        assert_int_equal(notify_format(_NOTIFY_EVENT_MAX, VM_STOP_NONE, NULL, small, sizeof small), -EINVAL);
        assert_int_equal(notify_format(NOTIFY_RUNNING, VM_STOP_NONE, NULL, small, sizeof small), -ENOBUFS);
}

/* Over a socket standing in for systemd's $NOTIFY_SOCKET. */
static void test_notify_send(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char dir[] = "/tmp/test-notify-XXXXXX", buf[512];
        ssize_t n;
        int fd;

        unsetenv("NOTIFY_SOCKET");
        assert_int_equal(notify_event(NOTIFY_RUNNING, VM_STOP_NONE, NULL), 0); /* run by hand: nothing */

        assert_non_null(mkdtemp(dir));
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", dir);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        setenv("NOTIFY_SOCKET", sa.sun_path, 1);

        assert_true(notify_event(NOTIFY_RUNNING, VM_STOP_NONE, "1 vCPU, 256 MiB") > 0);
        n = recv(fd, buf, sizeof buf - 1, 0);
        assert_true(n > 0);
        buf[n] = 0;
        assert_string_equal(buf, "READY=1\nSTATUS=Guest is running (1 vCPU, 256 MiB)");

        assert_true(notify_event(NOTIFY_STOPPED, VM_STOP_PANIC, NULL) > 0);
        n = recv(fd, buf, sizeof buf - 1, 0);
        assert_true(n > 0);
        buf[n] = 0;
        assert_string_equal(buf, "STOPPING=1\nSTATUS=Guest kernel panicked");
        assert_non_null(getenv("NOTIFY_SOCKET")); /* kept for later notifications */

        unsetenv("NOTIFY_SOCKET");
        close(fd);
        unlink(sa.sun_path);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_notify_format),
                cmocka_unit_test(test_notify_send),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
