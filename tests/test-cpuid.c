/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "arch/x86/cpuid.h"

/* A made-up "supported" table shaped like what KVM returns on an AMD host. */
static struct kvm_cpuid2 *fake_supported(bool with_kvm_leaf) {
        static const struct kvm_cpuid_entry2 entries[] = {
                { .function = 0x0, .eax = 0x1f },
                { .function = 0x1, .eax = 0x00a00f11, .ebx = 0xff0a0800, .ecx = 0x7ed8320b, .edx = 0x078bfbff },
                { .function = 0x4, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0xfc004121 },
                { .function = 0x4, .index = 3, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0xfc03c163 },
                { .function = 0x4, .index = 4, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0 },
                { .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 1, .ebx = 2, .ecx = 0x100 },
                { .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 7, .ebx = 99, .ecx = 0x201 },
                { .function = 0xb, .index = 2, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 7, .ebx = 99, .ecx = 0x302 },
                { .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b, .ecx = 0x564b4d56, .edx = 0x4d },
                { .function = 0x80000001, .ecx = 0x2 },
                { .function = 0x80000008, .eax = 0x3030, .ecx = 0x700f },
                { .function = 0x8000001e, .eax = 7, .ebx = 0x0107, .ecx = 0x3 },
        };
        size_t n = sizeof entries / sizeof entries[0];
        struct kvm_cpuid2 *c = calloc(1, sizeof *c + sizeof entries);
        assert_non_null(c);
        for (size_t i = 0; i < n; i++)
                if (with_kvm_leaf || entries[i].function != 0x40000000)
                        c->entries[c->nent++] = entries[i];
        return c;
}

static void check_vcpu(const struct kvm_cpuid2 *sup, uint32_t index, uint32_t n) {
        struct kvm_cpuid2 *c = NULL;
        const struct kvm_cpuid_entry2 *e;

        assert_int_equal(x86_cpuid_for_vcpu(sup, index, n, &c), 0);

        e = x86_cpuid_find(c, 0x1, 0);
        assert_non_null(e);
        assert_int_equal(e->ebx >> 24, index);                  /* initial APIC ID */
        assert_int_equal((e->ebx >> 16) & 0xff, n);             /* logical processors */
        assert_true(e->ecx & (1U << 31));                       /* hypervisor */
        assert_int_equal(!!(e->edx & (1U << 28)), n > 1);       /* HTT */
        assert_int_equal(e->eax, 0x00a00f11);                   /* the rest is KVM's */

        e = x86_cpuid_find(c, 0xb, 0);
        assert_int_equal(e->ebx, 1);
        assert_int_equal(e->ecx, 0x100);
        assert_int_equal(e->edx, index);
        e = x86_cpuid_find(c, 0xb, 1);
        assert_int_equal(e->ebx, n);
        assert_int_equal(e->ecx, 0x201);
        assert_true((1U << e->eax) >= n && (e->eax == 0 || (1U << (e->eax - 1)) < n));
        e = x86_cpuid_find(c, 0xb, 2);
        assert_int_equal(e->ebx, 0);
        assert_int_equal(e->ecx, 2);

        e = x86_cpuid_find(c, 0x4, 0);
        assert_int_equal(e->eax >> 26, n - 1 < 63 ? n - 1 : 63);
        assert_int_equal((e->eax >> 14) & 0xfff, 0);            /* L1 per core */
        e = x86_cpuid_find(c, 0x4, 3);
        assert_int_equal((e->eax >> 14) & 0xfff, n - 1);        /* L3 per package */

        e = x86_cpuid_find(c, 0x80000008, 0);
        assert_int_equal(e->ecx & 0xff, n - 1);
        e = x86_cpuid_find(c, 0x8000001e, 0);
        assert_int_equal(e->eax, index);
        assert_int_equal(e->ebx & 0xffff, index);
        e = x86_cpuid_find(c, 0x80000001, 0);
        assert_int_equal(!!(e->ecx & 2), n > 1);

        e = x86_cpuid_find(c, 0x40000000, 0);
        assert_non_null(e);
        assert_int_equal(e->ebx, 0x4b4d564b);
        free(c);
}

static void test_topology(void **state) {
        struct kvm_cpuid2 *sup = fake_supported(true);
        const uint32_t counts[] = { 1, 2, 3, 4, 16, 255 };

        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
                check_vcpu(sup, 0, counts[i]);
                check_vcpu(sup, counts[i] - 1, counts[i]);
        }
        free(sup);
}

static void test_adds_kvm_leaf(void **state) {
        struct kvm_cpuid2 *sup = fake_supported(false), *c = NULL;

        assert_null(x86_cpuid_find(sup, 0x40000000, 0));
        assert_int_equal(x86_cpuid_for_vcpu(sup, 0, 1, &c), 0);
        assert_int_equal(c->nent, sup->nent + 1);
        assert_non_null(x86_cpuid_find(c, 0x40000000, 0));
        free(c);
        free(sup);
}

static void test_invalid(void **state) {
        struct kvm_cpuid2 *sup = fake_supported(true), *c = NULL;

        assert_int_equal(x86_cpuid_for_vcpu(sup, 0, 0, &c), -EINVAL);
        assert_int_equal(x86_cpuid_for_vcpu(sup, 2, 2, &c), -EINVAL);
        assert_int_equal(x86_cpuid_for_vcpu(sup, 0, 256, &c), -EINVAL);
        assert_null(c);
        free(sup);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_topology),
                cmocka_unit_test(test_adds_kvm_leaf),
                cmocka_unit_test(test_invalid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
