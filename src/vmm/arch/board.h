/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What an architecture's board gives the generic parts of vmm (assemble.c, main.c): the VmArch for
 * vm_new(), then the platform around the Vm: its devices in the Vm's device tree (the console UART,
 * the reset and power-off paths, a PCI bus for the devices of the config), the firmware tables, the
 * kernel in guest memory and each vCPU's boot state. One implementation per architecture, chosen at
 * build time (arch/x86/board.c); generic code includes only this header. */

#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "core/vm.h"
#include "vm-config.h"

typedef struct Board Board;
typedef struct PciBus PciBus;
typedef struct PciHotplug PciHotplug;

const VmArch *board_vm_arch(void);

/* Adds the platform devices to vm->devices, loads config's kernel and initrd, writes the firmware
 * tables and puts every vCPU in its boot state. */
int board_new(Vm *vm, const VmConfig *config, Board **ret);
/* The devices stay in the Vm's tree: the Vm frees them. */
Board *board_free(Board *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Board *, board_free);

/* Where the devices of the config go: the PCI bus and its node in the device tree. */
PciBus *board_pci_bus(Board *b);
Device *board_pci_node(Board *b);
/* ACPI hotplug of that bus's slots (device/pci/hotplug.h): how a device added or removed while the guest
 * runs is announced to it. */
PciHotplug *board_pci_hotplug(Board *b);

/* Asks the guest to power off (the ACPI power button). */
void board_press_power_button(Board *b);

/* Host -> guest console bytes. Returns how many the UART took; when fewer than n, rx_ready is called
 * (on a vCPU thread) once the guest has made room. */
size_t board_console_input(Board *b, const uint8_t *buf, size_t n);
/* Guest -> host console bytes go to output (vCPU threads; must not block); without one they are
 * written to stdout. Set before the vCPUs run. */
void board_set_console(Board *b, void (*output)(void *opaque, const uint8_t *buf, size_t n),
                       void (*rx_ready)(void *opaque), void *opaque);
