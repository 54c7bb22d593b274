/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/kvm.h>
#include <cmocka.h>

#include "arch/x86/cpu-setup.h"
#include "arch/x86/layout.h"
#include "core/memory.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static GuestMemory *mem_new(uint64_t size) {
        GuestMemory *m = NULL;
        assert_int_equal(guest_memory_new(size, X86_PCI_HOLE_START, X86_HIGH_RAM_START, &m), 0);
        return m;
}

static uint64_t get64(const GuestMemory *m, uint64_t gpa) {
        uint64_t v = 0;
        assert_int_equal(guest_read(m, gpa, &v, sizeof(v)), 0);
        return v;
}

static void test_gdt_entry(void **state) {
        /* the well-known flat descriptors, as every x86 boot loader writes them */
        assert_true(x86_gdt_entry(X86_GDT_FLAGS_CODE64, 0, 0xfffff) == 0x00af9b000000ffffULL);
        assert_true(x86_gdt_entry(X86_GDT_FLAGS_CODE32, 0, 0xfffff) == 0x00cf9b000000ffffULL);
        assert_true(x86_gdt_entry(X86_GDT_FLAGS_DATA, 0, 0xfffff) == 0x00cf93000000ffffULL);
        assert_true(x86_gdt_entry(X86_GDT_FLAGS_TSS, 0, X86_TSS_LIMIT) == 0x00008b0000000067ULL);
        /* base and limit are split across the descriptor */
        assert_true(x86_gdt_entry(0x0093, 0x12345678, 0xabcde) == 0x120a93345678bcdeULL);
}

static void test_segment_from_gdt(void **state) {
        X86Segment s;

        s = x86_segment_from_gdt(0x00af9b000000ffffULL, 0x10);
        assert_true(s.base == 0);
        assert_int_equal(s.limit, 0xffffffff);
        assert_int_equal(s.selector, 0x10);
        assert_int_equal(s.type, 0xb);
        assert_int_equal(s.present, 1);
        assert_int_equal(s.dpl, 0);
        assert_int_equal(s.s, 1);
        assert_int_equal(s.l, 1);
        assert_int_equal(s.db, 0);
        assert_int_equal(s.g, 1);
        assert_int_equal(s.avl, 0);

        s = x86_segment_from_gdt(x86_gdt_entry(0x0093, 0x12345678, 0xabcde), 0x18);
        assert_true(s.base == 0x12345678);
        assert_int_equal(s.limit, 0xabcde); /* byte granular */
        assert_int_equal(s.type, 3);
        assert_int_equal(s.g, 0);

        s = x86_segment_from_gdt(x86_gdt_entry(0x80f3 | 0x1000, 0xff000000, 0xabcde), 0x2b);
        assert_true(s.base == 0xff000000);
        assert_int_equal(s.limit, 0xabcdefff); /* 4 KiB granular */
        assert_int_equal(s.dpl, 3);
        assert_int_equal(s.avl, 1);
}

static void check_gdt_in_memory(const GuestMemory *m) {
        assert_true(get64(m, X86_GDT_ADDR + 0x00) == 0);
        assert_true(get64(m, X86_GDT_ADDR + 0x08) == 0x00cf9b000000ffffULL);
        assert_true(get64(m, X86_GDT_ADDR + 0x10) == 0x00af9b000000ffffULL); /* __BOOT_CS */
        assert_true(get64(m, X86_GDT_ADDR + 0x18) == 0x00cf93000000ffffULL); /* __BOOT_DS */
        assert_true(get64(m, X86_GDT_ADDR + 0x20) == 0x00008b0000000067ULL);
        assert_true(get64(m, X86_GDT_ADDR + 0x28) == 0); /* upper half of the 16-byte TSS descriptor */
}

static void check_page_tables(const GuestMemory *m) {
        /* PML4[0] -> PDPT; PDPT[0..3] -> the 4 PDs; PD entries map 2 MiB pages 1:1 up to 4 GiB */
        assert_true(get64(m, X86_PML4_ADDR) == (X86_PDPT_ADDR | 0x3));
        for (uint64_t i = 1; i < 512; i++)
                assert_true(get64(m, X86_PML4_ADDR + i * 8) == 0);
        for (uint64_t i = 0; i < 4; i++)
                assert_true(get64(m, X86_PDPT_ADDR + i * 8) == ((X86_PD_ADDR + i * 4096) | 0x3));
        for (uint64_t i = 4; i < 512; i++)
                assert_true(get64(m, X86_PDPT_ADDR + i * 8) == 0);
        for (uint64_t i = 0; i < 4 * 512; i++)
                assert_true(get64(m, X86_PD_ADDR + i * 8) == ((i << 21) | 0x83));
        assert_true(get64(m, X86_PD_ADDR + 4 * 4096 - 8) == 0xffe00083ULL);
        /* the PDs stop short of the zero page */
        assert_true(X86_PD_ADDR + 4 * 4096 <= X86_ZERO_PAGE_ADDR);
}

static void check_flat_data(const X86Segment *s) {
        assert_true(s->base == 0);
        assert_int_equal(s->limit, 0xffffffff);
        assert_int_equal(s->selector, 0x18);
        assert_int_equal(s->type, 3); /* read/write, accessed */
        assert_int_equal(s->s, 1);
        assert_int_equal(s->present, 1);
        assert_int_equal(s->db, 1);
        assert_int_equal(s->g, 1);
        assert_int_equal(s->l, 0);
}

static void check_tss(const X86Segment *s) {
        assert_true(s->base == 0);
        assert_int_equal(s->limit, 0x67);
        assert_int_equal(s->selector, 0x20);
        assert_int_equal(s->type, 0xb); /* busy TSS */
        assert_int_equal(s->s, 0);
        assert_int_equal(s->present, 1);
        assert_int_equal(s->g, 0);
}

static void test_linux64(void **state) {
        GuestMemory *m = mem_new(256 * MiB);
        X86BootInfo boot = {
                .mode = X86_BOOT_MODE_LINUX64, .entry = 0x1000200, .params_addr = X86_ZERO_PAGE_ADDR,
        };
        X86CpuSetup s;

        memset(guest_ptr(m, 0, 0x7000), 0xee, 0x7000); /* no stale bytes may survive */
        assert_int_equal(x86_cpu_setup(m, &boot, &s), 0);
        check_gdt_in_memory(m);
        check_page_tables(m);

        assert_true(s.rip == 0x1000200);
        assert_true(s.rsi == X86_ZERO_PAGE_ADDR);
        assert_true(s.rbx == 0);
        assert_true(s.rflags == 0x2); /* IF clear */
        assert_true(s.cr0 == 0x80000011ULL); /* PG | ET | PE */
        assert_true(s.cr3 == X86_PML4_ADDR);
        assert_true(s.cr4 == 0x20); /* PAE */
        assert_true(s.efer == 0x500); /* LMA | LME */

        assert_true(s.cs.base == 0);
        assert_int_equal(s.cs.selector, 0x10);
        assert_int_equal(s.cs.type, 0xb); /* execute/read, accessed */
        assert_int_equal(s.cs.s, 1);
        assert_int_equal(s.cs.present, 1);
        assert_int_equal(s.cs.l, 1);
        assert_int_equal(s.cs.db, 0); /* must be 0 with L */
        check_flat_data(&s.ds);
        check_flat_data(&s.es);
        check_flat_data(&s.ss);
        check_flat_data(&s.fs);
        check_flat_data(&s.gs);
        check_tss(&s.tr);
        assert_true(s.gdt_base == X86_GDT_ADDR);
        assert_int_equal(s.gdt_limit, 6 * 8 - 1);
        assert_int_equal(s.idt_limit, 0);
        guest_memory_free(m);
}

static void test_pvh(void **state) {
        GuestMemory *m = mem_new(256 * MiB);
        X86BootInfo boot = {.mode = X86_BOOT_MODE_PVH, .entry = 0x1000b20, .params_addr = X86_PVH_INFO_ADDR};
        X86CpuSetup s;

        assert_int_equal(x86_cpu_setup(m, &boot, &s), 0);
        check_gdt_in_memory(m);

        assert_true(s.rip == 0x1000b20);
        assert_true(s.rbx == X86_PVH_INFO_ADDR);
        assert_true(s.rsi == 0);
        assert_true(s.rflags == 0x2);
        assert_true(s.cr0 == 0x11); /* PE (and the hard-wired ET), paging off */
        assert_true(s.cr4 == 0);
        assert_true(s.efer == 0);

        assert_true(s.cs.base == 0);
        assert_int_equal(s.cs.limit, 0xffffffff);
        assert_int_equal(s.cs.selector, 0x08);
        assert_int_equal(s.cs.type, 0xb);
        assert_int_equal(s.cs.db, 1); /* 32-bit */
        assert_int_equal(s.cs.l, 0);
        assert_int_equal(s.cs.present, 1);
        check_flat_data(&s.ds);
        check_flat_data(&s.es);
        check_flat_data(&s.ss);
        check_tss(&s.tr);
        guest_memory_free(m);
}

static void test_errors(void **state) {
        GuestMemory *m = mem_new(256 * MiB), *tiny = mem_new(4096);
        X86BootInfo boot = { .mode = _X86_BOOT_MODE_INVALID };
        X86CpuSetup s, before;

        memset(&s, 0x5a, sizeof(s));
        before = s;
        assert_int_equal(x86_cpu_setup(m, &boot, &s), -EINVAL);
        boot.mode = _X86_BOOT_MODE_MAX;
        assert_int_equal(x86_cpu_setup(m, &boot, &s), -EINVAL);
        /* room for the GDT, not for the page tables */
        boot.mode = X86_BOOT_MODE_LINUX64;
        assert_int_equal(x86_cpu_setup(tiny, &boot, &s), -EFAULT);
        assert_memory_equal(&s, &before, sizeof(s));
        guest_memory_free(tiny);
        guest_memory_free(m);
}

static void check_kvm_segment(const struct kvm_segment *k, const X86Segment *s) {
        assert_true(k->base == s->base);
        assert_int_equal(k->limit, s->limit);
        assert_int_equal(k->selector, s->selector);
        assert_int_equal(k->type, s->type);
        assert_int_equal(k->present, s->present);
        assert_int_equal(k->dpl, s->dpl);
        assert_int_equal(k->db, s->db);
        assert_int_equal(k->s, s->s);
        assert_int_equal(k->l, s->l);
        assert_int_equal(k->g, s->g);
        assert_int_equal(k->avl, s->avl);
        assert_int_equal(k->unusable, 0);
}

static void test_to_kvm(void **state) {
        GuestMemory *m = mem_new(256 * MiB);
        X86BootInfo boot = {
                .mode = X86_BOOT_MODE_LINUX64, .entry = 0x1000200, .params_addr = X86_ZERO_PAGE_ADDR,
        };
        X86CpuSetup s;
        struct kvm_regs regs;
        struct kvm_sregs sregs;

        assert_int_equal(x86_cpu_setup(m, &boot, &s), 0);

        /* what KVM_GET_SREGS returns after reset, roughly, and a dirty kvm_regs */
        memset(&regs, 0x77, sizeof(regs));
        memset(&sregs, 0, sizeof(sregs));
        sregs.cs = (struct kvm_segment) {
                .base = 0xffff0000, .limit = 0xffff, .selector = 0xf000, .type = 0xb, .present = 1, .s = 1,
        };
        sregs.ldt = (struct kvm_segment) { .limit = 0xffff, .type = 2, .present = 1 };
        sregs.apic_base = 0xfee00900;
        sregs.cr0 = 0x60000010;
        sregs.cr2 = 0x1234;
        sregs.interrupt_bitmap[0] = 0x8;

        x86_cpu_setup_to_kvm(&s, &regs, &sregs);

        assert_true(regs.rip == 0x1000200);
        assert_true(regs.rsi == X86_ZERO_PAGE_ADDR);
        assert_true(regs.rflags == 0x2);
        assert_true(regs.rax == 0 && regs.rbx == 0 && regs.rcx == 0 && regs.rdx == 0 && regs.rdi == 0 &&
                    regs.rsp == 0 && regs.rbp == 0 && regs.r8 == 0 && regs.r15 == 0);

        check_kvm_segment(&sregs.cs, &s.cs);
        check_kvm_segment(&sregs.ds, &s.ds);
        check_kvm_segment(&sregs.es, &s.es);
        check_kvm_segment(&sregs.fs, &s.fs);
        check_kvm_segment(&sregs.gs, &s.gs);
        check_kvm_segment(&sregs.ss, &s.ss);
        check_kvm_segment(&sregs.tr, &s.tr);
        assert_int_equal(sregs.cs.selector, 0x10);
        assert_int_equal(sregs.cs.l, 1);
        assert_int_equal(sregs.ss.selector, 0x18);
        assert_int_equal(sregs.tr.type, 0xb);
        assert_true(sregs.gdt.base == X86_GDT_ADDR);
        assert_int_equal(sregs.gdt.limit, 47);
        assert_true(sregs.idt.base == 0);
        assert_int_equal(sregs.idt.limit, 0);
        assert_true(sregs.cr0 == 0x80000011ULL);
        assert_true(sregs.cr3 == X86_PML4_ADDR);
        assert_true(sregs.cr4 == 0x20);
        assert_true(sregs.efer == 0x500);
        /* kept from KVM_GET_SREGS */
        assert_int_equal(sregs.ldt.type, 2);
        assert_true(sregs.apic_base == 0xfee00900);
        assert_true(sregs.cr2 == 0x1234);
        assert_true(sregs.interrupt_bitmap[0] == 0x8);

        /* PVH: EBX, not RSI */
        boot = (X86BootInfo) {
                .mode = X86_BOOT_MODE_PVH, .entry = 0x1000b20, .params_addr = X86_PVH_INFO_ADDR,
        };
        assert_int_equal(x86_cpu_setup(m, &boot, &s), 0);
        x86_cpu_setup_to_kvm(&s, &regs, &sregs);
        assert_true(regs.rip == 0x1000b20);
        assert_true(regs.rbx == X86_PVH_INFO_ADDR);
        assert_true(regs.rsi == 0);
        assert_int_equal(sregs.cs.db, 1);
        assert_int_equal(sregs.cs.l, 0);
        assert_true(sregs.cr0 == 0x11 && sregs.cr3 == 0 && sregs.cr4 == 0 && sregs.efer == 0);
        guest_memory_free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gdt_entry),
                cmocka_unit_test(test_segment_from_gdt),
                cmocka_unit_test(test_linux64),
                cmocka_unit_test(test_pvh),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_to_kvm),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
