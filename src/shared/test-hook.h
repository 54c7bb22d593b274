/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Test builds only (meson -Dtest-hooks=true; off by default and in every release build, where this is
 * nothing): test_hook_stop("point") stops the whole process with SIGSTOP when the first line of
 * TEST_HOOK_FILE is that point, so that a test can kill -9 it exactly there (a save half-written, say)
 * instead of guessing with timers. The file is world-readable, read at each point, so that a test arms
 * it for one call of a running process and disarms it after. */

#define TEST_HOOK_FILE "/run/sdvm-test-hook"

#if SDVM_TEST_HOOKS
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static inline void test_hook_stop(const char *point) {
        char buf[64] = "";
        FILE *f = fopen(TEST_HOOK_FILE, "re");

        if (!f)
                return;
        if (fgets(buf, sizeof buf, f))
                buf[strcspn(buf, "\n")] = 0;
        (void) fclose(f);
        if (strcmp(buf, point) != 0)
                return;
        log_info("Test hook: stopping at %s.", point);
        (void) raise(SIGSTOP);
}
#else
static inline void test_hook_stop(const char *point) {
        (void) point;
}
#endif
