/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The ACPI tables of an x86 guest: a hardware-reduced ACPI 6.4 machine (no SCI, no PM1/GPE blocks,
 * no FACS) whose only fixed hardware is the FADT's sleep control/status and reset registers.
 *
 * Laid out for guest-physical X86_ACPI_ADDR, each table 16-byte aligned, each after those it points
 * at: RSDP (offset 0, where the legacy scan of 0xe0000-0xfffff finds it), DSDT, FADT, MADT, XSDT.
 * The RSDP points only at the XSDT (RsdtAddress is 0); the XSDT lists the FADT and the MADT; the FADT
 * points at the DSDT. The DSDT holds \_S5 and, under \_SB, the power button (PWRB, PNP0C0C), the
 * Generic Event Device (GED0, ACPI0013) on X86_IRQ_ACPI_GED, COM1 (PNP0501), pvpanic (QEMU0001) and
 * the PCI host bridge (PCI0, PNP0A03).
 *
 * What vmm has to do for the guest to use them:
 *  - Power button: pulse GSI X86_IRQ_ACPI_GED (edge-triggered, active-high). The GED's _EVT then
 *    runs Notify(\_SB.PWRB, 0x80), which Linux's "button" driver reports as KEY_POWER.
 *  - Power off (S5): the guest first writes ACPI_SLEEP_STATUS_WAK_STS to
 *    X86_PORT_ACPI_SLEEP_STATUS (write-one-to-clear; reads may return 0), then writes one byte
 *        (X86_ACPI_S5_TYPE << ACPI_SLEEP_CONTROL_SLP_TYP_SHIFT) | ACPI_SLEEP_CONTROL_SLP_EN
 *    = (5 << 2) | 0x20 = 0x34 to X86_PORT_ACPI_SLEEP_CONTROL; acpi_sleep_control_decode() reads it.
 *    (ACPI 6.x sections 4.8.3.7 and 4.8.3.8.)
 *  - Reset: the guest writes X86_ACPI_RESET_VALUE (one byte) to X86_PORT_ACPI_RESET.
 *  - pvpanic: reads of X86_PORT_PVPANIC return the events vmm supports (bit 0 "panicked", bit 1
 *    "crash loaded"); the guest writes the event that happened. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_CPUS_MAX 255 /* xAPIC IDs 0..254; 255 is the broadcast ID */

/* Sleep Control Register (one byte): bits 2-4 SLP_TYPx, bit 5 SLP_EN, the rest reserved. */
#define ACPI_SLEEP_CONTROL_SLP_TYP_SHIFT 2
#define ACPI_SLEEP_CONTROL_SLP_TYP_MASK 0x1c
#define ACPI_SLEEP_CONTROL_SLP_EN 0x20
/* Sleep Status Register (one byte): bit 7 WAK_STS. */
#define ACPI_SLEEP_STATUS_WAK_STS 0x80

typedef struct AcpiConfig {
        unsigned n_cpus; /* 1..ACPI_CPUS_MAX; vCPU i has APIC ID i and ACPI processor UID i */
        /* Whether vmm emulates a CMOS RTC at ports 0x70-0x71. If not, the FADT says "CMOS RTC Not
         * Present" and Linux takes the wall clock from kvmclock and registers no rtc_cmos. */
        bool cmos_rtc;
        /* The PCI host bridge \_SB.PCI0 (PNP0A03): bus 0, configuration ports 0xCF8-0xCFF, and the 32-bit
         * memory window its BARs live in. No window (size 0): no PCI0. */
        uint64_t pci_mmio_base, pci_mmio_size;
} AcpiConfig;

/* Writes all tables into buf (the bytes that will be at X86_ACPI_ADDR) and stores the number of
 * bytes used in *ret_len. -EINVAL for n_cpus out of range, -ENOBUFS if size is too small (the tables
 * are a few KiB; X86_ACPI_MAX is plenty), -ENOMEM. buf is not written to on failure. */
int acpi_build(const AcpiConfig *cfg, uint8_t *buf, size_t size, size_t *ret_len);

/* For a byte the guest wrote to the sleep control register: the SLP_TYP it asked for (e.g.
 * X86_ACPI_S5_TYPE), or -EAGAIN if SLP_EN is clear (no transition requested). */
static inline int acpi_sleep_control_decode(uint8_t value) {
        if (!(value & ACPI_SLEEP_CONTROL_SLP_EN))
                return -EAGAIN;
        return (value & ACPI_SLEEP_CONTROL_SLP_TYP_MASK) >> ACPI_SLEEP_CONTROL_SLP_TYP_SHIFT;
}
