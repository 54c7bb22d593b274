/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Test-only (meson -Dtest-hooks=true, never in a release build): makes one confined thread attempt
 * a call its seccomp filter forbids, so that the testbed can show that vmm dies by SIGSYS and what
 * systemd then does. vmm arms it at start (main.c); the vCPU thread that takes the guest's boot-timer
 * write, or the first request a device I/O thread serves, fires it once. */

typedef enum TestTrigger {
        TEST_TRIGGER_NONE,
        TEST_TRIGGER_VCPU,   /* execve() */
        TEST_TRIGGER_DEVICE, /* socket(AF_INET) */
        _TEST_TRIGGER_MAX,
        _TEST_TRIGGER_INVALID = -22,
} TestTrigger;

#if SDVM_TEST_HOOKS
TestTrigger test_trigger_from_string(const char *s);
void test_trigger_arm(TestTrigger t);
void test_trigger_fire(TestTrigger t);
#else
static inline void test_trigger_fire(TestTrigger t) {
}
#endif
