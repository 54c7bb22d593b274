/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Disks and network interfaces added and removed while the guest runs (io.sdvm.VM.AddDisk, RemoveDisk,
 * AddNetwork, RemoveNetwork; vmctl add-disk and friends). A device is built as at start (assemble.c) on
 * an fd the caller opened (vmm opens nothing), put in the lowest free PCI slot and announced to the
 * guest through ACPI hotplug (board_pci_hotplug()). Removal asks the guest to let go (an eject request)
 * and completes once it has (its _EJ0 reaches vmm), or fails after a timeout with the device left as
 * it was; with force the device goes at once and the guest is told the slot is empty.
 *
 * The device tree stays the one list of devices: this module keeps per slot only what the tree does
 * not say (the identity a duplicate is checked against, whether it came at run time, a removal that
 * waits). Main thread only; every call is answered from the main loop. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "arch/board.h"
#include "cleanup.h"
#include "core/device.h"
#include "core/vm.h"
#include "vm-config.h"

typedef enum HotplugKind {
        HOTPLUG_DISK,
        HOTPLUG_NETWORK,
        _HOTPLUG_KIND_MAX,
} HotplugKind;

#define HOTPLUG_REASON_MAX 256
#define HOTPLUG_EJECT_TIMEOUT_USEC (60 * UINT64_C(1000000))

typedef struct HotplugResult {
        char name[DEVICE_ID_MAX]; /* "disk2", "net1" */
        char pci_address[16];     /* "0000:00:05.0" */
        uint8_t mac[6];           /* a network's */
        char reason[HOTPLUG_REASON_MAX]; /* on failure: for the caller, naming what is wrong */
} HotplugResult;

/* A device came or went ("device-added", "device-removed"), for the control socket's subscribers. */
typedef void (*HotplugEventFn)(void *userdata, const char *event, const char *name, const char *type);
/* A removal that waited for the guest ended: r is 0, or -ETIMEDOUT (the device stays). */
typedef void (*HotplugDoneFn)(void *cookie, int r, const char *reason);

typedef struct Hotplug Hotplug;

/* Watches the board's hotplug block on event. eject_timeout_usec: how long a removal waits for the
 * guest. */
int hotplug_new(sd_event *event, Vm *vm, Board *board, const VmConfig *config, uint64_t eject_timeout_usec,
                HotplugEventFn event_fn, void *userdata, Hotplug **ret);
/* Ends the removals that still wait (their done gets -ECANCELED). */
Hotplug *hotplug_free(Hotplug *h);
DEFINE_FREEP(Hotplug, hotplug_free);

/* Adds a virtio-blk disk on fd (taken): a regular file or block device, open for writing unless
 * read_only; locked as at start. serial: NULL for "sdvm-NAME-N". Negative errno with ret->reason:
 * -EEXIST (serial in use), -ENOSPC (no free slot), -EAGAIN (no spare I/O thread), -EBADF/-EBADFD/
 * -EINVAL/-EBUSY (the fd: see disk_new()). */
int hotplug_add_disk(Hotplug *h, int fd, bool read_only, const char *serial, HotplugResult *ret);
/* Adds a virtio-net interface on a tap's fd (taken: IFF_TAP, IFF_NO_PI, IFF_VNET_HDR). mac: NULL for the
 * default of the VM's name and the new index. -EEXIST (MAC in use), -EBADFD (not such a tap), and as
 * above. */
int hotplug_add_network(Hotplug *h, int fd, const uint8_t *mac, HotplugResult *ret);
/* Removes the device called name, of kind. 0: gone now (force); 1: waiting for the guest, done(cookie)
 * follows; negative errno with reason: -ENOENT (no such device of that kind), -EBUSY (its removal
 * already waits), -EPERM (the disk the kernel command line boots from, without force). */
int hotplug_remove(Hotplug *h, HotplugKind kind, const char *name, bool force, HotplugDoneFn done, void *cookie,
                   char reason[static HOTPLUG_REASON_MAX]);
/* Whether the devices differ from the config's (added or removed at run time): a saved state would not
 * match the devices the next start builds. */
bool hotplug_devices_changed(Hotplug *h);

const char *hotplug_kind_to_string(HotplugKind k);
