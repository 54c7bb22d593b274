/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The virtio 1.x PCI transport (virtio spec 1.2, 4.1), modern only: one memory BAR holds the common,
 * ISR, device-specific and notify structures and the MSI-X table. Queue notifications are KVM
 * ioeventfds on the notify registers; interrupts are MSI-X vectors (irqfds). There is no INTx: the
 * Linux driver uses MSI-X whenever the device offers it. */

#include "cleanup.h"
#include "core/device.h"
#include "device/pci/msix.h"
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

/* Saved state. Every record is a fixed layout in host byte order (little-endian on every arch we build
 * for). Save and restore are called while the device is quiesced: vCPUs paused and the device's I/O
 * thread paused. They take the locks the guest's accesses take, one at a time. */

#define VIRTIO_PCI_TRANSPORT_STATE_VERSION 1

/* The transport's own registers. Not stored: where the notify ioeventfds are bound, which follows the
 * BAR (PciFunctionState) through bar_moved. */
typedef struct VirtioPciTransportState {
        uint32_t version; /* VIRTIO_PCI_TRANSPORT_STATE_VERSION */
        uint32_t device_feature_select;
        uint32_t driver_feature_select;
        uint16_t queue_select;
        uint16_t config_vector;                  /* < the MSI-X vector count, or MSIX_NO_VECTOR */
        uint16_t queue_vector[VIRTIO_QUEUES_MAX]; /* likewise; MSIX_NO_VECTOR from n_queues on */
} VirtioPciTransportState;
_Static_assert(sizeof(VirtioPciTransportState) == 32, "VirtioPciTransportState is a fixed on-disk layout");

void virtio_pci_transport_save(VirtioPci *vp, VirtioPciTransportState *ret);
int virtio_pci_transport_restore_check(VirtioPci *vp, const VirtioPciTransportState *st);
/* -EINVAL (vp untouched) if the check fails. */
int virtio_pci_transport_restore(VirtioPci *vp, const VirtioPciTransportState *st);

#define VIRTIO_PCI_STATE_VERSION 1
#define VIRTIO_PCI_STATE_TAG STATE_TAG('V', 'P', 'C', 'I')

/* Everything guest-visible about one virtio-pci device, each part with its own version. */
typedef struct VirtioPciState {
        uint32_t version;    /* VIRTIO_PCI_STATE_VERSION */
        uint32_t model_size; /* bytes of model[] used: the model's VirtioDeviceOps.state_size */
        PciFunctionState pci;
        MsixState msix;
        VirtioPciTransportState transport;
        VirtioState virtio;
        uint8_t model[VIRTIO_MODEL_STATE_MAX]; /* the model's record, then 0 */
} VirtioPciState;
_Static_assert(sizeof(VirtioPciState) == 2008, "VirtioPciState is a fixed on-disk layout");

void virtio_pci_save(VirtioPci *vp, VirtioPciState *ret);
/* -EINVAL if any part is not a state of this device (see each part's check). Pure. */
int virtio_pci_restore_check(VirtioPci *vp, const VirtioPciState *st);
/* Checks every part first, and on -EINVAL leaves the whole device as it was; then restores the PCI
 * function (which rebinds the notify ioeventfds), MSI-X, the transport, the virtio core and the model,
 * in that order. */
int virtio_pci_restore(VirtioPci *vp, const VirtioPciState *st);

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
