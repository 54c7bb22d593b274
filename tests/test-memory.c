/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arch/x86/layout.h"
#include "core/memory.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static void test_small(void **state) {
        GuestMemory *m = NULL;
        uint32_t v = 0xdeadbeef, w = 0;

        assert_int_equal(guest_memory_new(256 * MiB, X86_PCI_HOLE_START, X86_HIGH_RAM_START, &m), 0);
        assert_int_equal(m->n_regions, 1);
        assert_true(guest_memory_low_end(m) == 256 * MiB);
        assert_non_null(guest_ptr(m, 0, 1));
        assert_non_null(guest_ptr(m, 256 * MiB - 4, 4));
        assert_null(guest_ptr(m, 256 * MiB - 4, 5));
        assert_null(guest_ptr(m, 256 * MiB, 1));
        assert_null(guest_ptr(m, 0, 0));
        assert_null(guest_ptr(m, UINT64_MAX, 2)); /* wraps */
        assert_null(guest_ptr(m, 16, UINT64_MAX));
        assert_int_equal(guest_write(m, 0x1000, &v, sizeof v), 0);
        assert_int_equal(guest_read(m, 0x1000, &w, sizeof w), 0);
        assert_true(w == v);
        assert_int_equal(guest_read(m, 256 * MiB - 2, &w, sizeof w), -EFAULT);
        guest_memory_free(m);
}

static void test_hole(void **state) {
        GuestMemory *m = NULL;
        uint8_t *low_last, *high_first;

        /* 5 GiB: 3 GiB below the hole, 2 GiB from 4 GiB up; one memfd, contiguous in the host. */
        assert_int_equal(guest_memory_new(5 * GiB, X86_PCI_HOLE_START, X86_HIGH_RAM_START, &m), 0);
        assert_int_equal(m->n_regions, 2);
        assert_true(guest_memory_low_end(m) == 3 * GiB);
        assert_null(guest_ptr(m, 3 * GiB, 1));
        assert_null(guest_ptr(m, 4 * GiB - 1, 1));
        assert_null(guest_ptr(m, 3 * GiB - 1, 2)); /* a range may not run into the hole */
        low_last = guest_ptr(m, 3 * GiB - 1, 1);
        high_first = guest_ptr(m, 4 * GiB, 1);
        assert_non_null(low_last);
        assert_ptr_equal(high_first, low_last + 1);
        assert_non_null(guest_ptr(m, 6 * GiB - 1, 1));
        assert_null(guest_ptr(m, 6 * GiB, 1));
        assert_null(guest_ptr(m, 6 * GiB - 1, 2));
        guest_memory_free(m);
}

static void test_invalid(void **state) {
        GuestMemory *m = NULL;

        assert_int_equal(guest_memory_new(0, X86_PCI_HOLE_START, X86_HIGH_RAM_START, &m), -EINVAL);
        assert_int_equal(guest_memory_new(4097, X86_PCI_HOLE_START, X86_HIGH_RAM_START, &m), -EINVAL);
        assert_null(m);
        assert_null(guest_memory_free(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_small),
                cmocka_unit_test(test_hole),
                cmocka_unit_test(test_invalid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
