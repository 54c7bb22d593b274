/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The boot vCPU's state at the kernel's first instruction, and the guest tables that state points
 * at: a GDT at X86_GDT_ADDR and identity page tables for the first 4 GiB (2 MiB pages) at
 * X86_PML4_ADDR/X86_PDPT_ADDR/X86_PD_ADDR.
 *   LINUX64 (boot.rst's 64-bit protocol): long mode, paging on, CS = 0x10 (64-bit code),
 *     DS/ES/SS = 0x18, RSI = zero page, interrupts off.
 *   PVH (Xen's direct boot ABI): 32-bit protected mode, paging off, flat 4 GiB CS/DS/ES/SS,
 *     TR = a 32-bit busy TSS at 0 limit 0x67, EBX = start_info, interrupts off.
 * The state is a plain struct so it can be checked without KVM; x86_cpu_setup_to_kvm() turns it into
 * what KVM_SET_REGS/KVM_SET_SREGS take. */

#include <stdint.h>

#include "arch/x86/boot.h"
#include "core/memory.h"

/* Selectors in the boot GDT. 0x10/0x18 are Linux's __BOOT_CS/__BOOT_DS, which its 64-bit entry
 * requires; the TSS descriptor takes two slots (16 bytes in long mode). */
#define X86_GDT_SEL_CODE32 0x08
#define X86_GDT_SEL_CODE64 0x10
#define X86_GDT_SEL_DATA 0x18
#define X86_GDT_SEL_TSS 0x20
#define X86_GDT_ENTRIES 6

/* Descriptor access byte (bits 0-7) and flags nibble (bits 12-15), as x86_gdt_entry() takes them. */
#define X86_GDT_FLAGS_CODE32 0xc09b /* G, D; present, code, execute/read, accessed */
#define X86_GDT_FLAGS_CODE64 0xa09b /* G, L; present, code, execute/read, accessed */
#define X86_GDT_FLAGS_DATA 0xc093   /* G, B; present, data, read/write, accessed */
#define X86_GDT_FLAGS_TSS 0x008b    /* present, system, busy 32-bit (64-bit in long mode) TSS */
#define X86_TSS_LIMIT 0x67

#define X86_CR0_PE (1ULL << 0)
#define X86_CR0_ET (1ULL << 4)
#define X86_CR0_PG (1ULL << 31)
#define X86_CR4_PAE (1ULL << 5)
#define X86_EFER_LME (1ULL << 8)
#define X86_EFER_LMA (1ULL << 10)
#define X86_RFLAGS_FIXED (1ULL << 1) /* reserved, always 1 */

#define X86_PTE_PRESENT (1ULL << 0)
#define X86_PTE_WRITE (1ULL << 1)
#define X86_PTE_LARGE (1ULL << 7) /* in a PD entry: a 2 MiB page */

/* The same fields as struct kvm_segment, without depending on KVM's header. */
typedef struct X86Segment {
        uint64_t base;
        uint32_t limit; /* in bytes - 1, after granularity scaling */
        uint16_t selector;
        uint8_t type;
        uint8_t present;
        uint8_t dpl;
        uint8_t db;
        uint8_t s;
        uint8_t l;
        uint8_t g;
        uint8_t avl;
} X86Segment;

typedef struct X86CpuSetup {
        uint64_t rip;
        uint64_t rsi;
        uint64_t rbx;
        uint64_t rflags;
        uint64_t cr0;
        uint64_t cr3;
        uint64_t cr4;
        uint64_t efer;
        X86Segment cs, ds, es, fs, gs, ss, tr;
        uint64_t gdt_base;
        uint16_t gdt_limit;
        uint64_t idt_base;
        uint16_t idt_limit;
} X86CpuSetup;

/* A GDT descriptor from base, limit (20 bits, in units of the G flag) and flags as above. */
uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
/* The segment register state that loading descriptor d with selector sel would give. */
X86Segment x86_segment_from_gdt(uint64_t d, uint16_t sel);

/* Writes the GDT and the page tables into mem and fills *ret for entering boot (from
 * x86_load_kernel()). -EFAULT if the low pages are not guest RAM, -EINVAL for an unknown mode. */
int x86_cpu_setup(GuestMemory *mem, const X86BootInfo *boot, X86CpuSetup *ret);

struct kvm_regs;
struct kvm_sregs;
/* Pure: fills *regs (all other general registers zero) and overwrites the segment, descriptor
 * table, control register and EFER fields of *sregs, which the caller got from KVM_GET_SREGS (its
 * LDT, APIC base, CR2/CR8 and pending interrupts are kept). */
void x86_cpu_setup_to_kvm(const X86CpuSetup *s, struct kvm_regs *regs, struct kvm_sregs *sregs);
