/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* PCI bus 0 behind a host bridge: configuration space through ports 0xCF8/0xCFC (configuration
 * mechanism #1), and a 32-bit memory window in the PCI hole from which vmm assigns every BAR before
 * boot (there is no firmware; Linux keeps assignments that fit the host bridge's _CRS window).
 *
 * The window is split into PCI_SLOTS equal, naturally aligned shares (512 MiB: 16 MiB each), and a
 * device's BARs are placed in its slot's share. Freeing a slot frees its share whole, so adding and
 * removing devices cannot fragment the window.
 *
 * Configuration accesses and BAR dispatch take the bus lock, so a device's config_written, bar_moved
 * and BAR handlers never run concurrently with each other. Devices may be removed while vCPUs run
 * (pci_bus_remove_device()). */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "core/bus.h"
#include "core/device.h"

#define PCI_SLOTS 32
#define PCI_CONFIG_SIZE 256
#define PCI_BARS 6

/* Configuration header offsets and bits (PCI Local Bus 3.0, 6.2). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

typedef struct PciBus PciBus;
typedef struct PciDevice PciDevice;

/* An access to a BAR: offset within it, len 1/2/4/8, little-endian data (pre-filled 0xff on reads). */
typedef void (*PciBarHandler)(void *opaque, unsigned bar, uint64_t offset, uint8_t *data, uint32_t len,
                              bool is_write);

typedef struct PciDeviceOps {
        PciBarHandler bar_io;
        /* After the guest wrote [offset, offset+len) of config space (bus lock held); may be NULL. */
        void (*config_written)(void *opaque, uint32_t offset, uint32_t len);
        /* A memory BAR started or stopped decoding, or moved: addr is where it now decodes, 0 for
         * nowhere (bus lock held). For ioeventfds. May be NULL. */
        void (*bar_moved)(void *opaque, unsigned bar, uint64_t addr);
} PciDeviceOps;

struct PciDevice {
        PciBus *bus;
        uint8_t slot;
        const PciDeviceOps *ops;
        void *opaque;
        uint8_t config[PCI_CONFIG_SIZE];
        uint8_t wmask[PCI_CONFIG_SIZE]; /* the bits the guest may change */
        uint64_t bar_size[PCI_BARS];    /* 32-bit memory BARs; 0 = not implemented */
        uint64_t bar_decoding[PCI_BARS]; /* address the BAR decodes at now, 0 = off */
        uint64_t bar_next;               /* the next free byte of the slot's share of the window */
        uint8_t last_cap;                /* offset of the last capability in the list, 0 = none */
        uint8_t cap_end;                 /* where the next capability goes */
};

typedef struct PciBusParams {
        /* The BAR window, below 4 GiB; mmio_size / PCI_SLOTS must be a power of two >= 4 KiB that
         * mmio_base is a multiple of. */
        uint64_t mmio_base, mmio_size;
} PciBusParams;

/* Registers ports 0xCF8..0xCFF on pio and the BAR window on mmio (either may be NULL), and adds the host
 * bridge at 00.0. */
int pci_bus_new(const PciBusParams *p, Bus *pio, Bus *mmio, PciBus **ret);
/* Unregisters from pio and mmio (which must still exist) and frees what is left in the slots. The
 * devices' owners have removed theirs first (pci_bus_remove_device()). */
PciBus *pci_bus_free(PciBus *b);
DEFINE_FREEP(PciBus, pci_bus_free);

/* Adds a type-0 function with the given IDs and 24-bit class code in the lowest free slot (-ENOSPC if
 * none), or in slot (-EBUSY if taken, -EINVAL past the last). The device memory stays owned by the bus
 * until pci_bus_remove_device(). The function is visible to configuration accesses at once, so add
 * before vCPUs run. */
int pci_bus_add_device(PciBus *b, uint16_t vendor, uint16_t device, uint32_t class_code, const PciDeviceOps *ops,
                       void *opaque, PciDevice **ret);
int pci_bus_add_device_at(PciBus *b, unsigned slot, uint16_t vendor, uint16_t device, uint32_t class_code,
                          const PciDeviceOps *ops, void *opaque, PciDevice **ret);
/* Takes d off the bus, safe while vCPUs run: under the bus lock, every BAR that decodes stops
 * (ops->bar_moved(.., 0), so ioeventfds are unbound) and the slot is emptied, so no configuration or
 * BAR access reaches d or its ops once this returns. Frees d; its slot and BAR share are free for the
 * next device. Not from d's own ops (the bus lock is held there). NULL is fine. */
void pci_bus_remove_device(PciBus *b, PciDevice *d);
/* A 32-bit non-prefetchable memory BAR of size bytes (a power of two, >= 4 KiB), placed naturally
 * aligned in the slot's share of the window; -ENOSPC when the share is full. */
int pci_device_add_bar(PciDevice *d, unsigned bar, uint64_t size);
/* Appends a capability of len bytes (id and next pointer filled in) and returns its offset. */
int pci_device_add_cap(PciDevice *d, uint8_t id, uint8_t len);

/* Little-endian config helpers for device code. */
void pci_config_set(PciDevice *d, uint32_t offset, uint32_t value, unsigned len);
uint32_t pci_config_get(const PciDevice *d, uint32_t offset, unsigned len);

/* Configuration mechanism #1 (port offset 0..7 from 0xCF8) and the BAR window (offset from mmio_base):
 * the BusHandlers a board registers when it passes no buses to pci_bus_new(). */
void pci_bus_config_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void pci_bus_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Config space of bus 0 by (slot, function 0, register), as ECAM would do; for tests. */
void pci_bus_config_access(PciBus *b, unsigned slot, uint32_t offset, uint8_t *data, uint32_t len,
                           bool is_write);

/* The bus as a Device (core/device.h) whose impl is the PciBus: it owns the bus. */
#define PCI_BUS_STATE_VERSION 1
#define PCI_BUS_STATE_TAG STATE_TAG('P', 'C', 'I', 'B')
typedef struct PciBusState {
        uint32_t version;
        uint32_t config_address; /* the 0xCF8 latch: a guest may be between address and data */
        uint32_t reserved;       /* 0 */
} PciBusState;
_Static_assert(sizeof(PciBusState) == 12, "PciBusState is a fixed layout");
extern const DeviceOps pci_bus_device_ops;
#define PCI_FUNCTION_STATE_VERSION 1

/* A function's guest-visible state, fixed layout, host byte order (little-endian on every arch we build
 * for; config space itself is little-endian by definition). Not stored, because it is derived or fixed
 * at construction: the write mask, BAR sizes, where each BAR decodes (recomputed from COMMAND and the
 * BARs), the capability layout. The read-only bytes are stored all the same: they say what kind of
 * function the record belongs to, and restore compares them. */
typedef struct PciFunctionState {
        uint32_t version;  /* PCI_FUNCTION_STATE_VERSION */
        uint32_t reserved; /* 0 */
        uint8_t config[PCI_CONFIG_SIZE];
} PciFunctionState;
_Static_assert(sizeof(PciFunctionState) == 264, "PciFunctionState is a fixed on-disk layout");

/* Save and restore are called while the function is quiesced (vCPUs paused, the owner's I/O thread
 * paused); they take the bus lock as config accesses do. */
void pci_device_save(const PciDevice *d, PciFunctionState *ret);
/* -EINVAL if st is not a state of this function: a bad version or reserved field, or a read-only bit
 * (IDs, class, BAR types and sizes, the capability list) that differs from this function's. Pure. */
int pci_device_restore_check(const PciDevice *d, const PciFunctionState *st);
/* Checks as above (-EINVAL, d untouched), then takes the writable bits and recomputes where the BARs
 * decode, which calls bar_moved for each BAR that moved. config_written is not called: the state a
 * device derives from its config space (MSI-X enable and mask) comes back with its own record. */
int pci_device_restore(PciDevice *d, const PciFunctionState *st);
