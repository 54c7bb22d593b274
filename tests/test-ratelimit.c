/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rate limit of guest-caused log lines: a burst per interval, then silence, then the count of what
 * was dropped on the next line let through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ratelimit.h"

static void test_burst_and_interval(void **state) {
        RateLimit rl = RATELIMIT_INIT(1000, 3);
        char buf[RATELIMIT_SUFFIX_MAX];
        unsigned dropped = 99;

        for (unsigned i = 0; i < 3; i++) {
                assert_true(ratelimit_below_at(&rl, 5000 + i, &dropped));
                assert_int_equal(dropped, 0);
        }
        for (unsigned i = 0; i < 1000; i++)
                assert_false(ratelimit_below_at(&rl, 5003 + i % 900, NULL));
        /* The next interval: the first line says how many went unlogged. */
        assert_true(ratelimit_below_at(&rl, 6000, &dropped));
        assert_int_equal(dropped, 1000);
        assert_string_equal(ratelimit_suffix(buf, dropped), " (1000 similar lines before it not logged)");
        assert_true(ratelimit_below_at(&rl, 6001, &dropped));
        assert_int_equal(dropped, 0);
        assert_string_equal(ratelimit_suffix(buf, 0), "");
        /* A clock at 0 (the first call) is fine. */
        RateLimit z = RATELIMIT_INIT(10, 1);
        assert_true(ratelimit_below_at(&z, 0, NULL));
        assert_false(ratelimit_below_at(&z, 5, NULL));
        assert_true(ratelimit_below_at(&z, 11, NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_burst_and_interval),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
