/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/test-trigger.h"
#include "log.h"

#if SDVM_TEST_HOOKS
static TestTrigger armed;

TestTrigger test_trigger_from_string(const char *s) {
        if (strcmp(s, "vcpu") == 0)
                return TEST_TRIGGER_VCPU;
        if (strcmp(s, "device") == 0)
                return TEST_TRIGGER_DEVICE;
        return _TEST_TRIGGER_INVALID;
}

void test_trigger_arm(TestTrigger t) {
        __atomic_store_n(&armed, t, __ATOMIC_SEQ_CST);
}

void test_trigger_fire(TestTrigger t) {
        TestTrigger want = t;
        int fd;

        if (!__atomic_compare_exchange_n(&armed, &want, TEST_TRIGGER_NONE, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                return;
        if (t == TEST_TRIGGER_VCPU) {
                char *argv[] = { (char *) "/nonexistent/sdvm-test-trigger", NULL };
                log_warning("Test trigger: this vCPU thread calls execve(), which its seccomp filter forbids.");
                (void) execve(argv[0], argv, (char *[]) { NULL });
                log_error_errno(errno, "Test trigger: execve() on a vCPU thread returned: %m");
        } else {
                log_warning("Test trigger: this device I/O thread calls socket(AF_INET), which its seccomp filter "
                            "forbids.");
                fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                log_error_errno(fd < 0 ? errno : 0, "Test trigger: socket(AF_INET) on a device I/O thread returned %d: %m",
                                fd);
                if (fd >= 0)
                        (void) close(fd);
        }
}
#endif
