/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The virtio 1.x PCI transport (virtio spec 1.2, 4.1), modern only: one memory BAR holds the common,
 * ISR, device-specific and notify structures and the MSI-X table. Queue notifications are KVM
 * ioeventfds on the notify registers; interrupts are MSI-X vectors (irqfds). There is no INTx: the
 * Linux driver uses MSI-X whenever the device offers it. */

#include "cleanup.h"
#include "core/device.h"
#include "device/pci/pci.h"
#include "core/irq-routing.h"
#include "device/virtio/virtio.h"

typedef struct VirtioPci VirtioPci;

/* Puts dev on bus in the lowest free slot; the transport owns dev from the call on, also on failure.
 * vm_fd is for ioeventfds (-EBADF in tests: kicks then go through the MMIO path only). */
int virtio_pci_new(PciBus *bus, IrqRouting *routing, int vm_fd, VirtioDevice *dev, VirtioPci **ret);
/* Safe while vCPUs run, in this order:
 *   1. the PCI function leaves the bus (pci_bus_remove_device()): no BAR or config access reaches the
 *      transport any more, and the notify ioeventfds are unbound;
 *   2. the virtio device is stopped and freed (its I/O thread joined, the model's fds closed);
 *   3. MSI-X is released (the vectors' irqfds and GSIs), which the I/O thread used until step 2.
 * Its slot and BAR share are free for the next device from step 1 on. Not from a device callback, nor
 * with the bus lock or the device's lock held. */
VirtioPci *virtio_pci_free(VirtioPci *vp);
DEFINE_FREEP(VirtioPci, virtio_pci_free);

VirtioDevice *virtio_pci_device(VirtioPci *vp);
/* The Device (core/device.h) ops for vp, by its model; the Device then owns vp. */
const DeviceOps *virtio_pci_device_ops(VirtioPci *vp);
PciDevice *virtio_pci_pci_device(VirtioPci *vp);

/* BAR layout, for tests. */
#define VIRTIO_PCI_BAR 0
#define VIRTIO_PCI_BAR_SIZE 0x8000
#define VIRTIO_PCI_COMMON_OFFSET 0x0000
#define VIRTIO_PCI_COMMON_SIZE 0x38
#define VIRTIO_PCI_ISR_OFFSET 0x1000
#define VIRTIO_PCI_DEVICE_OFFSET 0x2000
#define VIRTIO_PCI_NOTIFY_OFFSET 0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_MSIX_TABLE_OFFSET 0x4000
#define VIRTIO_PCI_MSIX_PBA_OFFSET 0x5000
