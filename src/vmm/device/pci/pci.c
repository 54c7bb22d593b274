/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "device/pci/pci.h"
#include "log.h"

#define PCI_PORT_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_ENABLE 0x80000000U
/* The host bridge's IDs: Red Hat's generic host bridge, which Linux treats as a plain host bridge. */
#define PCI_HOST_BRIDGE_VENDOR 0x1b36
#define PCI_HOST_BRIDGE_DEVICE 0x0008
#define PCI_CLASS_BRIDGE_HOST 0x060000

struct PciBus {
        pthread_mutex_t lock;
        uint32_t config_address; /* the 0xCF8 latch */
        uint64_t mmio_base, mmio_size;
        /* mmio_size / PCI_SLOTS, a power of two that mmio_base is a multiple of: slot s places its BARs
         * in [mmio_base + s * share, + share), so freeing a slot frees its BAR space, whole. */
        uint64_t share;
        PciDevice *slots[PCI_SLOTS]; /* under lock */
        Bus *pio, *mmio;             /* where pci_bus_new() registered, for pci_bus_free() */
};

/* How many of len bytes from offset lie inside config space (offset < PCI_CONFIG_SIZE). */
static unsigned config_len(uint32_t offset, unsigned len) {
        return len < PCI_CONFIG_SIZE - offset ? len : PCI_CONFIG_SIZE - offset;
}

void pci_config_set(PciDevice *d, uint32_t offset, uint32_t value, unsigned len) {
        if (offset < PCI_CONFIG_SIZE)
                le_write(d->config + offset, config_len(offset, len), value);
}

uint32_t pci_config_get(const PciDevice *d, uint32_t offset, unsigned len) {
        return offset < PCI_CONFIG_SIZE ? (uint32_t) le_read(d->config + offset, config_len(offset, len)) : 0;
}

static void pci_wmask_set(PciDevice *d, uint32_t offset, uint32_t mask, unsigned len) {
        le_write(d->wmask + offset, config_len(offset, len), mask);
}

/* Where each BAR decodes now, from COMMAND and the BAR registers; tells the device about changes. */
static void pci_update_bars(PciDevice *d) {
        bool mem = pci_config_get(d, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY;

        for (unsigned i = 0; i < PCI_BARS; i++) {
                uint64_t addr = 0, size = d->bar_size[i];
                if (size == 0)
                        continue;
                if (mem) {
                        addr = pci_config_get(d, PCI_BAR0 + 4 * i, 4) & ~UINT32_C(0xf);
                        /* Sizing writes all-ones: an address that wraps or leaves the window decodes
                         * nowhere rather than over RAM or another device. */
                        if (addr < d->bus->mmio_base || addr + size > d->bus->mmio_base + d->bus->mmio_size)
                                addr = 0;
                }
                if (addr == d->bar_decoding[i])
                        continue;
                d->bar_decoding[i] = addr;
                if (d->ops && d->ops->bar_moved)
                        d->ops->bar_moved(d->opaque, i, addr);
        }
}

static void pci_device_config_write(PciDevice *d, uint32_t offset, const uint8_t *data, uint32_t len) {
        for (uint32_t i = 0; i < len; i++) {
                uint8_t m = d->wmask[offset + i];
                d->config[offset + i] = (uint8_t) ((d->config[offset + i] & ~m) | (data[i] & m));
        }
        if (offset < PCI_BAR0 + 4 * PCI_BARS && offset + len > PCI_COMMAND)
                pci_update_bars(d);
        if (d->ops && d->ops->config_written)
                d->ops->config_written(d->opaque, offset, len);
}

void pci_bus_config_access(PciBus *b, unsigned slot, uint32_t offset, uint8_t *data, uint32_t len,
                           bool is_write) {
        PciDevice *d = slot < PCI_SLOTS ? b->slots[slot] : NULL;

        if (!is_write)
                memset(data, 0xff, len);
        /* Accesses stay within one naturally aligned dword, as the mechanism delivers them. */
        if (!d || len == 0 || len > 4 || offset >= PCI_CONFIG_SIZE || (offset & 3) + len > 4)
                return;
        if (is_write)
                pci_device_config_write(d, offset, data, len);
        else
                memcpy(data, d->config + offset, len);
}

void pci_bus_config_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        PciBus *b = opaque;
        uint32_t a;

        pthread_mutex_lock(&b->lock);
        if (offset < 4) {
                /* Only whole-dword accesses reach the address latch (byte writes to 0xCFB are
                 * configuration mechanism #2's, which we do not have). */
                if (offset == 0 && len == 4) {
                        if (is_write)
                                b->config_address = (uint32_t) le_read(data, 4);
                        else
                                le_write(data, 4, b->config_address);
                }
                pthread_mutex_unlock(&b->lock);
                return;
        }
        a = b->config_address;
        /* Bus 0 function 0 only; anything else reads as absent. */
        if (!(a & PCI_CONFIG_ENABLE) || ((a >> 16) & 0xff) != 0 || ((a >> 8) & 0x7) != 0) {
                if (!is_write)
                        memset(data, 0xff, len);
        } else
                pci_bus_config_access(b, (a >> 11) & 0x1f, (a & 0xfc) + (uint32_t) (offset - 4), data, len,
                                      is_write);
        pthread_mutex_unlock(&b->lock);
}

void pci_device_save(const PciDevice *d, PciFunctionState *ret) {
        PciFunctionState st = { .version = PCI_FUNCTION_STATE_VERSION };

        pthread_mutex_lock(&d->bus->lock);
        memcpy(st.config, d->config, sizeof st.config);
        pthread_mutex_unlock(&d->bus->lock);
        *ret = st;
}

/* With the bus lock held. */
static int pci_state_check_locked(const PciDevice *d, const PciFunctionState *st) {
        if (st->version != PCI_FUNCTION_STATE_VERSION || st->reserved != 0)
                return -EINVAL;
        for (unsigned i = 0; i < PCI_CONFIG_SIZE; i++)
                if ((st->config[i] ^ d->config[i]) & ~d->wmask[i])
                        return -EINVAL;
        return 0;
}

int pci_device_restore_check(const PciDevice *d, const PciFunctionState *st) {
        int r;

        pthread_mutex_lock(&d->bus->lock);
        r = pci_state_check_locked(d, st);
        pthread_mutex_unlock(&d->bus->lock);
        return r;
}

int pci_device_restore(PciDevice *d, const PciFunctionState *st) {
        int r;

        pthread_mutex_lock(&d->bus->lock);
        r = pci_state_check_locked(d, st);
        if (r >= 0) {
                for (unsigned i = 0; i < PCI_CONFIG_SIZE; i++)
                        d->config[i] =
                                (uint8_t) ((d->config[i] & ~d->wmask[i]) | (st->config[i] & d->wmask[i]));
                pci_update_bars(d);
        }
        pthread_mutex_unlock(&d->bus->lock);
        return r;
}

void pci_bus_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        PciBus *b = opaque;
        uint64_t addr = b->mmio_base + offset;

        pthread_mutex_lock(&b->lock);
        /* Every slot: the guest may have moved a BAR out of its slot's share. */
        for (unsigned s = 0; s < PCI_SLOTS; s++) {
                PciDevice *d = b->slots[s];
                if (!d)
                        continue;
                for (unsigned i = 0; i < PCI_BARS; i++) {
                        uint64_t base = d->bar_decoding[i];
                        if (base == 0 || addr < base || addr + len > base + d->bar_size[i])
                                continue;
                        if (d->ops && d->ops->bar_io)
                                d->ops->bar_io(d->opaque, i, addr - base, data, len, is_write);
                        pthread_mutex_unlock(&b->lock);
                        return;
                }
        }
        pthread_mutex_unlock(&b->lock);
}

PciBus *pci_bus_free(PciBus *b) {
        if (!b)
                return NULL;
        /* No vCPU reaches b once these return. */
        if (b->pio)
                (void) bus_unregister(b->pio, PCI_PORT_CONFIG_ADDRESS);
        if (b->mmio)
                (void) bus_unregister(b->mmio, b->mmio_base);
        for (unsigned i = 0; i < PCI_SLOTS; i++)
                free(b->slots[i]);
        pthread_mutex_destroy(&b->lock);
        free(b);
        return NULL;
}

/* slot < 0: the lowest free one. */
static int add_device(PciBus *b, int slot, uint16_t vendor, uint16_t device, uint32_t class_code,
                      const PciDeviceOps *ops, void *opaque, PciDevice **ret) {
        PciDevice *d;

        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->bus = b;
        d->ops = ops;
        d->opaque = opaque;
        d->cap_end = 0x40;
        pci_config_set(d, PCI_VENDOR_ID, vendor, 2);
        pci_config_set(d, PCI_DEVICE_ID, device, 2);
        pci_config_set(d, PCI_REVISION_ID, class_code << 8, 4); /* revision 0, then the class code */
        pci_wmask_set(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE, 2);
        pci_wmask_set(d, PCI_INTERRUPT_LINE, 0xff, 1); /* scratch for the OS; we have no INTx */

        pthread_mutex_lock(&b->lock);
        if (slot < 0)
                for (slot = 0; slot < PCI_SLOTS && b->slots[slot]; slot++)
                        ;
        if (slot >= PCI_SLOTS || b->slots[slot]) {
                pthread_mutex_unlock(&b->lock);
                free(d);
                return slot >= PCI_SLOTS ? -ENOSPC : -EBUSY;
        }
        d->slot = (uint8_t) slot;
        b->slots[slot] = d;
        pthread_mutex_unlock(&b->lock);
        if (ret)
                *ret = d;
        return 0;
}

int pci_bus_add_device(PciBus *b, uint16_t vendor, uint16_t device, uint32_t class_code, const PciDeviceOps *ops,
                       void *opaque, PciDevice **ret) {
        return add_device(b, -1, vendor, device, class_code, ops, opaque, ret);
}

int pci_bus_add_device_at(PciBus *b, unsigned slot, uint16_t vendor, uint16_t device, uint32_t class_code,
                          const PciDeviceOps *ops, void *opaque, PciDevice **ret) {
        if (slot >= PCI_SLOTS)
                return -EINVAL;
        return add_device(b, (int) slot, vendor, device, class_code, ops, opaque, ret);
}

void pci_bus_remove_device(PciBus *b, PciDevice *d) {
        if (!d)
                return;
        assert(d->bus == b);
        /* Under the lock, so no configuration access or BAR dispatch is running in the device, and none
         * finds it afterwards. */
        pthread_mutex_lock(&b->lock);
        assert(b->slots[d->slot] == d);
        for (unsigned i = 0; i < PCI_BARS; i++) {
                if (d->bar_decoding[i] == 0)
                        continue;
                d->bar_decoding[i] = 0;
                if (d->ops && d->ops->bar_moved)
                        d->ops->bar_moved(d->opaque, i, 0);
        }
        b->slots[d->slot] = NULL;
        pthread_mutex_unlock(&b->lock);
        free(d);
}

int pci_device_add_bar(PciDevice *d, unsigned bar, uint64_t size) {
        PciBus *b = d->bus;
        uint64_t off;

        if (bar >= PCI_BARS || size < 4096 || (size & (size - 1)) || d->bar_size[bar])
                return -EINVAL;
        /* Naturally aligned inside the slot's share, which is aligned to its own size. */
        off = (d->bar_next + size - 1) & ~(size - 1);
        if (size > b->share || off > b->share - size)
                return -ENOSPC;
        d->bar_next = off + size;
        d->bar_size[bar] = size;
        /* 32-bit, non-prefetchable memory */
        pci_config_set(d, PCI_BAR0 + 4 * bar, (uint32_t) (b->mmio_base + d->slot * b->share + off), 4);
        pci_wmask_set(d, PCI_BAR0 + 4 * bar, (uint32_t) ~(size - 1), 4);
        return 0;
}

int pci_device_add_cap(PciDevice *d, uint8_t id, uint8_t len) {
        uint8_t off = d->cap_end;

        if (len < 2 || off + len > PCI_CONFIG_SIZE)
                return -ENOSPC;
        d->config[off] = id;
        d->config[off + 1] = 0;
        if (d->last_cap)
                d->config[d->last_cap + 1] = off;
        else {
                d->config[PCI_CAPABILITY_LIST] = off;
                pci_config_set(d, PCI_STATUS, pci_config_get(d, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST, 2);
        }
        d->last_cap = off;
        d->cap_end = (uint8_t) ((off + len + 3) & ~3);
        return off;
}

int pci_bus_new(const PciBusParams *p, Bus *pio, Bus *mmio, PciBus **ret) {
        _cleanup_(pci_bus_freep) PciBus *b = NULL;
        uint64_t share;
        int r;

        share = p->mmio_size / PCI_SLOTS;
        if (p->mmio_size % PCI_SLOTS != 0 || share < 4096 || (share & (share - 1)) ||
            p->mmio_base % share != 0 || p->mmio_base + p->mmio_size > UINT64_C(1) << 32)
                return log_error_errno(EINVAL,
                                       "PCI window 0x%llx+0x%llx does not split into %d aligned slot shares "
                                       "below 4 GiB",
                                       (unsigned long long) p->mmio_base, (unsigned long long) p->mmio_size,
                                       PCI_SLOTS);
        b = calloc(1, sizeof *b);
        if (!b)
                return log_oom();
        pthread_mutex_init(&b->lock, NULL);
        b->mmio_base = p->mmio_base;
        b->mmio_size = p->mmio_size;
        b->share = share;

        r = pci_bus_add_device_at(b, 0, PCI_HOST_BRIDGE_VENDOR, PCI_HOST_BRIDGE_DEVICE,
                                  PCI_CLASS_BRIDGE_HOST, NULL, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to add the PCI host bridge: %m");
        if (pio) {
                r = bus_register(pio, PCI_PORT_CONFIG_ADDRESS, 8, pci_bus_config_io, b, "pci-config");
                if (r < 0)
                        return log_error_errno(r, "Failed to register PCI configuration ports: %m");
                b->pio = pio;
        }
        if (mmio) {
                r = bus_register(mmio, p->mmio_base, p->mmio_size, pci_bus_mmio_io, b, "pci-bars");
                if (r < 0)
                        return log_error_errno(r, "Failed to register the PCI memory window: %m");
                b->mmio = mmio;
        }
        *ret = TAKE_PTR(b);
        return 0;
}

/* The device model's view of the bus (core/device.h): the host bridge and the 0xCF8 latch. The
 * functions on the bus are devices of their own, children of this one. */
static int pci_bus_device_save(Device *d, StateWriter *w) {
        PciBus *b = d->impl;
        PciBusState st = { .version = PCI_BUS_STATE_VERSION };

        pthread_mutex_lock(&b->lock);
        st.config_address = b->config_address;
        pthread_mutex_unlock(&b->lock);
        return state_write(w, PCI_BUS_STATE_TAG, &st, sizeof st);
}

static int pci_bus_device_restore(Device *d, StateReader *r) {
        PciBus *b = d->impl;
        PciBusState st;
        int k;

        k = state_read(r, PCI_BUS_STATE_TAG, &st, sizeof st);
        if (k < 0)
                return k;
        if (st.version != PCI_BUS_STATE_VERSION || st.reserved != 0)
                return -EINVAL;
        pthread_mutex_lock(&b->lock);
        b->config_address = st.config_address;
        pthread_mutex_unlock(&b->lock);
        return 0;
}

static int pci_bus_device_describe(Device *d, sd_json_variant **ret) {
        PciBus *b = d->impl;
        uint64_t n = 0;

        pthread_mutex_lock(&b->lock);
        for (unsigned s = 0; s < PCI_SLOTS; s++)
                n += b->slots[s] != NULL;
        pthread_mutex_unlock(&b->lock);
        return sd_json_buildo(ret,
                              SD_JSON_BUILD_PAIR_UNSIGNED("slots", PCI_SLOTS),
                              SD_JSON_BUILD_PAIR_UNSIGNED("slotsUsed", n),
                              SD_JSON_BUILD_PAIR_UNSIGNED("windowBase", b->mmio_base),
                              SD_JSON_BUILD_PAIR_UNSIGNED("windowSize", b->mmio_size));
}

static void pci_bus_device_remove(Device *d) {
        /* The config ports and the window are the tree's ranges; its functions went before it. */
}

static void pci_bus_device_free(void *impl) {
        pci_bus_free(impl);
}

const DeviceOps pci_bus_device_ops = {
        .type = "pci-host",
        .pause = device_pause_nothing,
        .resume = device_resume_nothing,
        .save = pci_bus_device_save,
        .restore = pci_bus_device_restore,
        .describe = pci_bus_device_describe,
        .remove = pci_bus_device_remove,
        .free = pci_bus_device_free,
};
