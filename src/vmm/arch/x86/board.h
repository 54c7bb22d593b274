/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The x86 machine around a Vm: loads the kernel, writes the ACPI tables, creates and wires the
 * platform devices (COM1, pvpanic, i8042 reset, ACPI sleep/reset registers, the boot timer) and the
 * PCI bus with the virtio devices of the config ([Disk]s, [Network]s, an entropy source), and puts each
 * vCPU in its boot state. */

#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "vm-config.h"
#include "core/vm.h"

typedef struct Machine Machine;

/* disk_fds: config->n_disks fds systemd opened for the [Disk]s (-EBADF where none: the path is opened
 * here), or NULL. The machine takes them (entries become -EBADF). */
int machine_new(Vm *vm, const VmConfig *config, int *disk_fds, Machine **ret);
Machine *machine_free(Machine *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Machine *, machine_free);

/* The i-th virtio device on the PCI bus (for Inspect), NULL past the last; *ret_slot its PCI slot. */
typedef struct VirtioDevice VirtioDevice;
VirtioDevice *machine_virtio_device(Machine *m, size_t i, unsigned *ret_slot);

/* Presses the ACPI power button (a pulse on the Generic Event Device's interrupt). */
void machine_press_power_button(Machine *m);
/* Host -> guest console bytes. Returns how many the UART took; when fewer than n, rx_ready is
 * called (on a vCPU thread) once the guest has made room. */
size_t machine_console_input(Machine *m, const uint8_t *buf, size_t n);
void machine_set_console_rx_ready(Machine *m, void (*rx_ready)(void *opaque), void *opaque);
/* Guest -> host console bytes go to output (called on vCPU threads, must not block for long); without
 * one they are written to stdout. Set before the vCPUs run. */
void machine_set_console_output(Machine *m, void (*output)(void *opaque, const uint8_t *buf, size_t n),
                                void *opaque);
