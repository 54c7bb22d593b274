/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "console/ring.h"

static void write_str(ByteRing *r, const char *s) {
        byte_ring_write(r, s, strlen(s));
}

/* Reads from pos to the end into a string. */
static const char *read_from(ByteRing *r, uint64_t pos) {
        static char buf[256];
        ssize_t n = byte_ring_read(r, pos, buf, sizeof buf - 1);

        assert_true(n >= 0);
        buf[n] = 0;
        return buf;
}

static void test_ring_sizes(void **state) {
        ByteRing r;

        assert_int_equal(byte_ring_init(&r, 0), 0);
        assert_int_equal(r.size, 16);
        byte_ring_done(&r);
        assert_int_equal(byte_ring_init(&r, 100), 0);
        assert_int_equal(r.size, 128);
        byte_ring_done(&r);
        assert_int_equal(byte_ring_init(&r, 64 * 1024), 0);
        assert_int_equal(r.size, 64 * 1024);
        byte_ring_done(&r);
        assert_int_equal(byte_ring_init(&r, SIZE_MAX), -EINVAL);
}

static void test_ring_read_write(void **state) {
        ByteRing r;
        char buf[8];

        assert_int_equal(byte_ring_init(&r, 16), 0);
        assert_int_equal(byte_ring_start(&r), 0);
        assert_int_equal(byte_ring_read(&r, 0, buf, sizeof buf), 0); /* empty */
        write_str(&r, "hello ");
        write_str(&r, "world");
        assert_int_equal(r.end, 11);
        assert_string_equal(read_from(&r, 0), "hello world");
        assert_string_equal(read_from(&r, 6), "world");
        assert_string_equal(read_from(&r, 11), "");
        assert_int_equal(byte_ring_read(&r, 12, buf, sizeof buf), -ERANGE); /* beyond the end */
        assert_int_equal(byte_ring_read(&r, 2, buf, 3), 3);                  /* bounded by n */
        assert_memory_equal(buf, "llo", 3);

        /* Wrap: 11 + 10 = 21 bytes written, the last 16 kept. */
        write_str(&r, "0123456789");
        assert_int_equal(r.end, 21);
        assert_int_equal(byte_ring_start(&r), 5);
        assert_string_equal(read_from(&r, 5), " world0123456789");
        assert_string_equal(read_from(&r, 15), "456789");
        assert_int_equal(byte_ring_read(&r, 4, buf, sizeof buf), -ERANGE); /* overwritten */
        byte_ring_done(&r);
}

static void test_ring_big_write(void **state) {
        uint8_t data[100], out[16];
        ByteRing r;

        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (uint8_t) i;
        assert_int_equal(byte_ring_init(&r, 16), 0);
        write_str(&r, "abc");
        byte_ring_write(&r, data, sizeof data);
        assert_int_equal(r.end, 103);
        assert_int_equal(byte_ring_start(&r), 87);
        assert_int_equal(byte_ring_read(&r, 87, out, sizeof out), 16);
        assert_memory_equal(out, data + 84, 16);
        /* Byte by byte, across the wrap point, as the UART writes. */
        for (int i = 0; i < 40; i++)
                byte_ring_write(&r, &(uint8_t) { (uint8_t) ('A' + i % 26) }, 1);
        assert_int_equal(byte_ring_read(&r, r.end - 3, out, sizeof out), 3);
        assert_memory_equal(out, "LMN", 3);
        byte_ring_done(&r);
}

static void test_ring_tail_start(void **state) {
        ByteRing r;

        assert_int_equal(byte_ring_init(&r, 32), 0);
        write_str(&r, "first\nsecond\nthird");
        /* Everything fits, from the very first byte: start there. */
        assert_int_equal(byte_ring_tail_start(&r, 64, 16), 0);
        /* A window that starts mid-line moves to the next line... */
        assert_string_equal(read_from(&r, byte_ring_tail_start(&r, 15, 16)), "second\nthird");
        /* ...unless it starts right after a newline already... */
        assert_string_equal(read_from(&r, byte_ring_tail_start(&r, 12, 16)), "second\nthird");
        /* ...or no newline is near enough. */
        assert_int_equal(byte_ring_tail_start(&r, 15, 2), 3);
        assert_int_equal(byte_ring_tail_start(&r, 4, 16), r.end - 4);
        assert_int_equal(byte_ring_tail_start(&r, 0, 16), r.end);

        /* Once bytes were overwritten, the oldest one kept may be mid-line. */
        write_str(&r, " and more text\nlast");
        assert_int_equal(byte_ring_start(&r), r.end - 32);
        assert_string_equal(read_from(&r, byte_ring_tail_start(&r, 1000, 64)),
                            "second\nthird and more text\nlast");
        assert_string_equal(read_from(&r, byte_ring_tail_start(&r, 20, 64)), "last");
        byte_ring_done(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ring_sizes),
                cmocka_unit_test(test_ring_read_write),
                cmocka_unit_test(test_ring_big_write),
                cmocka_unit_test(test_ring_tail_start),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
