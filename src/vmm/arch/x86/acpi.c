/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "acpi/aml.h"
#include "byteorder.h"
#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "cleanup.h"
#include "device/pci/hotplug.h"
#include "device/pci/pci.h"

/* Field values and layouts from ACPI 6.4, chapter 5. */

#define ACPI_OEM_ID "SDVM  "
/* The XSDT's OEM Table ID must match the FADT's; one ID for every table keeps that true. */
#define ACPI_OEM_TABLE_ID "SDVM    "
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_ID "SDVM"
#define ACPI_CREATOR_REVISION 1
#define ACPI_HYPERVISOR_ID "SDVM\0\0\0\0" /* FADT Hypervisor Vendor Identity: 8 bytes, no version */

#define ACPI_TABLE_ALIGN 16
#define ACPI_HEADER_SIZE 36
#define ACPI_HEADER_LENGTH_OFFSET 4
#define ACPI_HEADER_CHECKSUM_OFFSET 9

#define RSDP_SIZE 36
#define RSDP_V1_SIZE 20 /* what the first checksum covers */
#define RSDP_CHECKSUM_OFFSET 8
#define RSDP_EXT_CHECKSUM_OFFSET 32

#define XSDT_REVISION 1
#define DSDT_REVISION 2 /* 2 or more: AML integers are 64 bits wide */
#define FADT_REVISION 6
#define FADT_MINOR_REVISION 4
#define FADT_SIZE 276
#define MADT_REVISION 5

/* FADT Flags. */
#define FADT_WBINVD (1U << 0)
#define FADT_PWR_BUTTON (1U << 4) /* no fixed-feature power button: it is a control-method device */
#define FADT_SLP_BUTTON (1U << 5) /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP (1U << 10)
#define FADT_HEADLESS (1U << 12)
#define FADT_HW_REDUCED_ACPI (1U << 20)

/* FADT IAPC_BOOT_ARCH. */
#define FADT_BOOT_VGA_NOT_PRESENT (1U << 2)
#define FADT_BOOT_CMOS_RTC_NOT_PRESENT (1U << 5)

/* FADT P_LVL2_LAT and P_LVL3_LAT: values above these mean that C2 and C3 are not supported. */
#define FADT_NO_C2_LATENCY 101
#define FADT_NO_C3_LATENCY 1001

/* Generic Address Structure. */
#define GAS_SPACE_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

/* MADT. */
#define MADT_PCAT_COMPAT (1U << 0)
#define MADT_TYPE_LOCAL_APIC 0
#define MADT_TYPE_IO_APIC 1
#define MADT_TYPE_INTERRUPT_OVERRIDE 2
#define MADT_TYPE_LOCAL_APIC_NMI 4
#define MADT_LOCAL_APIC_ENABLED (1U << 0)
#define MADT_ALL_PROCESSORS 0xff
#define MADT_BUS_ISA 0
/* MPS INTI flags: bits 0-1 polarity (1 = active high), bits 2-3 trigger mode (1 = edge). */
#define MADT_INTI_ACTIVE_HIGH_EDGE 0x0005
#define MADT_LINT1 1

/* The DSDT's devices, by name. */
#define DSDT_POWER_BUTTON "\\_SB.PWRB"
#define DSDT_PCI_HOTPLUG_METHOD "\\_SB.PCI0.PCNT"
/* Notify values for a hot-plug slot (ACPI 6.4 section 5.6.6). */
#define NOTIFY_DEVICE_CHECK 1
#define NOTIFY_EJECT_REQUEST 3
#define POWER_BUTTON_NOTIFY_PRESSED 0x80 /* "Button pressed" for PNP0C0C (ACPI 6.4 section 4.8.3.1) */

static uint8_t acpi_checksum(const uint8_t *p, size_t n) {
        uint8_t sum = 0;

        for (size_t i = 0; i < n; i++)
                sum += p[i];
        return (uint8_t) -sum;
}

static int pad_to_alignment(AmlBuf *a) {
        static const uint8_t zeros[ACPI_TABLE_ALIGN] = {};

        return aml_append(a, zeros, (ACPI_TABLE_ALIGN - a->len % ACPI_TABLE_ALIGN) % ACPI_TABLE_ALIGN);
}

/* Starts a table at the next aligned offset of the image: the standard header, with its length and
 * checksum filled in by table_end(). */
static int table_begin(AmlBuf *a, const char signature[static 4], uint8_t revision, size_t *ret_start) {
        size_t start;

        (void) pad_to_alignment(a);
        start = a->len;
        (void) aml_append(a, signature, 4);
        (void) aml_append_u32(a, 0); /* Length */
        (void) aml_append_u8(a, revision);
        (void) aml_append_u8(a, 0); /* Checksum */
        (void) aml_append(a, ACPI_OEM_ID, 6);
        (void) aml_append(a, ACPI_OEM_TABLE_ID, 8);
        (void) aml_append_u32(a, ACPI_OEM_REVISION);
        (void) aml_append(a, ACPI_CREATOR_ID, 4);
        (void) aml_append_u32(a, ACPI_CREATOR_REVISION);
        if (a->error < 0)
                return a->error;
        *ret_start = start;
        return 0;
}

static int table_end(AmlBuf *a, size_t start, uint64_t *ret_addr) {
        size_t len;
        int r;

        r = aml_finish(a); /* also catches an AML object left open */
        if (r < 0)
                return r;
        len = a->len - start;
        if (len > UINT32_MAX)
                return -E2BIG;
        le_write(a->data + start + ACPI_HEADER_LENGTH_OFFSET, 4, (uint32_t) len);
        a->data[start + ACPI_HEADER_CHECKSUM_OFFSET] = acpi_checksum(a->data + start, len);
        *ret_addr = X86_ACPI_ADDR + start;
        return 0;
}

/* A Generic Address Structure for an 8-bit I/O port, or an absent register for port 0. */
static int gas_io8(AmlBuf *a, uint16_t port) {
        (void) aml_append_u8(a, port ? GAS_SPACE_SYSTEM_IO : 0);
        (void) aml_append_u8(a, port ? 8 : 0); /* Register Bit Width */
        (void) aml_append_u8(a, 0);            /* Register Bit Offset */
        (void) aml_append_u8(a, port ? GAS_ACCESS_BYTE : 0);
        return aml_append_u64(a, port);
}

/* \_S5: the sleep type the guest writes to the sleep control register to switch itself off. */
static int dsdt_sleep_states(AmlBuf *a) {
        (void) aml_name(a, "\\_S5");
        (void) aml_package_begin(a, 4);
        (void) aml_integer(a, X86_ACPI_S5_TYPE); /* SLP_TYPa */
        (void) aml_integer(a, 0);                /* SLP_TYPb: only for a second PM1 block, which has none */
        (void) aml_integer(a, 0);                /* reserved */
        (void) aml_integer(a, 0);                /* reserved */
        return aml_end(a);
}

/* A control-method power button: Notify(PWRB, 0x80) presses it. */
static int dsdt_power_button(AmlBuf *a) {
        (void) aml_device_begin(a, "PWRB");
        (void) aml_name_eisaid(a, "_HID", "PNP0C0C");
        (void) aml_name_integer(a, "_UID", 0);
        return aml_end(a);
}

/* The Generic Event Device: hardware-reduced ACPI's replacement for the SCI and GPE blocks. One
 * interrupt means "power button pressed", the other (with a PCI bus) "a hot-plug slot changed"; the OS
 * runs _EVT with the GSI that fired. */
static int dsdt_generic_event_device(const AcpiConfig *cfg, AmlBuf *a) {
        (void) aml_device_begin(a, "GED0");
        (void) aml_name_str(a, "_HID", "ACPI0013");
        (void) aml_name_integer(a, "_UID", 0);
        (void) aml_name(a, "_CRS");
        (void) aml_resource_template_begin(a);
        (void) aml_extended_interrupt(a, AML_IRQ_CONSUMER | AML_IRQ_EDGE, X86_IRQ_ACPI_GED);
        if (cfg->pci_mmio_size > 0)
                (void) aml_extended_interrupt(a, AML_IRQ_CONSUMER | AML_IRQ_EDGE, X86_IRQ_ACPI_GED_HOTPLUG);
        (void) aml_end(a);

        (void) aml_method_begin(a, "_EVT", 1, /* serialized= */ false);
        (void) aml_if_begin(a);
        (void) aml_lequal(a);
        (void) aml_arg(a, 0);
        (void) aml_integer(a, X86_IRQ_ACPI_GED);
        (void) aml_notify(a);
        (void) aml_name_string(a, DSDT_POWER_BUTTON);
        (void) aml_integer(a, POWER_BUTTON_NOTIFY_PRESSED);
        (void) aml_end(a); /* If */
        if (cfg->pci_mmio_size > 0) {
                (void) aml_if_begin(a);
                (void) aml_lequal(a);
                (void) aml_arg(a, 0);
                (void) aml_integer(a, X86_IRQ_ACPI_GED_HOTPLUG);
                (void) aml_name_string(a, DSDT_PCI_HOTPLUG_METHOD); /* a call, no arguments */
                (void) aml_end(a); /* If */
        }
        (void) aml_end(a); /* Method */

        return aml_end(a);
}

static int dsdt_com1(AmlBuf *a) {
        (void) aml_device_begin(a, "COM1");
        (void) aml_name_eisaid(a, "_HID", "PNP0501");
        (void) aml_name_integer(a, "_UID", 0);
        (void) aml_name(a, "_CRS");
        (void) aml_resource_template_begin(a);
        (void) aml_io(a, X86_PORT_COM1, X86_PORT_COM1, 1, 8);
        (void) aml_irq_noflags(a, X86_IRQ_COM1);
        (void) aml_end(a);
        return aml_end(a);
}

/* pvpanic: Linux's pvpanic driver binds to this _HID and writes panic events to the port. */
static int dsdt_pvpanic(AmlBuf *a) {
        (void) aml_device_begin(a, "PVPN");
        (void) aml_name_str(a, "_HID", "QEMU0001");
        (void) aml_name_integer(a, "_UID", 0);
        (void) aml_name_integer(a, "_STA", 0x0f); /* present, enabled, shown, functioning */
        (void) aml_name(a, "_CRS");
        (void) aml_resource_template_begin(a);
        (void) aml_io(a, X86_PORT_PVPANIC, X86_PORT_PVPANIC, 1, 1);
        (void) aml_end(a);
        return aml_end(a);
}

/* ACPI PCI hotplug (device/pci/hotplug.h), inside PCI0: the register block as three fields, one device
 * per slot 1-31 (_ADR, _SUN, and _EJ0, which tells vmm the guest let go), and PCNT, which the GED runs on
 * the hotplug interrupt: it reads both "what changed" registers once (reading clears them) and notifies
 * each slot in them, device check for an insertion and eject request for a removal. */
static int dsdt_pci_hotplug(AmlBuf *a) {
        char name[8];

        (void) aml_operation_region(a, "PCHP", AML_REGION_SYSTEM_IO, X86_PORT_PCI_HOTPLUG, PCI_HOTPLUG_REGS);
        (void) aml_field_begin(a, "PCHP", AML_FIELD_ACCESS_DWORD | AML_FIELD_NO_LOCK | AML_FIELD_WRITE_AS_ZEROS);
        (void) aml_field_unit(a, "PCIU", 32); /* PCI_HOTPLUG_REG_INSERTED */
        (void) aml_field_unit(a, "PCID", 32); /* PCI_HOTPLUG_REG_EJECT_REQ */
        (void) aml_field_unit(a, "B0EJ", 32); /* PCI_HOTPLUG_REG_EJECT */
        (void) aml_end(a);

        (void) aml_method_begin(a, "PCNT", 0, /* serialized= */ true);
        (void) aml_store(a);
        (void) aml_name_string(a, "PCIU");
        (void) aml_local(a, 0);
        (void) aml_store(a);
        (void) aml_name_string(a, "PCID");
        (void) aml_local(a, 1);
        for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
                (void) snprintf(name, sizeof name, "S%02X", slot);
                for (unsigned k = 0; k < 2; k++) {
                        (void) aml_if_begin(a);
                        (void) aml_and(a);
                        (void) aml_local(a, k);
                        (void) aml_integer(a, UINT64_C(1) << slot);
                        (void) aml_null_target(a);
                        (void) aml_notify(a);
                        (void) aml_name_string(a, name);
                        (void) aml_integer(a, k == 0 ? NOTIFY_DEVICE_CHECK : NOTIFY_EJECT_REQUEST);
                        (void) aml_end(a); /* If */
                }
        }
        (void) aml_end(a); /* Method */

        for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
                (void) snprintf(name, sizeof name, "S%02X", slot);
                (void) aml_device_begin(a, name);
                (void) aml_name_integer(a, "_ADR", (uint64_t) slot << 16); /* device slot, function 0 */
                (void) aml_name_integer(a, "_SUN", slot);
                (void) aml_method_begin(a, "_EJ0", 1, /* serialized= */ false);
                (void) aml_store(a);
                (void) aml_integer(a, UINT64_C(1) << slot);
                (void) aml_name_string(a, "B0EJ");
                (void) aml_end(a); /* Method */
                (void) aml_end(a); /* Device */
        }
        return 0;
}

/* The host bridge: bus 0 only, its configuration ports, and the memory window that vmm assigned every
 * BAR from. Without firmware, Linux keeps BARs that lie inside a bridge window. */
static int dsdt_pci(const AcpiConfig *cfg, AmlBuf *a) {
        (void) aml_device_begin(a, "PCI0");
        (void) aml_name_eisaid(a, "_HID", "PNP0A03");
        (void) aml_name_integer(a, "_UID", 0);
        (void) aml_name_integer(a, "_BBN", 0);
        (void) aml_name(a, "_CRS");
        (void) aml_resource_template_begin(a);
        (void) aml_word_address_space(a, &(AmlAddressSpace) {
                .type = AML_RESOURCE_BUS_NUMBER,
                .flags = AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED,
                .min = 0,
                .max = 0,
                .length = 1,
        });
        (void) aml_io(a, X86_PORT_PCI_CONFIG, X86_PORT_PCI_CONFIG, 1, 8);
        (void) aml_dword_address_space(a, &(AmlAddressSpace) {
                .type = AML_RESOURCE_MEMORY,
                .flags = AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED,
                .type_flags = AML_ADDR_MEM_READ_WRITE | AML_ADDR_MEM_NON_CACHEABLE,
                .min = cfg->pci_mmio_base,
                .max = cfg->pci_mmio_base + cfg->pci_mmio_size - 1,
                .length = cfg->pci_mmio_size,
        });
        (void) aml_end(a);
        (void) dsdt_pci_hotplug(a);
        return aml_end(a);
}

static int build_dsdt(const AcpiConfig *cfg, AmlBuf *a, uint64_t *ret_addr) {
        size_t start;
        int r;

        r = table_begin(a, "DSDT", DSDT_REVISION, &start);
        if (r < 0)
                return r;

        (void) dsdt_sleep_states(a);
        (void) aml_scope_begin(a, "\\_SB");
        (void) dsdt_power_button(a);
        (void) dsdt_generic_event_device(cfg, a);
        (void) dsdt_com1(a);
        (void) dsdt_pvpanic(a);
        if (cfg->pci_mmio_size > 0)
                (void) dsdt_pci(cfg, a);
        (void) aml_end(a);

        return table_end(a, start, ret_addr);
}

static int build_fadt(const AcpiConfig *cfg, uint64_t dsdt_addr, AmlBuf *a, uint64_t *ret_addr) {
        uint16_t boot_arch = FADT_BOOT_VGA_NOT_PRESENT;
        size_t start;
        int r;

        /* No 8042 and no legacy (non-enumerable) devices: COM1 and pvpanic are in the DSDT. */
        if (!cfg->cmos_rtc)
                boot_arch |= FADT_BOOT_CMOS_RTC_NOT_PRESENT;

        r = table_begin(a, "FACP", FADT_REVISION, &start);
        if (r < 0)
                return r;

        /* Hardware-reduced: no FACS, no SCI or SMI command port, and no PM1/PM2/PM timer/GPE blocks;
         * all of those fields stay zero. */
        (void) aml_append_u32(a, 0);                   /* FIRMWARE_CTRL */
        (void) aml_append_u32(a, (uint32_t) dsdt_addr); /* DSDT, the same as X_DSDT */
        (void) aml_append_u8(a, 0);                    /* reserved */
        (void) aml_append_u8(a, 0);                    /* Preferred_PM_Profile: unspecified */
        (void) aml_append_u16(a, 0);                   /* SCI_INT */
        (void) aml_append_u32(a, 0);                   /* SMI_CMD */
        (void) aml_append_u32(a, 0); /* ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT */
        for (size_t i = 0; i < 8; i++)
                (void) aml_append_u32(a, 0); /* PM1a/b_EVT, PM1a/b_CNT, PM2_CNT, PM_TMR, GPE0/1 */
        for (size_t i = 0; i < 8; i++)
                (void) aml_append_u8(a, 0); /* their lengths, GPE1_BASE, CST_CNT */
        (void) aml_append_u16(a, FADT_NO_C2_LATENCY);
        (void) aml_append_u16(a, FADT_NO_C3_LATENCY);
        (void) aml_append_u16(a, 0); /* FLUSH_SIZE */
        (void) aml_append_u16(a, 0); /* FLUSH_STRIDE */
        (void) aml_append_u8(a, 0);  /* DUTY_OFFSET */
        (void) aml_append_u8(a, 0);  /* DUTY_WIDTH */
        (void) aml_append_u8(a, 0);  /* DAY_ALRM */
        (void) aml_append_u8(a, 0);  /* MON_ALRM */
        (void) aml_append_u8(a, 0);  /* CENTURY */
        (void) aml_append_u16(a, boot_arch);
        (void) aml_append_u8(a, 0); /* reserved */
        (void) aml_append_u32(a, FADT_WBINVD | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_RESET_REG_SUP |
                                         FADT_HEADLESS | FADT_HW_REDUCED_ACPI);
        (void) gas_io8(a, X86_PORT_ACPI_RESET);
        (void) aml_append_u8(a, X86_ACPI_RESET_VALUE);
        (void) aml_append_u16(a, 0); /* ARM_BOOT_ARCH */
        (void) aml_append_u8(a, FADT_MINOR_REVISION);
        (void) aml_append_u64(a, 0); /* X_FIRMWARE_CTRL */
        (void) aml_append_u64(a, dsdt_addr);
        for (size_t i = 0; i < 8; i++)
                (void) gas_io8(a, 0); /* X_PM1a/b_EVT, X_PM1a/b_CNT, X_PM2_CNT, X_PM_TMR, X_GPE0/1 */
        (void) gas_io8(a, X86_PORT_ACPI_SLEEP_CONTROL);
        (void) gas_io8(a, X86_PORT_ACPI_SLEEP_STATUS);
        (void) aml_append(a, ACPI_HYPERVISOR_ID, 8);

        assert(a->error < 0 || a->len - start == FADT_SIZE);
        return table_end(a, start, ret_addr);
}

static int build_madt(const AcpiConfig *cfg, AmlBuf *a, uint64_t *ret_addr) {
        size_t start;
        int r;

        r = table_begin(a, "APIC", MADT_REVISION, &start);
        if (r < 0)
                return r;

        (void) aml_append_u32(a, (uint32_t) X86_LAPIC_ADDR);
        /* KVM's in-kernel irqchip has the two 8259s too. (Linux ignores them on a hardware-reduced
         * machine and routes every interrupt through the I/O APIC.) */
        (void) aml_append_u32(a, MADT_PCAT_COMPAT);

        for (unsigned i = 0; i < cfg->n_cpus; i++) {
                (void) aml_append_u8(a, MADT_TYPE_LOCAL_APIC);
                (void) aml_append_u8(a, 8);
                (void) aml_append_u8(a, (uint8_t) i); /* ACPI Processor UID */
                (void) aml_append_u8(a, (uint8_t) i); /* APIC ID */
                (void) aml_append_u32(a, MADT_LOCAL_APIC_ENABLED);
        }

        (void) aml_append_u8(a, MADT_TYPE_IO_APIC);
        (void) aml_append_u8(a, 12);
        (void) aml_append_u8(a, X86_IOAPIC_ID);
        (void) aml_append_u8(a, 0); /* reserved */
        (void) aml_append_u32(a, (uint32_t) X86_IOAPIC_ADDR);
        (void) aml_append_u32(a, 0); /* Global System Interrupt Base */

        /* The flags are spelled out rather than "conforms to the bus": with no SCI, the FADT's
         * SCI_INT is 0, and Linux takes an override of IRQ 0 for the SCI's, whose default is
         * level-triggered, active-low. */
        (void) aml_append_u8(a, MADT_TYPE_INTERRUPT_OVERRIDE);
        (void) aml_append_u8(a, 10);
        (void) aml_append_u8(a, MADT_BUS_ISA);
        (void) aml_append_u8(a, 0); /* Source: ISA IRQ 0, the PIT */
        (void) aml_append_u32(a, X86_GSI_PIT);
        (void) aml_append_u16(a, MADT_INTI_ACTIVE_HIGH_EDGE);

        (void) aml_append_u8(a, MADT_TYPE_LOCAL_APIC_NMI);
        (void) aml_append_u8(a, 6);
        (void) aml_append_u8(a, MADT_ALL_PROCESSORS);
        (void) aml_append_u16(a, MADT_INTI_ACTIVE_HIGH_EDGE);
        (void) aml_append_u8(a, MADT_LINT1);

        return table_end(a, start, ret_addr);
}

static int build_xsdt(const uint64_t *entries, size_t n_entries, AmlBuf *a, uint64_t *ret_addr) {
        size_t start;
        int r;

        r = table_begin(a, "XSDT", XSDT_REVISION, &start);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_entries; i++)
                (void) aml_append_u64(a, entries[i]);
        return table_end(a, start, ret_addr);
}

/* The RSDP is no ordinary table: no standard header, and two checksums. */
static void fill_rsdp(uint8_t *p, uint64_t xsdt_addr) {
        memset(p, 0, RSDP_SIZE);
        memcpy(p, "RSD PTR ", 8);
        memcpy(p + 9, ACPI_OEM_ID, 6);
        p[15] = 2;    /* Revision: ACPI 2.0 and later, with the XSDT */
        le_write(p + 16, 4, 0); /* RsdtAddress: there is no RSDT */
        le_write(p + 20, 4, RSDP_SIZE);
        le_write(p + 24, 8, xsdt_addr);
        p[RSDP_CHECKSUM_OFFSET] = acpi_checksum(p, RSDP_V1_SIZE);
        p[RSDP_EXT_CHECKSUM_OFFSET] = acpi_checksum(p, RSDP_SIZE);
}

int acpi_build(const AcpiConfig *cfg, uint8_t *buf, size_t size, size_t *ret_len) {
        _cleanup_(aml_buf_done) AmlBuf image = {};
        uint64_t dsdt_addr, fadt_addr, madt_addr, xsdt_addr;
        int r;

        assert(cfg);
        assert(buf || size == 0);
        assert(ret_len);

        if (cfg->n_cpus < 1 || cfg->n_cpus > ACPI_CPUS_MAX)
                return -EINVAL;

        /* The whole image is built in memory, each table after those it points at, and copied out
         * only once it is known to fit. The RSDP's place at offset 0 is kept for last. */
        r = aml_append(&image, (const uint8_t[RSDP_SIZE]) {}, RSDP_SIZE);
        if (r < 0)
                return r;
        r = build_dsdt(cfg, &image, &dsdt_addr);
        if (r < 0)
                return r;
        r = build_fadt(cfg, dsdt_addr, &image, &fadt_addr);
        if (r < 0)
                return r;
        r = build_madt(cfg, &image, &madt_addr);
        if (r < 0)
                return r;
        r = build_xsdt((const uint64_t[]) { fadt_addr, madt_addr }, 2, &image, &xsdt_addr);
        if (r < 0)
                return r;
        fill_rsdp(image.data, xsdt_addr);

        if (image.len > size)
                return -ENOBUFS;
        memcpy(buf, image.data, image.len);
        *ret_len = image.len;
        return 0;
}
