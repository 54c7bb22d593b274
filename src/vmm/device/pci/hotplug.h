/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* ACPI PCI hotplug of bus 0's slots: the register block through which the guest's ACPI methods (the
 * board's DSDT: one device per slot with _ADR, _SUN and _EJ0, and a method the hotplug interrupt runs)
 * and vmm tell each other about slots. Linux's acpiphp driver, built into stock kernels, does the rest:
 * it scans a slot it is told about and binds a driver, and on an eject request releases the function
 * and calls _EJ0.
 *
 * Registers, 32 bits each, one bit per slot, little-endian:
 *   PCI_HOTPLUG_REG_INSERTED  (read)  slots vmm put a function in since the guest last read; reading clears
 *   PCI_HOTPLUG_REG_EJECT_REQ (read)  slots vmm asks the guest to release; reading clears
 *   PCI_HOTPLUG_REG_EJECT     (write) slots the guest has released (_EJ0); vmm then removes the function
 *
 * vmm raises the interrupt after setting a bit; the guest's method reads both registers once and
 * notifies each slot (device check, or eject request). The guest's write to EJECT arrives on a vCPU
 * thread: it only records the slots and wakes the main thread through the block's eventfd, which takes
 * them with pci_hotplug_take_ejected() and removes the devices (the device tree is the main thread's). */

#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "core/device.h"
#include "core/irq.h"

#define PCI_HOTPLUG_REG_INSERTED 0
#define PCI_HOTPLUG_REG_EJECT_REQ 4
#define PCI_HOTPLUG_REG_EJECT 8
#define PCI_HOTPLUG_REGS 12

typedef struct PciHotplug PciHotplug;

/* irq: the line the board's ACPI methods listen on (pulsed); it must outlive the block. */
int pci_hotplug_new(const Irq *irq, PciHotplug **ret);
PciHotplug *pci_hotplug_free(PciHotplug *h);
DEFINE_FREEP(PciHotplug, pci_hotplug_free);

/* The BusHandler for the register block (offset from its base). */
void pci_hotplug_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Tells the guest that slot now holds a function / asks it to release slot's function. */
void pci_hotplug_inserted(PciHotplug *h, unsigned slot);
void pci_hotplug_request_eject(PciHotplug *h, unsigned slot);
/* The slots the guest has released since the last call (each once); clears them. */
uint32_t pci_hotplug_take_ejected(PciHotplug *h);
/* Readable (EPOLLIN) when the guest has released a slot; the main loop watches it and then calls
 * pci_hotplug_take_ejected() (which also drains it). */
int pci_hotplug_event_fd(PciHotplug *h);

/* The block as a Device (core/device.h) whose impl is the PciHotplug: it owns it. Its record carries the
 * three registers, so that a notification the guest had not yet read survives a save. */
#define PCI_HOTPLUG_STATE_VERSION 1
#define PCI_HOTPLUG_STATE_TAG STATE_TAG('P', 'C', 'H', 'P')
typedef struct PciHotplugState {
        uint32_t version; /* PCI_HOTPLUG_STATE_VERSION */
        uint32_t inserted;
        uint32_t eject_req;
        uint32_t ejected;
} PciHotplugState;
_Static_assert(sizeof(PciHotplugState) == 16, "PciHotplugState is a fixed layout");
/* -EINVAL for a record this block could not have written (a version it does not know, bits for the
 * host bridge's slot 0). Pure. */
int pci_hotplug_restore_check(const PciHotplugState *st);
extern const DeviceOps pci_hotplug_device_ops;
