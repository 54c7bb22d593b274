/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/bus.h"

typedef struct Dev {
        uint64_t last_offset;
        uint32_t last_len;
        bool last_write;
        int calls;
} Dev;

static void dev_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Dev *d = opaque;
        d->last_offset = offset;
        d->last_len = len;
        d->last_write = is_write;
        d->calls++;
        if (!is_write)
                memset(data, 0x42, len);
}

static void test_bus(void **state) {
        Bus bus = {};
        Dev a = {}, b = {};
        uint8_t data[8];

        assert_int_equal(bus_register(&bus, 0x3f8, 8, dev_io, &a, "serial"), 0);
        assert_int_equal(bus_register(&bus, 0x60, 1, dev_io, &b, "i8042"), 0);
        assert_int_equal(bus_register(&bus, 0x3fc, 1, dev_io, &b, "overlap"), -EEXIST);
        assert_int_equal(bus_register(&bus, 0x3f0, 9, dev_io, &b, "overlap"), -EEXIST);
        assert_int_equal(bus_register(&bus, 0x3f0, 8, dev_io, &b, "adjacent"), 0);
        assert_int_equal(bus_register(&bus, 0, 0, dev_io, &b, "empty"), -EINVAL);
        assert_int_equal(bus_register(&bus, UINT64_MAX, 2, dev_io, &b, "wraps"), -EINVAL);
        assert_int_equal(bus.n_ranges, 3);
        assert_true(bus.ranges[0].base < bus.ranges[1].base && bus.ranges[1].base < bus.ranges[2].base);

        assert_true(bus_dispatch(&bus, 0x3fd, data, 1, false));
        assert_int_equal(a.calls, 1);
        assert_int_equal(a.last_offset, 5);
        assert_int_equal(data[0], 0x42);

        /* Nothing there: all-ones, no handler called. */
        assert_false(bus_dispatch(&bus, 0x61, data, 1, false));
        assert_int_equal(data[0], 0xff);
        /* Straddling the end of a range is refused. */
        assert_false(bus_dispatch(&bus, 0x3fe, data, 4, true));
        assert_int_equal(a.calls, 1);

        assert_true(bus_dispatch(&bus, 0x60, data, 1, true));
        assert_int_equal(b.calls, 1);
        assert_true(b.last_write);
        assert_string_equal(bus_find(&bus, 0x3f3)->name, "adjacent");
        assert_null(bus_find(&bus, 0x400));
        bus_done(&bus);
        assert_int_equal(bus.n_ranges, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bus),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
