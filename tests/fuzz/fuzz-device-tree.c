/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A hostile saved state against device_tree_restore(), over a tree of the real devices a VM has: the
 * UART, pvpanic, i8042, the PCI host and virtio-blk, -net and -rng functions on it. An input is either
 * a raw state stream (first byte even) or a list of edits to a valid stream saved from the same tree
 * (first byte odd; then 4 bytes each: offset low, offset high, XOR mask, a byte to add), which reaches
 * every field of every record past the framing. Whatever comes in, restore returns an error or a state
 * the tree can save and restore again, and the valid stream always restores afterwards. */

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/disk.h"
#include "core/device.h"
#include "core/memory.h"
#include "core/state.h"
#include "device/i8042.h"
#include "device/pci/pci.h"
#include "device/pvpanic.h"
#include "device/serial.h"
#include "device/virtio/blk.h"
#include "device/virtio/net.h"
#include "device/virtio/rng.h"
#include "device/virtio/virtio-pci.h"
#include "fuzz.h"
#include "log.h"

#define RAM (16ULL << 20)

static GuestMemory *mem;
static Device *root;
static StateWriter valid;

static void check(bool ok) {
        if (!ok)
                abort(); /* our bug: make the fuzzer see it */
}

static void add_virtio(Device *pci0, PciBus *bus, VirtioDevice *dev) {
        VirtioPci *vp;
        char id[DEVICE_ID_MAX];

        (void) snprintf(id, sizeof id, "%s", dev->id);
        check(virtio_pci_new(bus, NULL, -EBADF, dev, &vp) >= 0);
        check(device_add(pci0, id, virtio_pci_device_ops(vp), vp, DEVICE_ADDRESS_PCI, virtio_pci_pci_device(vp)->slot,
                         NULL) >= 0);
}

static void setup(void) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        VirtioDevice *dev;
        Serial *s;
        Pvpanic *p;
        I8042 *k;
        PciBus *bus;
        Device *pci0;
        Disk *disk;
        int fd, sp[2];

        if (!getenv("SDVM_FUZZ_LOG"))
                log_set_max_level(-1);
        check(guest_memory_new(RAM, 0xc0000000ULL, 0x100000000ULL, &mem) >= 0);
        root = device_root_new();
        check(root);
        check(serial_new(NULL, NULL, NULL, &s) >= 0);
        check(device_add(root, "com1", &serial_device_ops, s, DEVICE_ADDRESS_PORT, 0x3f8, NULL) >= 0);
        check(pvpanic_new(NULL, NULL, &p) >= 0);
        check(device_add(root, "pvpanic", &pvpanic_device_ops, p, DEVICE_ADDRESS_PORT, 0x505, NULL) >= 0);
        check(i8042_new(NULL, NULL, &k) >= 0);
        check(device_add(root, "reset", &i8042_device_ops, k, DEVICE_ADDRESS_PORT, 0x64, NULL) >= 0);
        check(pci_bus_new(&(PciBusParams) { .mmio_base = 0xc0000000ULL, .mmio_size = 0x20000000ULL }, NULL, NULL,
                          &bus) >= 0);
        check(device_add(root, "pci0", &pci_bus_device_ops, bus, DEVICE_ADDRESS_PORT, 0xcf8, &pci0) >= 0);

        fd = memfd_create("fuzz-device-tree-disk", MFD_CLOEXEC);
        check(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
        check(disk_new(fd, &(DiskParams) { .label = "fuzz disk" }, &disk) >= 0);
        check(virtio_blk_new(mem, "disk0", disk, "fuzz", &dev) >= 0);
        add_virtio(pci0, bus, dev);
        check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == 0);
        check(virtio_net_new(mem, "net0", sp[0], mac, &dev) >= 0);
        add_virtio(pci0, bus, dev);
        check(virtio_rng_new(mem, "rng0", &dev) >= 0);
        add_virtio(pci0, bus, dev);

        check(device_tree_save(root, &valid) >= 0);
}

static void restore_valid(void) {
        StateReader r = state_reader(valid.data, valid.size);
        check(device_tree_restore(root, &r) >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ uint8_t *buf = NULL;
        StateWriter again = {};
        StateReader r;
        size_t n;

        if (!root)
                setup();
        if (size == 0)
                return 0;
        if (!(data[0] & 1)) {
                n = size - 1;
                buf = malloc(n ?: 1);
                check(buf);
                memcpy(buf, data + 1, n);
        } else {
                n = valid.size;
                buf = malloc(n);
                check(buf);
                memcpy(buf, valid.data, n);
                for (size_t i = 1; i + 4 <= size; i += 4) {
                        size_t off = ((size_t) data[i] | (size_t) data[i + 1] << 8 | (size_t) (data[i + 3] & 0x7f) << 16) % n;
                        buf[off] = (uint8_t) ((buf[off] ^ data[i + 2]) + (data[i + 3] >> 7));
                }
        }

        r = state_reader(buf, n);
        if (device_tree_restore(root, &r) >= 0) {
                /* What was taken must be a state the devices can be in: it saves, and restores again. */
                check(device_tree_save(root, &again) >= 0);
                r = state_reader(again.data, again.size);
                check(device_tree_restore(root, &r) >= 0);
                state_writer_done(&again);
        }
        restore_valid();
        return 0;
}
