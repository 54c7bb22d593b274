/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The device model. Every device of a VM (the UART, the PCI host bridge, each virtio function) is a
 * Device in one tree owned by the Vm: the root, then buses, then what sits on them. Pause, resume,
 * save, restore, Inspect, Describe and removal walk the tree; nothing else keeps a list of devices.
 *
 * Every device implements every op. A device with no thread of its own (vCPU exits are all that drive
 * it) pauses with device_pause_nothing(); one without state writes a record all the same, so that a
 * restore checks it is the same kind of device.
 *
 * Threads: the tree changes (add, remove) and is walked only on the main thread. vCPU threads reach
 * devices through the Vm's buses, never through the tree. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-json.h>

#include "cleanup.h"
#include "core/bus.h"
#include "core/state.h"

typedef struct Device Device;

typedef enum DeviceAddressKind {
        DEVICE_ADDRESS_NONE,
        DEVICE_ADDRESS_PORT, /* an I/O port range's base */
        DEVICE_ADDRESS_MMIO, /* a guest-physical range's base */
        DEVICE_ADDRESS_PCI,  /* bus 0 slot; function 0 */
        _DEVICE_ADDRESS_KIND_MAX,
        _DEVICE_ADDRESS_KIND_INVALID = -22,
} DeviceAddressKind;

typedef struct DeviceOps {
        const char *type; /* "serial-8250", "virtio-blk", ...: Describe and Inspect */
        /* Stop touching guest memory and guest-visible state once what is in flight completes, and
         * start again. Called with the vCPUs paused, children before their bus on pause. */
        int (*pause)(Device *d);
        void (*resume)(Device *d);
        /* Append the device's records to w / take them from r, device paused. restore() refuses (-EINVAL
         * or -EBADMSG) a record this device could not have written and then leaves it as it was. */
        int (*save)(Device *d, StateWriter *w);
        int (*restore)(Device *d, StateReader *r);
        /* Inspect's object for the device; the tree adds "type" and the address. */
        int (*describe)(Device *d, sd_json_variant **ret);
        /* Take the device out of the guest's reach beyond its bus ranges (which the tree unregisters
         * first), e.g. its PCI slot: once this returns no vCPU or device thread enters it again. Then
         * free() releases it. */
        void (*remove)(Device *d);
        void (*free)(void *impl);
} DeviceOps;

#define DEVICE_RANGES_MAX 4

typedef struct DeviceRange {
        Bus *bus;
        uint64_t base;
} DeviceRange;

struct Device {
        char *id; /* unique in the VM: "com1", "pci0", "disk0" */
        const DeviceOps *ops;
        void *impl;
        DeviceAddressKind address_kind;
        uint64_t address;
        bool paused;
        DeviceRange ranges[DEVICE_RANGES_MAX]; /* what the tree unregisters when the device goes */
        unsigned n_ranges;
        Device *parent, *children, *next; /* children in the order they were added */
};

/* The tree's root: not a device of its own, only where the buses hang. */
Device *device_root_new(void);

/* Adds a device under parent. Takes impl from the call on: on failure ops->free(impl) has run. */
int device_add(Device *parent, const char *id, const DeviceOps *ops, void *impl, DeviceAddressKind kind,
               uint64_t address, Device **ret);
/* Removes d and everything under it (children first: ops->remove, then ops->free). NULL is fine.
 * Freeing the root frees the whole tree. */
Device *device_free(Device *d);
DEFINE_FREEP(Device, device_free);

/* Registers a bus range for the device (bus_register()), to be unregistered when it is removed. */
int device_add_range(Device *d, Bus *bus, uint64_t base, uint64_t len, BusHandler handler, void *opaque,
                     const char *name);

Device *device_find(Device *root, const char *id);
/* Pre-order: the root's first device, then each one after d; NULL at the end. */
Device *device_next(Device *root, Device *d);
#define DEVICE_FOREACH(d, root) for (Device *d = device_next(root, NULL); d; d = device_next(root, d))

/* Pauses every device (children first); on failure resumes those it had paused. */
int device_tree_pause(Device *root);
void device_tree_resume(Device *root);

/* Each device in pre-order: a DEVICE_TAG record (its id and type), then its own records. */
int device_tree_save(Device *root, StateWriter *w);
/* Reads what device_tree_save() wrote into a tree of the same devices: -EBADMSG for a device that is
 * not there or of another type, or one the stream lacks. */
int device_tree_restore(Device *root, StateReader *r);

/* Inspect's devices/: {id: {type, address..., what describe() says}}. */
int device_tree_describe(Device *root, sd_json_variant **ret);
/* Describe's devices: [{name, type, port|mmio|pci}]. */
int device_tree_list(Device *root, sd_json_variant **ret);

const char *device_address_kind_to_string(DeviceAddressKind k);
/* "0000:00:03.0" for a PCI address. */
char *device_pci_address(uint64_t slot, char buf[static 16]);

/* For devices with no thread of their own. */
int device_pause_nothing(Device *d);
void device_resume_nothing(Device *d);

#define DEVICE_TAG STATE_TAG('D', 'E', 'V', 'I')
#define DEVICE_ID_MAX 32
