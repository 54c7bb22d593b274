/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "acpi/aml.h"

/* Expected byte strings below are hand-encoded from the grammar in ACPI 6.4 chapter 20 and the
 * descriptor layouts in section 6.4. */

#define assert_bytes(a, ...)                                                                      \
        do {                                                                                      \
                static const uint8_t _expected_[] = { __VA_ARGS__ };                              \
                assert_int_equal(aml_finish(a), 0);                                               \
                assert_int_equal((a)->len, sizeof _expected_);                                    \
                assert_memory_equal((a)->data, _expected_, sizeof _expected_);                    \
        } while (0)

static uint8_t sum_bytes(const uint8_t *p, size_t n) {
        uint8_t s = 0;

        for (size_t i = 0; i < n; i++)
                s += p[i];
        return s;
}

/* Decodes a PkgLength; returns the value (which counts its own bytes) and stores its size. */
static size_t decode_pkg_length(const uint8_t *p, size_t *ret_n) {
        size_t n = (p[0] >> 6) + 1, v;

        if (n == 1) {
                *ret_n = 1;
                return p[0] & 0x3f;
        }
        assert_int_equal(p[0] & 0x30, 0);
        v = p[0] & 0x0f;
        for (size_t i = 1; i < n; i++)
                v |= (size_t) p[i] << (4 + 8 * (i - 1));
        *ret_n = n;
        return v;
}

static void test_integer(void **state) {
        struct {
                uint64_t v;
                uint8_t bytes[9];
                size_t n;
        } cases[] = {
                { 0, { 0x00 }, 1 },
                { 1, { 0x01 }, 1 },
                { 2, { 0x0a, 0x02 }, 2 },
                { 0xff, { 0x0a, 0xff }, 2 },
                { 0x100, { 0x0b, 0x00, 0x01 }, 3 },
                { 0xffff, { 0x0b, 0xff, 0xff }, 3 },
                { 0x10000, { 0x0c, 0x00, 0x00, 0x01, 0x00 }, 5 },
                { 0xfee00000, { 0x0c, 0x00, 0x00, 0xe0, 0xfe }, 5 },
                { 0x100000000, { 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 }, 9 },
                { UINT64_MAX, { 0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9 },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                AmlBuf a = {};

                assert_int_equal(aml_integer(&a, cases[i].v), 0);
                assert_int_equal(a.len, cases[i].n);
                assert_memory_equal(a.data, cases[i].bytes, cases[i].n);
                aml_buf_done(&a);
        }
}

static void test_name_string(void **state) {
        AmlBuf a = {};

        assert_int_equal(aml_name_string(&a, "\\_SB.PWRB"), 0);
        assert_bytes(&a, '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B');
        aml_buf_done(&a);

        assert_int_equal(aml_name_string(&a, "\\"), 0);
        assert_bytes(&a, '\\', 0x00);
        aml_buf_done(&a);

        assert_int_equal(aml_name_string(&a, "^^FOO"), 0);
        assert_bytes(&a, '^', '^', 'F', 'O', 'O', '_');
        aml_buf_done(&a);

        assert_int_equal(aml_name_string(&a, "A.B1.C_2"), 0);
        assert_bytes(&a, 0x2f, 3, 'A', '_', '_', '_', 'B', '1', '_', '_', 'C', '_', '2', '_');
        aml_buf_done(&a);

        assert_int_equal(aml_name_string(&a, "_S5"), 0);
        assert_bytes(&a, '_', 'S', '5', '_');
        aml_buf_done(&a);

        const char *bad[] = { "", "^", "a", "ABCDE", "1ABC", "A..B", "A.", ".A", "\\^A", "\\\\A", "A-B" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                assert_int_equal(aml_name_string(&a, bad[i]), -EINVAL);
                assert_int_equal(a.len, 0);
                assert_int_equal(aml_finish(&a), -EINVAL);
                aml_buf_done(&a);
        }
}

static void test_name_integer(void **state) {
        AmlBuf a = {};

        /* Name(_UID, Zero), Name(FOO, 5): NameOp NameString DataRefObject. */
        assert_int_equal(aml_name_integer(&a, "_UID", 0), 0);
        assert_int_equal(aml_name_integer(&a, "FOO", 5), 0);
        assert_bytes(&a, 0x08, '_', 'U', 'I', 'D', 0x00, 0x08, 'F', 'O', 'O', '_', 0x0a, 0x05);
        aml_buf_done(&a);
}

static void test_string_eisaid(void **state) {
        AmlBuf a = {};
        uint32_t v;

        assert_int_equal(aml_name_str(&a, "_HID", "ACPI0013"), 0);
        assert_bytes(&a, 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00);
        aml_buf_done(&a);

        /* PNP0C0C: 'P'=16, 'N'=14, 'P'=16 in 5 bits each, then 0x0C0C; stored big-endian. */
        assert_int_equal(aml_eisaid_value("PNP0C0C", &v), 0);
        assert_int_equal(v, 0x0c0cd041);
        assert_int_equal(aml_eisaid_value("PNP0501", &v), 0);
        assert_int_equal(v, 0x0105d041);
        assert_int_equal(aml_eisaid_value("PNP0A08", &v), 0);
        assert_int_equal(v, 0x080ad041);
        assert_int_equal(aml_name_eisaid(&a, "_HID", "PNP0C0C"), 0);
        assert_bytes(&a, 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x0c);
        aml_buf_done(&a);

        assert_int_equal(aml_eisaid_value("pnp0c0c", &v), -EINVAL);
        assert_int_equal(aml_eisaid_value("PNP0C0", &v), -EINVAL);
        assert_int_equal(aml_eisaid_value("PNP0G00", &v), -EINVAL);
        assert_int_equal(aml_eisaid(&a, "PNP0C0C0"), -EINVAL);
        aml_buf_done(&a);

        assert_int_equal(aml_string(&a, "caf\xc3\xa9"), -EINVAL);
        aml_buf_done(&a);
}

static void test_pkg_length(void **state) {
        struct {
                size_t body;
                uint8_t bytes[4];
                int n;
        } cases[] = {
                { 0, { 0x01 }, 1 },
                { 62, { 0x3f }, 1 },
                { 63, { 0x41, 0x04 }, 2 },                    /* 65 = 0x041 */
                { 4093, { 0x4f, 0xff }, 2 },                  /* 4095 = 0xfff */
                { 4094, { 0x81, 0x00, 0x01 }, 3 },            /* 4097 = 0x01001 */
                { (1 << 20) - 4, { 0x8f, 0xff, 0xff }, 3 },   /* 0xfffff */
                { (1 << 20) - 3, { 0xc1, 0x00, 0x00, 0x01 }, 4 },
                { (1 << 28) - 5, { 0xcf, 0xff, 0xff, 0xff }, 4 },
        };
        uint8_t out[4];

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                size_t n;

                memset(out, 0xaa, sizeof out);
                assert_int_equal(aml_encode_pkg_length(cases[i].body, out), cases[i].n);
                assert_memory_equal(out, cases[i].bytes, (size_t) cases[i].n);
                assert_int_equal(decode_pkg_length(out, &n), cases[i].body + (size_t) cases[i].n);
                assert_int_equal(n, cases[i].n);
        }
        assert_int_equal(aml_encode_pkg_length((1 << 28) - 4, out), -E2BIG);
}

static void test_scope_pkg_length(void **state) {
        AmlBuf a = {};
        uint8_t *big;
        size_t n;

        /* Scope(\_SB) {}: the PkgLength counts itself and the 5-byte name. */
        assert_int_equal(aml_scope_begin(&a, "\\_SB"), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_bytes(&a, 0x10, 0x06, '\\', '_', 'S', 'B', '_');
        aml_buf_done(&a);

        /* Buffer with 100 bytes: BufferSize 0x0a 0x64, PkgLength 2 + 2 + 100 = 104 = 0x068. */
        big = calloc(5000, 1);
        assert_non_null(big);
        assert_int_equal(aml_buffer_begin(&a), 0);
        assert_int_equal(aml_append(&a, big, 100), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_finish(&a), 0);
        assert_int_equal(a.len, 1 + 2 + 2 + 100);
        assert_memory_equal(a.data, ((const uint8_t[]) { 0x11, 0x48, 0x06, 0x0a, 0x64 }), 5);
        aml_buf_done(&a);

        /* 5000 bytes: BufferSize 0x0b 0x88 0x13, PkgLength 3 + 3 + 5000 = 5006 = 0x0138e. */
        assert_int_equal(aml_buffer_begin(&a), 0);
        assert_int_equal(aml_append(&a, big, 5000), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_finish(&a), 0);
        assert_int_equal(a.len, 1 + 3 + 3 + 5000);
        assert_memory_equal(a.data, ((const uint8_t[]) { 0x11, 0x8e, 0x38, 0x01, 0x0b, 0x88, 0x13 }), 7);
        aml_buf_done(&a);

        /* Nesting: the outer lengths grow as the inner ones are encoded. */
        assert_int_equal(aml_scope_begin(&a, "\\_SB"), 0);
        assert_int_equal(aml_device_begin(&a, "DEV0"), 0);
        assert_int_equal(aml_buffer_begin(&a), 0);
        assert_int_equal(aml_append(&a, big, 4090), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_finish(&a), 0);
        assert_int_equal(a.data[0], 0x10);
        assert_int_equal(decode_pkg_length(a.data + 1, &n), a.len - 1);
        assert_int_equal(n, 3);
        size_t dev = 1 + n + 5;
        assert_int_equal(a.data[dev], 0x5b);
        assert_int_equal(a.data[dev + 1], 0x82);
        assert_int_equal(decode_pkg_length(a.data + dev + 2, &n), a.len - dev - 2);
        assert_int_equal(n, 3); /* 4090 + 3 + 3 + 4 > 4095 */
        size_t buf = dev + 2 + n + 4;
        assert_int_equal(a.data[buf], 0x11);
        assert_int_equal(decode_pkg_length(a.data + buf + 1, &n), a.len - buf - 1);
        assert_int_equal(n, 2); /* 4090 + 3 + 2 < 4096 */
        aml_buf_done(&a);

        free(big);
}

static void test_method_if_notify(void **state) {
        AmlBuf a = {};

        /* Method(_EVT, 1) { If (LEqual(Arg0, 5)) { Notify(\_SB.PWRB, 0x80) } } */
        assert_int_equal(aml_method_begin(&a, "_EVT", 1, false), 0);
        assert_int_equal(aml_if_begin(&a), 0);
        assert_int_equal(aml_lequal(&a), 0);
        assert_int_equal(aml_arg(&a, 0), 0);
        assert_int_equal(aml_integer(&a, 5), 0);
        assert_int_equal(aml_notify(&a), 0);
        assert_int_equal(aml_name_string(&a, "\\_SB.PWRB"), 0);
        assert_int_equal(aml_integer(&a, 0x80), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_bytes(&a,
                     0x14, 0x19, '_', 'E', 'V', 'T', 0x01,                         /* Method, 25 */
                     0xa0, 0x12,                                                   /* If, 18 */
                     0x93, 0x68, 0x0a, 0x05,                                       /* LEqual(Arg0, 5) */
                     0x86, '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0a, 0x80); /* Notify */
        aml_buf_done(&a);

        /* Method(M, 2, Serialized) { Store(Arg1, Local0) If (One) { Return (Local0) } Else { Return
         * (Zero) } } */
        assert_int_equal(aml_method_begin(&a, "M", 2, true), 0);
        assert_int_equal(aml_store(&a), 0);
        assert_int_equal(aml_arg(&a, 1), 0);
        assert_int_equal(aml_local(&a, 0), 0);
        assert_int_equal(aml_if_begin(&a), 0);
        assert_int_equal(aml_integer(&a, 1), 0);
        assert_int_equal(aml_return(&a), 0);
        assert_int_equal(aml_local(&a, 0), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_else_begin(&a), 0);
        assert_int_equal(aml_return(&a), 0);
        assert_int_equal(aml_integer(&a, 0), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_bytes(&a,
                     0x14, 0x12, 'M', '_', '_', '_', 0x0a, /* Method, 18, 2 args, serialized */
                     0x70, 0x69, 0x60,                      /* Store(Arg1, Local0) */
                     0xa0, 0x04, 0x01, 0xa4, 0x60,          /* If (One) { Return (Local0) } */
                     0xa1, 0x03, 0xa4, 0x00);               /* Else { Return (Zero) } */
        aml_buf_done(&a);

        assert_int_equal(aml_arg(&a, 7), -EINVAL);
        aml_buf_done(&a);
        assert_int_equal(aml_local(&a, 8), -EINVAL);
        aml_buf_done(&a);
        assert_int_equal(aml_method_begin(&a, "M", 8, false), -EINVAL);
        aml_buf_done(&a);
}

static void test_package(void **state) {
        AmlBuf a = {};

        /* Name(\_S5, Package(4) { 5, 0, 0, 0 }) */
        assert_int_equal(aml_name(&a, "\\_S5"), 0);
        assert_int_equal(aml_package_begin(&a, 4), 0);
        assert_int_equal(aml_integer(&a, 5), 0);
        assert_int_equal(aml_integer(&a, 0), 0);
        assert_int_equal(aml_integer(&a, 0), 0);
        assert_int_equal(aml_integer(&a, 0), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_bytes(&a, 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00);
        aml_buf_done(&a);

        assert_int_equal(aml_package_begin(&a, 256), -EINVAL);
        aml_buf_done(&a);
}

static void test_device(void **state) {
        AmlBuf a = {};

        /* Device(PWRB) { Name(_HID, EisaId("PNP0C0C")) } */
        assert_int_equal(aml_device_begin(&a, "PWRB"), 0);
        assert_int_equal(aml_name_eisaid(&a, "_HID", "PNP0C0C"), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_bytes(&a, 0x5b, 0x82, 0x0f, 'P', 'W', 'R', 'B', /* Device, 15 */
                     0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x0c);
        aml_buf_done(&a);
}

static void test_resource_template(void **state) {
        AmlBuf a = {};

        /* ResourceTemplate() { IO(Decode16, 0x3f8, 0x3f8, 1, 8) IRQNoFlags() {4} } */
        assert_int_equal(aml_resource_template_begin(&a), 0);
        assert_int_equal(aml_io(&a, 0x3f8, 0x3f8, 1, 8), 0);
        assert_int_equal(aml_irq_noflags(&a, 4), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_finish(&a), 0);
        assert_int_equal(a.len, 17);
        assert_memory_equal(a.data,
                            ((const uint8_t[]) { 0x11, 0x10, 0x0a, 0x0d,                  /* Buffer(13) */
                                                 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, /* IO */
                                                 0x22, 0x10, 0x00,                        /* IRQNoFlags */
                                                 0x79 }),
                            16);
        /* The End Tag's checksum makes the descriptors, End Tag included, sum to zero. */
        assert_int_equal(sum_bytes(a.data + 4, 13), 0);
        aml_buf_done(&a);

        /* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) {5} */
        assert_int_equal(aml_resource_template_begin(&a), 0);
        assert_int_equal(aml_extended_interrupt(&a, AML_IRQ_CONSUMER | AML_IRQ_EDGE, 5), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_finish(&a), 0);
        assert_int_equal(a.len, 15);
        assert_memory_equal(a.data,
                            ((const uint8_t[]) { 0x11, 0x0e, 0x0a, 0x0b, 0x89, 0x06, 0x00, 0x03, 0x01, 0x05,
                                                 0x00, 0x00, 0x00, 0x79 }),
                            14);
        assert_int_equal(sum_bytes(a.data + 4, 11), 0);
        aml_buf_done(&a);

        /* Memory32Fixed(ReadWrite, 0xfec00000, 0x1000) */
        assert_int_equal(aml_resource_template_begin(&a), 0);
        assert_int_equal(aml_memory32_fixed(&a, true, 0xfec00000, 0x1000), 0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_finish(&a), 0);
        assert_memory_equal(a.data + 4,
                            ((const uint8_t[]) { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xc0, 0xfe, 0x00, 0x10,
                                                 0x00, 0x00 }),
                            12);
        aml_buf_done(&a);
}

static void test_address_space(void **state) {
        AmlBuf a = {};

        /* WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xff, 0, 0x100) */
        assert_int_equal(aml_resource_template_begin(&a), 0);
        assert_int_equal(aml_word_address_space(&a, &(AmlAddressSpace) {
                                 .type = AML_RESOURCE_BUS_NUMBER,
                                 .flags = AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED,
                                 .max = 0xff,
                                 .length = 0x100,
                         }),
                         0);
        /* DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
         *             0, 0xc0000000, 0xfebfffff, 0, 0x3ec00000) */
        assert_int_equal(aml_dword_address_space(&a, &(AmlAddressSpace) {
                                 .type = AML_RESOURCE_MEMORY,
                                 .flags = AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED,
                                 .type_flags = AML_ADDR_MEM_READ_WRITE | AML_ADDR_MEM_NON_CACHEABLE,
                                 .min = 0xc0000000,
                                 .max = 0xfebfffff,
                                 .length = 0x3ec00000,
                         }),
                         0);
        /* QWordMemory(..., Prefetchable, ReadWrite, 0, 0x8000000000, 0xffffffffff, 0, 0x8000000000) */
        assert_int_equal(aml_qword_address_space(&a, &(AmlAddressSpace) {
                                 .type = AML_RESOURCE_MEMORY,
                                 .flags = AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED,
                                 .type_flags = AML_ADDR_MEM_READ_WRITE | AML_ADDR_MEM_PREFETCHABLE,
                                 .min = 0x8000000000,
                                 .max = 0xffffffffff,
                                 .length = 0x8000000000,
                         }),
                         0);
        assert_int_equal(aml_end(&a), 0);
        assert_int_equal(aml_finish(&a), 0);

        const uint8_t word[] = { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0xff, 0x00, 0x00, 0x00, 0x00, 0x01 };
        const uint8_t dword[] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xbf, 0xfe, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0xc0, 0x3e };
        const uint8_t qword_head[] = { 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x07 };
        const size_t body = 5; /* BufferOp, a 2-byte PkgLength, BufferSize 0x0a 0x5a */

        /* 16 + 26 + 46 + 2 = 90 bytes of descriptors. */
        assert_int_equal(a.len, body + 90);
        assert_memory_equal(a.data, ((const uint8_t[]) { 0x11, 0x4e, 0x05, 0x0a, 0x5a }), body);
        assert_memory_equal(a.data + body, word, sizeof word);
        assert_memory_equal(a.data + body + 16, dword, sizeof dword);
        assert_memory_equal(a.data + body + 42, qword_head, sizeof qword_head);
        assert_int_equal(sum_bytes(a.data + body, 90), 0);
        aml_buf_done(&a);

        assert_int_equal(aml_resource_template_begin(&a), 0);
        assert_int_equal(aml_dword_address_space(&a, &(AmlAddressSpace) { .max = 0x100000000 }), -ERANGE);
        aml_buf_done(&a);
        assert_int_equal(aml_resource_template_begin(&a), 0);
        assert_int_equal(aml_word_address_space(&a, &(AmlAddressSpace) { .length = 0x10000 }), -ERANGE);
        aml_buf_done(&a);
}

static void test_errors(void **state) {
        AmlBuf a = {};

        /* A descriptor outside a resource template. */
        assert_int_equal(aml_io(&a, 0x3f8, 0x3f8, 1, 8), -EINVAL);
        assert_int_equal(a.len, 0);
        aml_buf_done(&a);
        assert_int_equal(aml_device_begin(&a, "DEV0"), 0);
        assert_int_equal(aml_irq_noflags(&a, 4), -EINVAL);
        aml_buf_done(&a);
        assert_int_equal(aml_resource_template_begin(&a), 0);
        assert_int_equal(aml_irq_noflags(&a, 16), -EINVAL);
        aml_buf_done(&a);

        /* Unbalanced begin/end. */
        assert_int_equal(aml_end(&a), -EINVAL);
        aml_buf_done(&a);
        assert_int_equal(aml_scope_begin(&a, "\\_SB"), 0);
        assert_int_equal(aml_finish(&a), -EINVAL);
        aml_buf_done(&a);

        /* Too deep. */
        for (size_t i = 0; i < AML_NEST_MAX; i++)
                assert_int_equal(aml_if_begin(&a), 0);
        assert_int_equal(aml_if_begin(&a), -E2BIG);
        aml_buf_done(&a);

        /* Sticky: after the first error nothing more is written and every call reports it. */
        assert_int_equal(aml_name_string(&a, "bad"), -EINVAL);
        assert_int_equal(aml_integer(&a, 5), -EINVAL);
        assert_int_equal(aml_scope_begin(&a, "\\_SB"), -EINVAL);
        assert_int_equal(aml_end(&a), -EINVAL);
        assert_int_equal(a.len, 0);
        assert_int_equal(aml_finish(&a), -EINVAL);
        aml_buf_done(&a);
}

static int build_com1(AmlBuf *a) {
        (void) aml_scope_begin(a, "\\_SB");
        (void) aml_device_begin(a, "COM1");
        (void) aml_name_eisaid(a, "_HID", "PNP0501");
        (void) aml_name(a, "_CRS");
        (void) aml_resource_template_begin(a);
        (void) aml_io(a, 0x3f8, 0x3f8, 1, 8);
        (void) aml_irq_noflags(a, 4);
        (void) aml_end(a);
        (void) aml_end(a);
        (void) aml_end(a);
        return aml_finish(a);
}

static void test_out_of_memory(void **state) {
        AmlBuf a = {};
        size_t full;

        assert_int_equal(build_com1(&a), 0);
        full = a.len;
        aml_buf_done(&a);

        /* The limit stands in for a failing allocator: at every size, including the growth that
         * aml_end() needs to insert a PkgLength, the build must fail cleanly with -ENOMEM. */
        for (size_t limit = 1; limit <= full; limit++) {
                a = (AmlBuf) { .limit = limit };
                assert_int_equal(build_com1(&a), limit < full ? -ENOMEM : 0);
                assert_true(a.len <= limit);
                aml_buf_done(&a);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_integer),
                cmocka_unit_test(test_name_string),
                cmocka_unit_test(test_name_integer),
                cmocka_unit_test(test_string_eisaid),
                cmocka_unit_test(test_pkg_length),
                cmocka_unit_test(test_scope_pkg_length),
                cmocka_unit_test(test_method_if_notify),
                cmocka_unit_test(test_package),
                cmocka_unit_test(test_device),
                cmocka_unit_test(test_resource_template),
                cmocka_unit_test(test_address_space),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_out_of_memory),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
