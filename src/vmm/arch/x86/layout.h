/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The x86 guest-physical and port map: one place, so that boot code, ACPI tables, the e820 map and
 * the devices agree. */

/* Low memory, written by vmm before the first instruction. */
#define X86_GDT_ADDR 0x500
#define X86_PML4_ADDR 0x1000
#define X86_PDPT_ADDR 0x2000
#define X86_PD_ADDR 0x3000 /* 4 pages: the first 4 GiB identity-mapped with 2 MiB pages */
#define X86_ZERO_PAGE_ADDR 0x7000
#define X86_PVH_INFO_ADDR 0x8000 /* hvm_start_info, then its module list and memory map (one page) */
#define X86_PVH_MODLIST_ADDR 0x8040 /* room for 2 modules */
#define X86_PVH_MEMMAP_ADDR 0x8080  /* to the end of the page: up to 165 entries */
#define X86_CMDLINE_ADDR 0x20000
#define X86_CMDLINE_MAX 0x10000
#define X86_EBDA_START 0x9fc00 /* [EBDA, 1 MiB) is reserved in the e820 map */
#define X86_ACPI_ADDR 0xe0000  /* RSDP first (where the legacy scan finds it), then the other tables */
#define X86_ACPI_MAX 0x1f000 /* stops short of the reset vector */
#define X86_RESET_VECTOR 0xffff0 /* F000:FFF0, where a CPU reset (or a jump "to the BIOS") starts */
#define X86_HIGH_MEMORY 0x100000 /* 1 MiB: lowest load address of a kernel */

/* RAM stops at the PCI hole and continues at 4 GiB. */
#define X86_PCI_HOLE_START 0xc0000000ULL
#define X86_HIGH_RAM_START 0x100000000ULL
/* PCI: every BAR is assigned from this window at the bottom of the hole. */
#define X86_PCI_MMIO_BASE 0xc0000000ULL
#define X86_PCI_MMIO_SIZE 0x20000000ULL
#define X86_PORT_PCI_CONFIG 0xcf8 /* configuration mechanism #1: 0xCF8 address, 0xCFC data */
#define X86_IOAPIC_ADDR 0xfec00000ULL
#define X86_IOAPIC_ID 0 /* what KVM's in-kernel I/O APIC holds in its ID register after reset */
#define X86_LAPIC_ADDR 0xfee00000ULL

/* Ports and interrupt lines (GSIs; ISA IRQs map 1:1 except the PIT's IRQ0 -> GSI 2 override). */
#define X86_GSI_PIT 2 /* the MADT's override for ISA IRQ 0 */
#define X86_PORT_I8042_DATA 0x60
#define X86_PORT_I8042_CMD 0x64 /* a write of 0xfe resets the machine */
#define X86_PORT_COM1 0x3f8
#define X86_IRQ_COM1 4
#define X86_PORT_PVPANIC 0x505
/* Boot timer: a 1-byte write of X86_BOOT_TIMER_MAGIC makes vmm log the time since its start. */
#define X86_PORT_BOOT_TIMER 0x510
#define X86_BOOT_TIMER_MAGIC 123
/* Hardware-reduced ACPI: sleep control/status and reset registers (FADT), and the Generic Event
 * Device's interrupt (the power button is its only event). */
#define X86_PORT_ACPI_SLEEP_CONTROL 0x3c0
#define X86_PORT_ACPI_SLEEP_STATUS 0x3c1
#define X86_PORT_ACPI_RESET 0x3c2
#define X86_ACPI_RESET_VALUE 0x1
#define X86_ACPI_S5_TYPE 5 /* SLP_TYP written with SLP_EN for _S5 (soft off) */
#define X86_IRQ_ACPI_GED 5
/* ACPI PCI hotplug (device/pci/hotplug.h): its register block, and the GED's second interrupt, which runs
 * the DSDT's slot notifications. */
#define X86_PORT_PCI_HOTPLUG 0xae00
#define X86_IRQ_ACPI_GED_HOTPLUG 6
