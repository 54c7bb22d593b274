/* SPDX-License-Identifier: LGPL-2.1-or-later */
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
        uint64_t mmio_base, mmio_size, mmio_next;
        PciDevice *slots[PCI_SLOTS];
        unsigned n_slots;
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

static void pci_bus_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        PciBus *b = opaque;
        uint64_t addr = b->mmio_base + offset;

        pthread_mutex_lock(&b->lock);
        for (unsigned s = 0; s < b->n_slots; s++) {
                PciDevice *d = b->slots[s];
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
        for (unsigned i = 0; i < b->n_slots; i++)
                free(b->slots[i]);
        pthread_mutex_destroy(&b->lock);
        free(b);
        return NULL;
}

int pci_bus_add_device(PciBus *b, uint16_t vendor, uint16_t device, uint32_t class_code, const PciDeviceOps *ops,
                       void *opaque, PciDevice **ret) {
        PciDevice *d;

        if (b->n_slots >= PCI_SLOTS)
                return -ENOSPC;
        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->bus = b;
        d->slot = (uint8_t) b->n_slots;
        d->ops = ops;
        d->opaque = opaque;
        d->cap_end = 0x40;
        pci_config_set(d, PCI_VENDOR_ID, vendor, 2);
        pci_config_set(d, PCI_DEVICE_ID, device, 2);
        pci_config_set(d, PCI_REVISION_ID, class_code << 8, 4); /* revision 0, then the class code */
        pci_wmask_set(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE, 2);
        pci_wmask_set(d, PCI_INTERRUPT_LINE, 0xff, 1); /* scratch for the OS; we have no INTx */
        b->slots[b->n_slots++] = d;
        if (ret)
                *ret = d;
        return 0;
}

int pci_device_add_bar(PciDevice *d, unsigned bar, uint64_t size) {
        PciBus *b = d->bus;
        uint64_t addr;

        if (bar >= PCI_BARS || size < 4096 || (size & (size - 1)) || d->bar_size[bar])
                return -EINVAL;
        addr = (b->mmio_next + size - 1) & ~(size - 1);
        if (addr + size > b->mmio_base + b->mmio_size)
                return -ENOSPC;
        b->mmio_next = addr + size;
        d->bar_size[bar] = size;
        pci_config_set(d, PCI_BAR0 + 4 * bar, (uint32_t) addr, 4); /* 32-bit, non-prefetchable memory */
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
        int r;

        b = calloc(1, sizeof *b);
        if (!b)
                return log_oom();
        pthread_mutex_init(&b->lock, NULL);
        b->mmio_base = b->mmio_next = p->mmio_base;
        b->mmio_size = p->mmio_size;

        r = pci_bus_add_device(b, PCI_HOST_BRIDGE_VENDOR, PCI_HOST_BRIDGE_DEVICE, PCI_CLASS_BRIDGE_HOST, NULL,
                               NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to add the PCI host bridge: %m");
        if (pio) {
                r = bus_register(pio, PCI_PORT_CONFIG_ADDRESS, 8, pci_bus_config_io, b, "pci-config");
                if (r < 0)
                        return log_error_errno(r, "Failed to register PCI configuration ports: %m");
        }
        if (mmio) {
                r = bus_register(mmio, p->mmio_base, p->mmio_size, pci_bus_mmio, b, "pci-bars");
                if (r < 0)
                        return log_error_errno(r, "Failed to register the PCI memory window: %m");
        }
        *ret = TAKE_PTR(b);
        return 0;
}
