/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Loading a Linux kernel into guest memory, the way a boot loader would, and saying how to enter it.
 * Two formats are recognised by their contents, not their names:
 *   - a bzImage (boot protocol >= 2.12 with a 64-bit entry point): the protected-mode part goes to its
 *     preferred address, a zero page describes the machine, and the boot vCPU starts in long mode at
 *     load address + 0x200 with RSI = zero page;
 *   - an uncompressed ELF vmlinux with a PVH note: its segments go to their physical addresses, an
 *     hvm_start_info describes the machine, and the vCPU starts in 32-bit protected mode at the note's
 *     address with EBX = start_info.
 * Both get the command line at X86_CMDLINE_ADDR, the initrd as high as it may go, the RSDP at
 * X86_ACPI_ADDR and the same memory map. The image is untrusted: every field is checked, and a bad
 * one is a logged error naming the file, never a crash or a write outside guest RAM. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "core/memory.h"

/* e820 (and PVH memory map) entry types. */
#define X86_E820_RAM 1
#define X86_E820_RESERVED 2
#define X86_E820_ACPI 3

typedef struct X86E820Entry {
        uint64_t addr;
        uint64_t size;
        uint32_t type;
} X86E820Entry;

typedef enum X86BootMode {
        X86_BOOT_MODE_LINUX64, /* bzImage, 64-bit entry */
        X86_BOOT_MODE_PVH,     /* ELF vmlinux, PVH entry */
        _X86_BOOT_MODE_MAX,
        _X86_BOOT_MODE_INVALID = -EINVAL,
} X86BootMode;

const char *x86_boot_mode_to_string(X86BootMode m);

typedef struct X86BootInput {
        const uint8_t *kernel;   /* the whole image file */
        size_t kernel_size;
        const char *kernel_path; /* for messages only */
        const uint8_t *initrd;   /* NULL or initrd_size 0: no initrd */
        size_t initrd_size;
        const char *initrd_path; /* for messages only */
        const char *cmdline;     /* NULL: empty */
} X86BootInput;

typedef struct X86BootInfo {
        X86BootMode mode;
        uint64_t entry;          /* guest-physical address of the first instruction */
        uint64_t params_addr;    /* LINUX64: the zero page (RSI); PVH: hvm_start_info (EBX) */
        uint64_t kernel_start;   /* lowest address the kernel was loaded at */
        uint64_t kernel_end;     /* end of the memory it needs before it reads the memory map */
        uint64_t initrd_addr;    /* 0 when there is none */
        uint64_t initrd_size;
        uint16_t bzimage_version; /* boot protocol, e.g. 0x020f for 2.15; 0 for PVH */
} X86BootInfo;

/* Loads in->kernel (and initrd, command line) into mem and fills *ret with how to enter it.
 * -ENOEXEC: not a kernel we can boot (unknown format, truncated, too old, no usable entry point);
 * -E2BIG: kernel, initrd or command line do not fit; -EINVAL: guest memory too small to boot at all.
 * Each failure is logged. Writes only the kernel, initrd, command line and zero page / start_info;
 * the GDT and page tables are cpu-setup.h's. */
int x86_load_kernel(GuestMemory *mem, const X86BootInput *in, X86BootInfo *ret);

/* The guest's memory map: RAM [0, X86_EBDA_START), reserved [X86_EBDA_START, 1 MiB) (which holds
 * the ACPI tables), RAM [1 MiB, end of low RAM), and RAM from X86_HIGH_RAM_START for what did not fit
 * below the PCI hole. -E2BIG if more than max entries are needed, -EINVAL if the guest has no RAM
 * above 1 MiB. Does not log. */
int x86_e820_build(const GuestMemory *mem, X86E820Entry *entries, size_t max, size_t *ret_n);
