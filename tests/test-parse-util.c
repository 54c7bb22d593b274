/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parse-util.h"

static void test_parse_uint64(void **state) {
        uint64_t v = 42;

        assert_int_equal(parse_uint64("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_uint64("18446744073709551615", &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(parse_uint64("18446744073709551616", &v), -ERANGE);
        assert_true(v == UINT64_MAX); /* untouched on failure */
        assert_int_equal(parse_uint64("", &v), -EINVAL);
        assert_int_equal(parse_uint64(NULL, &v), -EINVAL);
        assert_int_equal(parse_uint64("-1", &v), -EINVAL);
        assert_int_equal(parse_uint64("+1", &v), -EINVAL);
        assert_int_equal(parse_uint64(" 1", &v), -EINVAL);
        assert_int_equal(parse_uint64("1 ", &v), -EINVAL);
        assert_int_equal(parse_uint64("0x10", &v), -EINVAL);
}

static void test_parse_uint32(void **state) {
        uint32_t v = 7;

        assert_int_equal(parse_uint32("4294967295", &v), 0);
        assert_true(v == UINT32_MAX);
        assert_int_equal(parse_uint32("4294967296", &v), -ERANGE);
        assert_int_equal(parse_uint32("16", &v), 0);
        assert_int_equal(v, 16);
}

static void test_parse_boolean(void **state) {
        bool b = false;

        assert_int_equal(parse_boolean("yes", &b), 0);
        assert_true(b);
        assert_int_equal(parse_boolean("OFF", &b), 0);
        assert_false(b);
        assert_int_equal(parse_boolean("1", &b), 0);
        assert_true(b);
        assert_int_equal(parse_boolean("yess", &b), -EINVAL);
        assert_true(b);
        assert_int_equal(parse_boolean("", &b), -EINVAL);
}

static void test_parse_size(void **state) {
        uint64_t v = 0;

        assert_int_equal(parse_size("128M", &v), 0);
        assert_true(v == 128ULL << 20);
        assert_int_equal(parse_size("1G", &v), 0);
        assert_true(v == 1ULL << 30);
        assert_int_equal(parse_size("16G", &v), 0);
        assert_true(v == 16ULL << 30);
        assert_int_equal(parse_size("2T", &v), 0);
        assert_true(v == 2ULL << 40);
        assert_int_equal(parse_size("4K", &v), 0);
        assert_true(v == 4096);
        assert_int_equal(parse_size("4097", &v), 0);
        assert_true(v == 4097);
        assert_int_equal(parse_size("16777215T", &v), 0);
        assert_int_equal(parse_size("16777216T", &v), -ERANGE);
        assert_int_equal(parse_size("99999999999999999999", &v), -ERANGE);

        v = 5;
        assert_int_equal(parse_size("", &v), -EINVAL);
        assert_int_equal(parse_size("G", &v), -EINVAL);
        assert_int_equal(parse_size("1.5G", &v), -EINVAL);
        assert_int_equal(parse_size("1g", &v), -EINVAL);
        assert_int_equal(parse_size("1GB", &v), -EINVAL);
        assert_int_equal(parse_size("1 G", &v), -EINVAL);
        assert_int_equal(parse_size("-1G", &v), -EINVAL);
        assert_int_equal(parse_size("1GG", &v), -EINVAL);
        assert_int_equal(parse_size("123456789012345678901234567890123456789M", &v), -ERANGE);
        assert_true(v == 5);
}

static void test_format_size(void **state) {
        char buf[FORMAT_SIZE_MAX];

        assert_string_equal(format_size(buf, 1ULL << 30), "1G");
        assert_string_equal(format_size(buf, 1536ULL << 20), "1536M");
        assert_string_equal(format_size(buf, 4097), "4097");
        assert_string_equal(format_size(buf, 0), "0");
        assert_string_equal(format_size(buf, 3ULL << 40), "3T");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_uint64),
                cmocka_unit_test(test_parse_uint32),
                cmocka_unit_test(test_parse_boolean),
                cmocka_unit_test(test_parse_size),
                cmocka_unit_test(test_format_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
