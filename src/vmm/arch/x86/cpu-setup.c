/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <linux/kvm.h>

#include "arch/x86/cpu-setup.h"
#include "arch/x86/layout.h"

#define PD_PAGES 4
#define PT_ENTRIES 512
#define PAGE_2M (2ULL << 20)

uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit) {
        return ((uint64_t) (base & 0xff000000u) << 32) |     /* base 31:24 -> 63:56 */
               ((uint64_t) ((flags >> 12) & 0xf) << 52) |    /* G, D/B, L, AVL */
               ((uint64_t) ((limit >> 16) & 0xf) << 48) |    /* limit 19:16 */
               ((uint64_t) (flags & 0xff) << 40) |           /* P, DPL, S, type */
               ((uint64_t) (base & 0x00ffffffu) << 16) |     /* base 23:0 */
               (uint64_t) (limit & 0xffff);                  /* limit 15:0 */
}

X86Segment x86_segment_from_gdt(uint64_t d, uint16_t sel) {
        X86Segment s = {
                .base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24),
                .limit = (uint32_t) ((d & 0xffff) | (((d >> 48) & 0xf) << 16)),
                .selector = sel,
                .type = (d >> 40) & 0xf,
                .s = (d >> 44) & 1,
                .dpl = (d >> 45) & 3,
                .present = (d >> 47) & 1,
                .avl = (d >> 52) & 1,
                .l = (d >> 53) & 1,
                .db = (d >> 54) & 1,
                .g = (d >> 55) & 1,
        };

        /* The hidden part of a segment register holds the limit in bytes. */
        if (s.g)
                s.limit = (s.limit << 12) | 0xfff;
        return s;
}

static int write_gdt(GuestMemory *mem, uint64_t gdt[static X86_GDT_ENTRIES]) {
        memset(gdt, 0, X86_GDT_ENTRIES * sizeof(uint64_t));
        gdt[X86_GDT_SEL_CODE32 / 8] = x86_gdt_entry(X86_GDT_FLAGS_CODE32, 0, 0xfffff);
        gdt[X86_GDT_SEL_CODE64 / 8] = x86_gdt_entry(X86_GDT_FLAGS_CODE64, 0, 0xfffff);
        gdt[X86_GDT_SEL_DATA / 8] = x86_gdt_entry(X86_GDT_FLAGS_DATA, 0, 0xfffff);
        /* In long mode a TSS descriptor is 16 bytes; the upper half (base 63:32) stays zero. */
        gdt[X86_GDT_SEL_TSS / 8] = x86_gdt_entry(X86_GDT_FLAGS_TSS, 0, X86_TSS_LIMIT);
        return guest_write(mem, X86_GDT_ADDR, gdt, X86_GDT_ENTRIES * sizeof(uint64_t));
}

/* One PML4 entry -> one PDPT with 4 entries -> 4 PDs of 512 2 MiB pages: [0, 4 GiB) mapped 1:1. */
static int write_page_tables(GuestMemory *mem) {
        uint64_t *pml4, *pdpt, *pd;

        pml4 = guest_ptr(mem, X86_PML4_ADDR, PT_ENTRIES * sizeof(uint64_t));
        pdpt = guest_ptr(mem, X86_PDPT_ADDR, PT_ENTRIES * sizeof(uint64_t));
        pd = guest_ptr(mem, X86_PD_ADDR, PD_PAGES * PT_ENTRIES * sizeof(uint64_t));
        if (!pml4 || !pdpt || !pd)
                return -EFAULT;

        memset(pml4, 0, PT_ENTRIES * sizeof(uint64_t));
        memset(pdpt, 0, PT_ENTRIES * sizeof(uint64_t));
        pml4[0] = X86_PDPT_ADDR | X86_PTE_PRESENT | X86_PTE_WRITE;
        for (size_t i = 0; i < PD_PAGES; i++)
                pdpt[i] = (X86_PD_ADDR + i * 4096) | X86_PTE_PRESENT | X86_PTE_WRITE;
        for (size_t i = 0; i < PD_PAGES * PT_ENTRIES; i++)
                pd[i] = (i * PAGE_2M) | X86_PTE_PRESENT | X86_PTE_WRITE | X86_PTE_LARGE;
        return 0;
}

int x86_cpu_setup(GuestMemory *mem, const X86BootInfo *boot, X86CpuSetup *ret) {
        uint64_t gdt[X86_GDT_ENTRIES];
        X86CpuSetup s;
        X86Segment data;
        int r;

        assert(mem);
        assert(boot);
        assert(ret);

        if (boot->mode != X86_BOOT_MODE_LINUX64 && boot->mode != X86_BOOT_MODE_PVH)
                return -EINVAL;

        /* Both tables are written whatever the mode, so the low pages are always in a known state. */
        r = write_gdt(mem, gdt);
        if (r < 0)
                return r;
        r = write_page_tables(mem);
        if (r < 0)
                return r;

        data = x86_segment_from_gdt(gdt[X86_GDT_SEL_DATA / 8], X86_GDT_SEL_DATA);
        s = (X86CpuSetup) {
                .rip = boot->entry,
                .rflags = X86_RFLAGS_FIXED, /* IF, TF, DF and VM clear */
                .ds = data,
                .es = data,
                .fs = data,
                .gs = data,
                .ss = data,
                .tr = x86_segment_from_gdt(gdt[X86_GDT_SEL_TSS / 8], X86_GDT_SEL_TSS),
                .gdt_base = X86_GDT_ADDR,
                .gdt_limit = X86_GDT_ENTRIES * 8 - 1,
                /* An empty IDT: an exception before the kernel installs its own is a triple fault,
                 * which KVM reports as a shutdown, rather than a jump through garbage. */
                .idt_base = 0,
                .idt_limit = 0,
        };

        if (boot->mode == X86_BOOT_MODE_LINUX64) {
                s.cs = x86_segment_from_gdt(gdt[X86_GDT_SEL_CODE64 / 8], X86_GDT_SEL_CODE64);
                s.rsi = boot->params_addr;
                s.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
                s.cr3 = X86_PML4_ADDR;
                s.cr4 = X86_CR4_PAE;
                s.efer = X86_EFER_LME | X86_EFER_LMA;
        } else {
                s.cs = x86_segment_from_gdt(gdt[X86_GDT_SEL_CODE32 / 8], X86_GDT_SEL_CODE32);
                s.rbx = boot->params_addr;
                s.cr0 = X86_CR0_PE | X86_CR0_ET;
        }

        *ret = s;
        return 0;
}

static void segment_to_kvm(const X86Segment *s, struct kvm_segment *k) {
        *k = (struct kvm_segment) {
                .base = s->base,
                .limit = s->limit,
                .selector = s->selector,
                .type = s->type,
                .present = s->present,
                .dpl = s->dpl,
                .db = s->db,
                .s = s->s,
                .l = s->l,
                .g = s->g,
                .avl = s->avl,
                .unusable = !s->present,
        };
}

void x86_cpu_setup_to_kvm(const X86CpuSetup *s, struct kvm_regs *regs, struct kvm_sregs *sregs) {
        assert(s);
        assert(regs);
        assert(sregs);

        *regs = (struct kvm_regs) {
                .rip = s->rip,
                .rsi = s->rsi,
                .rbx = s->rbx,
                .rflags = s->rflags,
        };

        segment_to_kvm(&s->cs, &sregs->cs);
        segment_to_kvm(&s->ds, &sregs->ds);
        segment_to_kvm(&s->es, &sregs->es);
        segment_to_kvm(&s->fs, &sregs->fs);
        segment_to_kvm(&s->gs, &sregs->gs);
        segment_to_kvm(&s->ss, &sregs->ss);
        segment_to_kvm(&s->tr, &sregs->tr);
        sregs->gdt = (struct kvm_dtable) { .base = s->gdt_base, .limit = s->gdt_limit };
        sregs->idt = (struct kvm_dtable) { .base = s->idt_base, .limit = s->idt_limit };
        sregs->cr0 = s->cr0;
        sregs->cr3 = s->cr3;
        sregs->cr4 = s->cr4;
        sregs->efer = s->efer;
}
