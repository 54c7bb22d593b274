/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Saved device state: a PCI function, MSI-X, and virtio-pci with blk, net and rng behind it. Each round
 * trip drives device A the way a guest does, saves it, restores the record into a fresh device B built
 * with the same parameters (guest RAM copied over, as a snapshot brings it back), checks that B saves
 * the same bytes, and then has the guest go on with B. The hostile records must each be refused with
 * -EINVAL and leave the target device exactly as it was. No KVM and no I/O threads: kicks go through
 * the notify register's MMIO path and the test runs the device's dispatch loop itself. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "backend/disk.h"
#include "cleanup.h"
#include "core/bus.h"
#include "core/memory.h"
#include "device/pci/msix.h"
#include "device/pci/pci.h"
#include "device/virtio/blk.h"
#include "device/virtio/net.h"
#include "device/virtio/rng.h"
#include "device/virtio/virtio-pci.h"
#include "log.h"

#define MMIO_BASE 0xc0000000ULL
#define MMIO_SIZE 0x20000000ULL
#define RAM (16ULL << 20)
#define DESC 0x100000ULL
#define AVAIL 0x101000ULL
#define USED 0x102000ULL
#define QSTRIDE 0x10000ULL /* between the rings of queue q and q + 1 */
#define BUFS 0x200000ULL
#define QSIZE 16
#define MSI_ADDR 0xfee00000U

#define F_NEXT 1
#define F_WRITE 2

#define STATUS_ACK_DRIVER_FOK (1 | 2 | 8)
#define STATUS_LIVE (1 | 2 | 8 | 4)
#define STATUS_NEEDS_RESET 64

/* ---- a PCI function and MSI-X on their own ---- */

typedef struct Func {
        Bus pio, mmio;
        PciBus *bus;
        PciDevice *pci;
        Msix msix;
        bool has_msix;
        unsigned n_moved;
        uint64_t moved_to;
        unsigned n_bar_io;
        uint64_t bar_io_offset;
} Func;

static void func_bar_io(void *opaque, unsigned bar, uint64_t offset, uint8_t *data, uint32_t len,
                        bool is_write) {
        Func *f = opaque;

        f->n_bar_io++;
        f->bar_io_offset = offset;
        if (f->has_msix && offset < 0x800)
                msix_table_io(&f->msix, offset, data, len, is_write);
        else if (f->has_msix && offset >= 0x800)
                msix_pba_io(&f->msix, offset - 0x800, data, len, is_write);
}

static void func_config_written(void *opaque, uint32_t offset, uint32_t len) {
        Func *f = opaque;
        if (f->has_msix)
                msix_config_written(&f->msix, offset, len);
}

static void func_bar_moved(void *opaque, unsigned bar, uint64_t addr) {
        Func *f = opaque;
        f->n_moved++;
        f->moved_to = addr;
}

static const PciDeviceOps func_ops = {
        .bar_io = func_bar_io,
        .config_written = func_config_written,
        .bar_moved = func_bar_moved,
};

/* A function at 00:01.0: one 16 KiB BAR, a vendor capability, and n_vectors of MSI-X (0: none). */
static void func_new(Func *f, uint16_t device, uint16_t n_vectors) {
        PciBusParams bp = { .mmio_base = MMIO_BASE, .mmio_size = MMIO_SIZE };

        *f = (Func) {};
        assert_int_equal(bus_init(&f->pio), 0);
        assert_int_equal(bus_init(&f->mmio), 0);
        assert_int_equal(pci_bus_new(&bp, &f->pio, &f->mmio, &f->bus), 0);
        assert_int_equal(pci_bus_add_device(f->bus, 0x1234, device, 0x018000, &func_ops, f, &f->pci), 0);
        assert_int_equal(pci_device_add_bar(f->pci, 0, 0x4000), 0);
        assert_true(pci_device_add_cap(f->pci, PCI_CAP_ID_VNDR, 8) > 0);
        if (n_vectors > 0) {
                assert_int_equal(msix_init(&f->msix, f->pci, NULL, n_vectors, 0, 0, 0x800), 0);
                f->has_msix = true;
        }
}

static void func_free(Func *f) {
        if (f->has_msix)
                msix_done(&f->msix);
        pci_bus_free(f->bus);
        bus_done(&f->pio);
        bus_done(&f->mmio);
}

static void func_cfg_write(Func *f, uint32_t off, uint32_t v, uint32_t len) {
        uint8_t d[4];
        memcpy(d, &v, sizeof d);
        pci_bus_config_access(f->bus, 1, off, d, len, true);
}

static uint32_t func_cfg_read(Func *f, uint32_t off, uint32_t len) {
        uint8_t d[4] = {};
        pci_bus_config_access(f->bus, 1, off, d, len, false);
        return d[0] | d[1] << 8 | d[2] << 16 | (uint32_t) d[3] << 24;
}

static unsigned find_cap(uint32_t (*rd)(void *, uint32_t, uint32_t), void *u, uint8_t id) {
        for (uint32_t c = rd(u, PCI_CAPABILITY_LIST, 1), n = 0; c && n < 16; c = rd(u, c + 1, 1), n++)
                if (rd(u, c, 1) == id)
                        return c;
        fail_msg("no capability %u", id);
        return 0;
}

static uint32_t func_cfg_read_u(void *u, uint32_t off, uint32_t len) {
        return func_cfg_read(u, off, len);
}

static void msix_entry_write(Msix *m, uint16_t v, uint32_t addr, uint32_t data, bool masked) {
        uint32_t w[4] = { addr, 0, data, masked };
        for (unsigned i = 0; i < 4; i++)
                msix_table_io(m, v * 16ULL + 4 * i, (uint8_t *) &w[i], 4, true);
}

static void test_pci_function_round_trip(void **state) {
        PciFunctionState sa, sb;
        uint8_t data[4] = { 1, 2, 3, 4 };
        Func a, b;

        func_new(&a, 0x5678, 0);
        /* What an OS does: moves BAR0, turns decoding on, writes its interrupt line. */
        func_cfg_write(&a, PCI_BAR0, (uint32_t) MMIO_BASE + 0x10000, 4);
        func_cfg_write(&a, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
        func_cfg_write(&a, PCI_INTERRUPT_LINE, 11, 1);
        assert_int_equal(a.moved_to, MMIO_BASE + 0x10000);
        pci_device_save(a.pci, &sa);
        assert_int_equal(sa.version, PCI_FUNCTION_STATE_VERSION);

        func_new(&b, 0x5678, 0);
        assert_int_equal(b.n_moved, 0);
        assert_int_equal(pci_device_restore_check(b.pci, &sa), 0);
        assert_int_equal(pci_device_restore(b.pci, &sa), 0);
        /* Where the BAR decodes is recomputed, and the device is told (ioeventfds follow it). */
        assert_int_equal(b.n_moved, 1);
        assert_int_equal(b.moved_to, MMIO_BASE + 0x10000);
        pci_device_save(b.pci, &sb);
        assert_memory_equal(&sa, &sb, sizeof sa);

        /* B answers at the restored address, and config space reads back as A left it. */
        assert_true(bus_dispatch(&b.mmio, MMIO_BASE + 0x10000 + 0x20, data, 4, true));
        assert_int_equal(b.n_bar_io, 1);
        assert_int_equal(b.bar_io_offset, 0x20);
        assert_int_equal(func_cfg_read(&b, PCI_INTERRUPT_LINE, 1), 11);
        assert_int_equal(func_cfg_read(&b, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

        func_free(&a);
        func_free(&b);
}

static void test_pci_function_hostile(void **state) {
        PciFunctionState good, bad, before, after, other;
        Func a, b, c;

        func_new(&a, 0x5678, 0);
        func_cfg_write(&a, PCI_BAR0, (uint32_t) MMIO_BASE + 0x10000, 4);
        func_cfg_write(&a, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
        pci_device_save(a.pci, &good);
        func_new(&c, 0x5679, 0); /* another kind of device */
        pci_device_save(c.pci, &other);

        func_new(&b, 0x5678, 0);
        pci_device_save(b.pci, &before);
        for (unsigned i = 0;; i++) {
                bad = good;
                switch (i) {
                case 0:
                        bad.version = PCI_FUNCTION_STATE_VERSION + 1;
                        break;
                case 1:
                        bad.reserved = 1;
                        break;
                case 2:
                        bad = other;
                        break;
                case 3:
                        bad.config[PCI_VENDOR_ID] ^= 1;
                        break;
                case 4:
                        bad.config[PCI_CLASS_PROG + 2] ^= 0x80;
                        break;
                case 5:
                        bad.config[PCI_CAPABILITY_LIST] += 4;
                        break;
                case 6:
                        bad.config[PCI_BAR0 + 1] |= 0x10; /* below the BAR's size: another size */
                        break;
                case 7:
                        bad.config[PCI_STATUS] &= (uint8_t) ~PCI_STATUS_CAP_LIST;
                        break;
                default:
                        goto done;
                }
                assert_int_equal(pci_device_restore_check(b.pci, &bad), -EINVAL);
                assert_int_equal(pci_device_restore(b.pci, &bad), -EINVAL);
                pci_device_save(b.pci, &after);
                assert_memory_equal(&before, &after, sizeof before);
                assert_int_equal(b.n_moved, 0);
        }
done:
        /* The writable bits may hold anything the guest can write. */
        bad = good;
        bad.config[PCI_INTERRUPT_LINE] = 0xff;
        assert_int_equal(pci_device_restore(b.pci, &bad), 0);

        func_free(&a);
        func_free(&b);
        func_free(&c);
}

/* Guest side of MSI-X on a Func: enable it and program vectors 0 (unmasked) and 2 (masked). */
static void msix_drive(Func *f) {
        unsigned cap = find_cap(func_cfg_read_u, f, PCI_CAP_ID_MSIX);

        func_cfg_write(f, PCI_BAR0, (uint32_t) MMIO_BASE + 0x10000, 4);
        func_cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
        func_cfg_write(f, cap + 2, 0x8000, 2); /* MSI-X enable */
        msix_entry_write(&f->msix, 0, MSI_ADDR, 0x41, false);
        msix_entry_write(&f->msix, 2, MSI_ADDR | 0x1000, 0x42, true);
}

static void test_msix_round_trip(void **state) {
        PciFunctionState pa, pb;
        MsixState ma, mb;
        uint8_t pba[8];
        Func a, b, c;

        func_new(&a, 0x5678, 4);
        msix_drive(&a);
        msix_notify(&a.msix, 0);
        msix_notify(&a.msix, 2); /* masked: pending */
        assert_int_equal(a.msix.n_fired[0], 1);
        assert_int_equal(a.msix.n_fired[2], 0);
        assert_int_equal(a.msix.pending, 1 << 2);
        pci_device_save(a.pci, &pa);
        msix_save(&a.msix, &ma);
        assert_int_equal(ma.version, MSIX_STATE_VERSION);
        assert_int_equal(ma.n_vectors, 4);

        /* The function first: MSI-X takes enable and mask from its config space. */
        func_new(&b, 0x5678, 4);
        assert_int_equal(pci_device_restore(b.pci, &pa), 0);
        assert_int_equal(msix_restore_check(&b.msix, &ma), 0);
        assert_int_equal(msix_restore(&b.msix, &ma), 0);
        assert_true(b.msix.enabled);
        assert_false(b.msix.function_masked);
        assert_int_equal(b.msix.n_fired[2], 0); /* still masked: still pending */
        pci_device_save(b.pci, &pb);
        msix_save(&b.msix, &mb);
        assert_memory_equal(&pa, &pb, sizeof pa);
        assert_memory_equal(&ma, &mb, sizeof ma);

        /* The guest carries on with B: the PBA shows the pending vector, unmasking delivers it. */
        memset(pba, 0, sizeof pba);
        assert_true(bus_dispatch(&b.mmio, MMIO_BASE + 0x10000 + 0x800, pba, 8, false));
        assert_int_equal(pba[0], 1 << 2);
        uint32_t ctrl = 0;
        msix_table_io(&b.msix, 2 * 16 + 12, (uint8_t *) &ctrl, 4, true);
        assert_int_equal(b.msix.n_fired[2], 1);
        assert_int_equal(b.msix.pending, 0);
        msix_notify(&b.msix, 0);
        assert_int_equal(b.msix.n_fired[0], 1);

        /* A record with a vector pending and not masked: restore delivers it, as an unmask would. */
        ma.table[2 * 16 + 12] = 0;
        func_new(&c, 0x5678, 4);
        assert_int_equal(pci_device_restore(c.pci, &pa), 0);
        assert_int_equal(msix_restore(&c.msix, &ma), 0);
        assert_int_equal(c.msix.n_fired[2], 1);
        assert_int_equal(c.msix.pending, 0);

        func_free(&a);
        func_free(&b);
        func_free(&c);
}

static void test_msix_hostile(void **state) {
        MsixState good, bad, before, after, eight;
        Func a, b, c;

        func_new(&a, 0x5678, 4);
        msix_drive(&a);
        msix_notify(&a.msix, 2);
        msix_save(&a.msix, &good);
        func_new(&c, 0x5678, 8);
        msix_save(&c.msix, &eight);

        func_new(&b, 0x5678, 4);
        msix_save(&b.msix, &before);
        for (unsigned i = 0;; i++) {
                bad = good;
                switch (i) {
                case 0:
                        bad.version = 0;
                        break;
                case 1:
                        bad.reserved = 0x100;
                        break;
                case 2:
                        bad.n_vectors = 5;
                        break;
                case 3:
                        bad = eight; /* from a device with 8 vectors */
                        break;
                case 4:
                        bad.pending |= 1 << 4; /* a vector the device does not have */
                        break;
                case 5:
                        bad.pending |= UINT64_C(1) << 63;
                        break;
                case 6:
                        bad.table[4 * 16] = 1; /* an entry past the last vector */
                        break;
                case 7:
                        bad.table[sizeof bad.table - 1] = 1;
                        break;
                default:
                        goto done;
                }
                assert_int_equal(msix_restore_check(&b.msix, &bad), -EINVAL);
                assert_int_equal(msix_restore(&b.msix, &bad), -EINVAL);
                msix_save(&b.msix, &after);
                assert_memory_equal(&before, &after, sizeof before);
                assert_int_equal(b.msix.n_fired[2], 0);
        }
done:
        func_free(&a);
        func_free(&b);
        func_free(&c);
}

/* ---- virtio-pci devices, driven through the buses ---- */

typedef enum Kind { KIND_BLK, KIND_NET, KIND_RNG } Kind;

typedef struct Vm {
        Bus pio, mmio;
        PciBus *pci;
        GuestMemory *mem;
        VirtioPci *vp;
        VirtioDevice *dev;
        uint64_t bar;
        uint16_t n_queues;
        uint16_t avail_idx[VIRTIO_QUEUES_MAX];
        int peer; /* net: the other end of the tap */
} Vm;

typedef struct Params {
        Kind kind;
        const char *path; /* blk */
        bool read_only;   /* blk */
        uint8_t mac[6];   /* net */
} Params;

static void vm_new(Vm *vm, const Params *p) {
        VirtioDevice *dev;

        *vm = (Vm) { .peer = -EBADF };
        assert_int_equal(guest_memory_new(RAM, 0xc0000000ULL, 0x100000000ULL, &vm->mem), 0);
        assert_int_equal(bus_init(&vm->pio), 0);
        assert_int_equal(bus_init(&vm->mmio), 0);
        assert_int_equal(pci_bus_new(&(PciBusParams) { .mmio_base = MMIO_BASE, .mmio_size = MMIO_SIZE },
                                     &vm->pio, &vm->mmio, &vm->pci),
                         0);
        switch (p->kind) {
        case KIND_BLK: {
                Disk *disk;
                int fd;
                assert_int_equal(disk_open_path(p->path, p->read_only, "[Disk] #1", &fd), 0);
                assert_int_equal(disk_new(fd, &(DiskParams) { .label = "[Disk] #1", .read_only = p->read_only }, &disk),
                                 0);
                assert_int_equal(virtio_blk_new(vm->mem, "disk0", disk, "state-1", &dev), 0);
                vm->n_queues = 1;
                break;
        }
        case KIND_NET: {
                int sp[2];
                assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
                assert_int_equal(virtio_net_new(vm->mem, "net0", sp[0], p->mac, &dev), 0);
                vm->peer = sp[1];
                vm->n_queues = 2;
                break;
        }
        case KIND_RNG:
                assert_int_equal(virtio_rng_new(vm->mem, "rng0", &dev), 0);
                vm->n_queues = 1;
                break;
        }
        assert_int_equal(virtio_pci_new(vm->pci, NULL, -EBADF, dev, &vm->vp), 0);
        vm->dev = virtio_pci_device(vm->vp);
        vm->bar = pci_config_get(virtio_pci_pci_device(vm->vp), PCI_BAR0, 4) & ~0xfU;
}

static void vm_free(Vm *vm) {
        virtio_pci_free(vm->vp);
        pci_bus_free(vm->pci);
        bus_done(&vm->pio);
        bus_done(&vm->mmio);
        guest_memory_free(vm->mem);
        if (vm->peer >= 0)
                close(vm->peer);
}

/* What a snapshot does with guest RAM: B gets A's. */
static void vm_copy_ram(Vm *to, const GuestMemory *from) {
        memcpy(guest_ptr(to->mem, 0, RAM), guest_ptr(from, 0, RAM), RAM);
}

/* The device's I/O thread, run by hand until it comes to rest. */
static void vm_run(Vm *vm) {
        for (int i = 0; i < 64; i++)
                if (virtio_device_dispatch(vm->dev, 0) <= 0)
                        return;
        fail_msg("the device does not come to rest");
}

static void cfg_write(Vm *vm, uint32_t off, uint32_t v, uint32_t len) {
        uint8_t a[4], d[4];
        uint32_t addr = 0x80000000U | 1 << 11 | (off & 0xfc);
        memcpy(a, &addr, 4);
        memcpy(d, &v, 4);
        assert_true(bus_dispatch(&vm->pio, 0xcf8, a, 4, true));
        assert_true(bus_dispatch(&vm->pio, 0xcfc + (off & 3), d, len, true));
}

static uint32_t cfg_read(Vm *vm, uint32_t off, uint32_t len) {
        uint8_t a[4], d[4] = {};
        uint32_t addr = 0x80000000U | 1 << 11 | (off & 0xfc);
        memcpy(a, &addr, 4);
        assert_true(bus_dispatch(&vm->pio, 0xcf8, a, 4, true));
        assert_true(bus_dispatch(&vm->pio, 0xcfc + (off & 3), d, len, false));
        return d[0] | d[1] << 8 | d[2] << 16 | (uint32_t) d[3] << 24;
}

static uint32_t cfg_read_u(void *u, uint32_t off, uint32_t len) {
        return cfg_read(u, off, len);
}

static uint64_t bar_read(Vm *vm, uint64_t off, uint32_t len) {
        uint64_t v = 0;
        (void) bus_dispatch(&vm->mmio, vm->bar + off, (uint8_t *) &v, len, false);
        return v;
}

static void bar_write(Vm *vm, uint64_t off, uint64_t v, uint32_t len) {
        (void) bus_dispatch(&vm->mmio, vm->bar + off, (uint8_t *) &v, len, true);
}

static void msix_vector(Vm *vm, uint16_t v, uint32_t data, bool masked) {
        uint64_t e = VIRTIO_PCI_MSIX_TABLE_OFFSET + 16ULL * v;
        bar_write(vm, e, MSI_ADDR, 4);
        bar_write(vm, e + 4, 0, 4);
        bar_write(vm, e + 8, data, 4);
        bar_write(vm, e + 12, masked, 4);
}

static uint64_t pba(Vm *vm) {
        return bar_read(vm, VIRTIO_PCI_MSIX_PBA_OFFSET, 8);
}

/* What Linux's virtio_pci_modern does: memory decode and bus mastering on, MSI-X enabled with queue q on
 * vector q (vector 0 left masked, the others programmed and unmasked, config on the last), everything
 * offered negotiated, queue q's rings at DESC/AVAIL/USED + q * QSTRIDE, DRIVER_OK. */
static void vm_bring_up(Vm *vm) {
        uint64_t f;

        cfg_write(vm, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
        cfg_write(vm, find_cap(cfg_read_u, vm, PCI_CAP_ID_MSIX) + 2, 0x8000, 2);
        for (uint16_t v = 0; v <= vm->n_queues; v++)
                msix_vector(vm, v, 0x40 + v, v == 0);

        bar_write(vm, 0x14, 0, 1);
        bar_write(vm, 0x14, 1 | 2, 1);
        bar_write(vm, 0x00, 0, 4);
        f = bar_read(vm, 0x04, 4);
        bar_write(vm, 0x00, 1, 4);
        f |= bar_read(vm, 0x04, 4) << 32;
        bar_write(vm, 0x08, 0, 4);
        bar_write(vm, 0x0c, (uint32_t) f, 4);
        bar_write(vm, 0x08, 1, 4);
        bar_write(vm, 0x0c, (uint32_t) (f >> 32), 4);
        bar_write(vm, 0x14, STATUS_ACK_DRIVER_FOK, 1);
        assert_int_equal(bar_read(vm, 0x14, 1), STATUS_ACK_DRIVER_FOK);
        bar_write(vm, 0x10, vm->n_queues, 2); /* config vector */
        for (uint16_t q = 0; q < vm->n_queues; q++) {
                bar_write(vm, 0x16, q, 2);
                bar_write(vm, 0x18, QSIZE, 2);
                bar_write(vm, 0x20, DESC + q * QSTRIDE, 4);
                bar_write(vm, 0x24, 0, 4);
                bar_write(vm, 0x28, AVAIL + q * QSTRIDE, 4);
                bar_write(vm, 0x2c, 0, 4);
                bar_write(vm, 0x30, USED + q * QSTRIDE, 4);
                bar_write(vm, 0x34, 0, 4);
                bar_write(vm, 0x1a, q, 2);
                bar_write(vm, 0x1c, 1, 2);
        }
        bar_write(vm, 0x14, STATUS_LIVE, 1);
        assert_int_equal(bar_read(vm, 0x14, 1), STATUS_LIVE);
        vm_run(vm);
}

static void put_desc(Vm *vm, uint16_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next) {
        uint8_t d[16];
        memcpy(d, &addr, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
        assert_int_equal(guest_write(vm->mem, DESC + q * QSTRIDE + 16ULL * i, d, 16), 0);
}

/* The driver makes head available on queue q and kicks; then the device runs. */
static void add_avail(Vm *vm, uint16_t q, uint16_t head) {
        uint64_t avail = AVAIL + q * QSTRIDE;
        uint16_t *idx = &vm->avail_idx[q];

        assert_int_equal(guest_write(vm->mem, avail + 4 + 2 * (*idx % QSIZE), &head, 2), 0);
        (*idx)++;
        assert_int_equal(guest_write(vm->mem, avail + 2, idx, 2), 0);
        bar_write(vm, VIRTIO_PCI_NOTIFY_OFFSET + q * VIRTIO_PCI_NOTIFY_MULTIPLIER, q, 2);
        vm_run(vm);
}

static uint16_t used_idx(Vm *vm, uint16_t q) {
        uint16_t idx;
        assert_int_equal(guest_read(vm->mem, USED + q * QSTRIDE + 2, &idx, 2), 0);
        return idx;
}

/* Length of used ring entry i (counting from 0) of queue q. */
static uint32_t used_len(Vm *vm, uint16_t q, uint16_t i) {
        uint32_t len;
        assert_int_equal(guest_read(vm->mem, USED + q * QSTRIDE + 4 + 8 * (i % QSIZE) + 4, &len, 4), 0);
        return len;
}

static uint64_t counter(Vm *vm, const char *name) {
        VirtioCounter c[VIRTIO_COUNTERS_MAX];
        size_t n = vm->dev->ops->counters(vm->dev, c, VIRTIO_COUNTERS_MAX);
        for (size_t i = 0; i < n; i++)
                if (strcmp(c[i].name, name) == 0)
                        return c[i].value;
        fail_msg("no counter %s", name);
        return 0;
}

/* B, a fresh device like A's, restores A's record and saves the same bytes; A's RAM (ram) and the
 * driver's ring indices go with it. */
static void restore_into_fresh(Vm *b, const Params *p, const Vm *a, const GuestMemory *ram,
                               const VirtioPciState *rec) {
        VirtioPciState again;

        vm_new(b, p);
        vm_copy_ram(b, ram);
        memcpy(b->avail_idx, a->avail_idx, sizeof b->avail_idx);
        assert_int_equal(virtio_pci_restore_check(b->vp, rec), 0);
        assert_int_equal(virtio_pci_restore(b->vp, rec), 0);
        virtio_pci_save(b->vp, &again);
        assert_memory_equal(rec, &again, sizeof again);
}

static char *temp_disk(size_t size) {
        char *path = strdup("/var/tmp/test-device-state-XXXXXX");
        int fd;

        assert_non_null(path);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        close(fd);
        return path;
}

/* A virtio-blk request at head 0: header, data (4 KiB at BUFS + data_off), status byte. */
static void blk_request(Vm *vm, uint32_t type, uint64_t sector, uint64_t data_off) {
        uint8_t hdr[16] = {};
        memcpy(hdr, &type, 4);
        memcpy(hdr + 8, &sector, 8);
        assert_int_equal(guest_write(vm->mem, BUFS, hdr, 16), 0);
        put_desc(vm, 0, 0, BUFS, 16, F_NEXT, 1);
        put_desc(vm, 0, 1, BUFS + data_off, 4096, F_NEXT | (type == 0 ? F_WRITE : 0), 2);
        put_desc(vm, 0, 2, BUFS + 0x100, 1, F_WRITE, 0);
        add_avail(vm, 0, 0);
}

static void test_virtio_blk_round_trip(void **state) {
        uint8_t data[4096], back[4096], status;
        VirtioPciState rec;
        char *path = temp_disk(1 << 20);
        Params p = { .kind = KIND_BLK, .path = path };
        Vm a, b;

        vm_new(&a, &p);
        vm_bring_up(&a);
        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (uint8_t) (i * 13 + 1);
        assert_int_equal(guest_write(a.mem, BUFS + 0x1000, data, sizeof data), 0);
        blk_request(&a, 1, 8, 0x1000); /* write sector 8 */
        blk_request(&a, 4, 0, 0x1000); /* flush (the data descriptor is ignored) */
        assert_int_equal(used_idx(&a, 0), 2);
        assert_int_equal(guest_read(a.mem, BUFS + 0x100, &status, 1), 0);
        assert_int_equal(status, 0);
        assert_int_equal(pba(&a), 1); /* vector 0 is masked: the interrupt waits */
        bar_write(&a, 0x00, 1, 4);    /* a device feature selector left at 1 */

        virtio_pci_save(a.vp, &rec);
        assert_int_equal(rec.model_size, sizeof(VirtioBlkState));
        assert_int_equal(rec.virtio.vqs[0].used_idx, 2);
        /* The disk has one writer at a time: A goes away first, as it would in another process, and
         * leaves its RAM behind. */
        GuestMemory *ram = TAKE_PTR(a.mem);
        vm_free(&a);
        restore_into_fresh(&b, &p, &a, ram, &rec);
        guest_memory_free(ram);
        assert_int_equal(bar_read(&b, 0x00, 4), 1);
        assert_int_equal(bar_read(&b, 0x14, 1), STATUS_LIVE);
        assert_int_equal(pba(&b), 1);
        assert_int_equal(counter(&b, "writes"), 1);

        /* The guest goes on: a read of what it wrote before the snapshot, completed as the third. */
        blk_request(&b, 0, 8, 0x3000);
        assert_int_equal(used_idx(&b, 0), 3);
        assert_int_equal(used_len(&b, 0, 2), sizeof data + 1);
        assert_int_equal(guest_read(b.mem, BUFS + 0x3000, back, sizeof back), 0);
        assert_memory_equal(back, data, sizeof data);
        assert_int_equal(counter(&b, "reads"), 1);
        assert_int_equal(counter(&b, "flushes"), 1);
        /* Unmasking vector 0 delivers what was pending since before the snapshot. */
        bar_write(&b, VIRTIO_PCI_MSIX_TABLE_OFFSET + 12, 0, 4);
        assert_int_equal(pba(&b), 0);

        vm_free(&b);
        unlink(path);
        free(path);
}

/* A record of another kind of device than the target: its PCI part says so. */
static void other_kind_pci(Kind target, PciFunctionState *ret) {
        Params p = { .kind = target == KIND_RNG ? KIND_NET : KIND_RNG, .mac = { 2, 0, 0, 0, 0, 9 } };
        Vm o;

        vm_new(&o, &p);
        pci_device_save(virtio_pci_pci_device(o.vp), ret);
        vm_free(&o);
}

/* Every mutation of good must be refused by target with -EINVAL, and leave it as it was. Then good
 * itself is accepted. */
static void check_hostile(Vm *target, Kind kind, const VirtioPciState *good, size_t model_reserved_offset) {
        VirtioPciState *bad = malloc(sizeof *bad), before, after;
        PciFunctionState other;
        uint16_t nq = target->n_queues;
        VirtqueueState *vq0;

        assert_non_null(bad);
        other_kind_pci(kind, &other);
        virtio_pci_save(target->vp, &before);
        assert_memory_not_equal(&before, good, sizeof before); /* so that a partial restore shows */
        for (unsigned i = 0;; i++) {
                *bad = *good;
                vq0 = &bad->virtio.vqs[0];
                switch (i) {
                case 0:
                        bad->version++;
                        break;
                case 1:
                        bad->model_size++;
                        break;
                case 2:
                        bad->model[bad->model_size] = 1;
                        break;
                case 3:
                        bad->model_size = sizeof bad->model + 1;
                        break;
                case 4:
                        bad->pci.version++;
                        break;
                case 5:
                        bad->pci = other;
                        break;
                case 6:
                        bad->pci.config[PCI_DEVICE_ID] ^= 3;
                        break;
                case 7:
                        bad->msix.version++;
                        break;
                case 8:
                        bad->msix.n_vectors++;
                        break;
                case 9:
                        bad->msix.pending |= UINT64_C(1) << 40;
                        break;
                case 10:
                        bad->msix.reserved = 1;
                        break;
                case 11:
                        bad->transport.version++;
                        break;
                case 12:
                        bad->transport.config_vector = nq + 1; /* past the last vector */
                        break;
                case 13:
                        bad->transport.queue_vector[nq] = 0; /* a queue the device does not have */
                        break;
                case 14:
                        bad->virtio.version++;
                        break;
                case 15:
                        bad->virtio.reserved = 1;
                        break;
                case 16:
                        bad->virtio.n_queues++;
                        break;
                case 17:
                        bad->virtio.features |= UINT64_C(1) << 50; /* never offered */
                        break;
                case 18:
                        bad->virtio.features &= ~(UINT64_C(1) << 32); /* FEATURES_OK without VERSION_1 */
                        break;
                case 19:
                        bad->virtio.queue_enabled[0] = 2;
                        break;
                case 20:
                        bad->virtio.queue_enabled[0] = 0; /* started, never enabled */
                        break;
                case 21:
                        bad->virtio.queue_enabled[nq] = 1;
                        break;
                case 22:
                        bad->virtio.vqs[nq].size = 16;
                        break;
                case 23:
                        vq0->version++;
                        break;
                case 24:
                        vq0->reserved[3] = 1;
                        break;
                case 25:
                        vq0->size = 12; /* not a power of two */
                        break;
                case 26:
                        vq0->size = 512; /* more than offered */
                        break;
                case 27:
                        vq0->desc_gpa = RAM; /* past the end of guest RAM */
                        break;
                case 28:
                        vq0->used_gpa = RAM - 64; /* partly outside */
                        break;
                case 29:
                        vq0->avail_gpa = UINT64_MAX - 1; /* wraps */
                        break;
                case 30:
                        vq0->desc_gpa += 8; /* misaligned */
                        break;
                case 31:
                        vq0->started = 2;
                        break;
                case 32:
                        vq0->broken = 1; /* without NEEDS_RESET */
                        break;
                case 33:
                        vq0->last_avail++; /* disagrees with the pop count */
                        break;
                case 34:
                        vq0->n_pushed = vq0->n_popped + 1;
                        vq0->used_idx = (uint16_t) vq0->n_pushed;
                        break;
                case 35:
                        vq0->signalled_used_valid = 0;
                        break;
                case 36:
                        vq0->started = 0; /* stopped, with counters */
                        break;
                case 37:
                        vq0->n_popped += 65536; /* indices agree, too many outstanding */
                        break;
                case 38:
                        memset(bad->model, 0xff, 4); /* the model's version */
                        break;
                case 39:
                        bad->model[model_reserved_offset] = 1;
                        break;
                default:
                        goto done;
                }
                assert_int_equal(virtio_pci_restore_check(target->vp, bad), -EINVAL);
                assert_int_equal(virtio_pci_restore(target->vp, bad), -EINVAL);
                virtio_pci_save(target->vp, &after);
                if (memcmp(&before, &after, sizeof before) != 0)
                        fail_msg("mutation %u changed the device", i);
        }
done:
        assert_int_equal(virtio_pci_restore(target->vp, good), 0);
        free(bad);
}

static void test_virtio_blk_hostile(void **state) {
        VirtioPciState rec;
        char *path = temp_disk(1 << 20), *bigger = temp_disk(2 << 20);
        Params p = { .kind = KIND_BLK, .path = path };
        Vm a, b;

        vm_new(&a, &p);
        vm_bring_up(&a);
        assert_int_equal(guest_write(a.mem, BUFS + 0x1000, "x", 1), 0);
        blk_request(&a, 1, 0, 0x1000);
        virtio_pci_save(a.vp, &rec);
        vm_free(&a);

        /* Another disk geometry: bigger, or read-only. */
        for (int i = 0; i < 2; i++) {
                Params q = { .kind = KIND_BLK, .path = i == 0 ? bigger : path, .read_only = i == 1 };
                VirtioPciState before, after;
                vm_new(&b, &q);
                virtio_pci_save(b.vp, &before);
                assert_int_equal(virtio_pci_restore(b.vp, &rec), -EINVAL);
                virtio_pci_save(b.vp, &after);
                assert_memory_equal(&before, &after, sizeof before);
                vm_free(&b);
        }

        vm_new(&b, &p);
        check_hostile(&b, KIND_BLK, &rec, offsetof(VirtioBlkState, reserved1));
        vm_free(&b);
        unlink(path);
        unlink(bigger);
        free(path);
        free(bigger);
}

/* Frames on the fake tap: a 12-byte virtio-net header (zero), then a payload. */
static void net_frame(uint8_t *f, size_t len, uint8_t tag) {
        memset(f, 0, 12);
        for (size_t i = 12; i < len; i++)
                f[i] = (uint8_t) (tag ^ i);
}

static void test_virtio_net_round_trip(void **state) {
        Params p = { .kind = KIND_NET, .mac = { 0x02, 0x53, 0x44, 0x56, 0x4d, 0x01 } };
        uint8_t frame[12 + 60], buf[2048];
        VirtioPciState rec;
        VirtioNetState ns;
        Vm a, b;

        vm_new(&a, &p);
        vm_bring_up(&a);
        /* Two receive buffers and one frame: the second buffer is taken and waits for a frame. */
        put_desc(&a, 0, 0, BUFS, 1526, F_WRITE, 0);
        put_desc(&a, 0, 1, BUFS + 0x1000, 1526, F_WRITE, 0);
        add_avail(&a, 0, 0);
        add_avail(&a, 0, 1);
        net_frame(frame, sizeof frame, 0x11);
        assert_int_equal(send(a.peer, frame, sizeof frame, 0), (ssize_t) sizeof frame);
        vm_run(&a);
        assert_int_equal(used_idx(&a, 0), 1);
        assert_int_equal(used_len(&a, 0, 0), sizeof frame);
        assert_int_equal(a.dev->vqs[0].last_avail, 2);
        /* Transmit one. */
        net_frame(frame, sizeof frame, 0x22);
        assert_int_equal(guest_write(a.mem, BUFS + 0x8000, frame, sizeof frame), 0);
        put_desc(&a, 1, 0, BUFS + 0x8000, sizeof frame, 0, 0);
        add_avail(&a, 1, 0);
        assert_int_equal(used_idx(&a, 1), 1);
        assert_int_equal(recv(a.peer, buf, sizeof buf, 0), (ssize_t) sizeof frame);

        virtio_pci_save(a.vp, &rec);
        /* The buffer the device holds is saved as still available. */
        assert_int_equal(rec.virtio.vqs[0].last_avail, 1);
        assert_int_equal(rec.virtio.vqs[0].n_popped, 1);
        memcpy(&ns, rec.model, sizeof ns);
        assert_int_equal(ns.version, VIRTIO_NET_STATE_VERSION);
        assert_memory_equal(ns.mac, p.mac, 6);
        assert_int_not_equal(ns.offload, 0); /* the guest offloads everything offered */
        assert_int_equal(ns.rx_frames, 1);
        assert_int_equal(ns.tx_frames, 1);

        restore_into_fresh(&b, &p, &a, a.mem, &rec);
        vm_free(&a);
        /* The guest goes on: a frame arrives and lands in the second buffer, used as the second. */
        net_frame(frame, sizeof frame, 0x33);
        assert_int_equal(send(b.peer, frame, sizeof frame, 0), (ssize_t) sizeof frame);
        vm_run(&b);
        assert_int_equal(used_idx(&b, 0), 2);
        assert_int_equal(used_len(&b, 0, 1), sizeof frame);
        assert_int_equal(guest_read(b.mem, BUFS + 0x1000, buf, sizeof frame), 0);
        assert_memory_equal(buf + 12, frame + 12, sizeof frame - 12);
        /* And transmits. */
        net_frame(frame, sizeof frame, 0x44);
        assert_int_equal(guest_write(b.mem, BUFS + 0x8000, frame, sizeof frame), 0);
        add_avail(&b, 1, 0);
        assert_int_equal(used_idx(&b, 1), 2);
        assert_int_equal(recv(b.peer, buf, sizeof buf, 0), (ssize_t) sizeof frame);
        assert_memory_equal(buf, frame, sizeof frame);
        assert_int_equal(counter(&b, "rxFrames"), 2);
        assert_int_equal(counter(&b, "txFrames"), 2);
        assert_int_equal(bar_read(&b, 0x14, 1), STATUS_LIVE);

        vm_free(&b);
}

static void test_virtio_net_hostile(void **state) {
        Params p = { .kind = KIND_NET, .mac = { 0x02, 0x53, 0x44, 0x56, 0x4d, 0x01 } };
        Params other_mac = p;
        VirtioPciState rec, before, after;
        VirtioNetState ns;
        Vm a, b;

        vm_new(&a, &p);
        vm_bring_up(&a);
        virtio_pci_save(a.vp, &rec);
        vm_free(&a);

        other_mac.mac[5] = 2;
        vm_new(&b, &other_mac);
        virtio_pci_save(b.vp, &before);
        assert_int_equal(virtio_pci_restore(b.vp, &rec), -EINVAL);
        virtio_pci_save(b.vp, &after);
        assert_memory_equal(&before, &after, sizeof before);
        vm_free(&b);

        vm_new(&b, &p);
        /* Offloads net_activate() cannot have set. */
        for (int i = 0; i < 3; i++) {
                static const uint32_t bad_offload[] = { 0x100, 0x2 /* TSO4 without CSUM */, 0x1 | 0x8 };
                VirtioPciState bad = rec;
                memcpy(&ns, bad.model, sizeof ns);
                ns.offload = bad_offload[i];
                memcpy(bad.model, &ns, sizeof ns);
                virtio_pci_save(b.vp, &before);
                assert_int_equal(virtio_pci_restore(b.vp, &bad), -EINVAL);
                virtio_pci_save(b.vp, &after);
                assert_memory_equal(&before, &after, sizeof before);
        }
        check_hostile(&b, KIND_NET, &rec, offsetof(VirtioNetState, reserved));
        vm_free(&b);
}

static void rng_request(Vm *vm, uint16_t head, uint64_t off, uint32_t len) {
        put_desc(vm, 0, head, BUFS + off, len, F_WRITE, 0);
        add_avail(vm, 0, head);
}

static void test_virtio_rng_round_trip(void **state) {
        Params p = { .kind = KIND_RNG };
        uint8_t buf[32], zero[32] = {};
        VirtioPciState rec;
        Vm a, b;

        vm_new(&a, &p);
        vm_bring_up(&a);
        rng_request(&a, 0, 0, 64);
        rng_request(&a, 1, 0x100, 16);
        assert_int_equal(used_idx(&a, 0), 2);
        assert_int_equal(pba(&a), 1);
        virtio_pci_save(a.vp, &rec);
        assert_int_equal(rec.msix.pending, 1);

        restore_into_fresh(&b, &p, &a, a.mem, &rec);
        vm_free(&a);
        assert_int_equal(counter(&b, "bytes"), 80);
        rng_request(&b, 2, 0x200, sizeof buf);
        assert_int_equal(used_idx(&b, 0), 3);
        assert_int_equal(used_len(&b, 0, 2), sizeof buf);
        assert_int_equal(guest_read(b.mem, BUFS + 0x200, buf, sizeof buf), 0);
        assert_memory_not_equal(buf, zero, sizeof buf);
        assert_int_equal(counter(&b, "bytes"), 80 + sizeof buf);
        bar_write(&b, VIRTIO_PCI_MSIX_TABLE_OFFSET + 12, 0, 4);
        assert_int_equal(pba(&b), 0);
        vm_free(&b);
}

static void test_virtio_rng_hostile(void **state) {
        Params p = { .kind = KIND_RNG };
        VirtioPciState rec;
        Vm a, b;

        vm_new(&a, &p);
        vm_bring_up(&a);
        rng_request(&a, 0, 0, 64);
        virtio_pci_save(a.vp, &rec);
        vm_free(&a);

        vm_new(&b, &p);
        check_hostile(&b, KIND_RNG, &rec, offsetof(VirtioRngState, reserved));
        vm_free(&b);
}

/* A queue the guest broke: it stays broken across the restore (with a fixed reason), and the driver's
 * reset brings the restored device back. */
static void test_virtio_broken_queue(void **state) {
        Params p = { .kind = KIND_RNG };
        VirtioPciState rec;
        Vm a, b;

        vm_new(&a, &p);
        vm_bring_up(&a);
        rng_request(&a, 0, 0, 64);
        put_desc(&a, 0, 1, RAM - 16, 64, F_WRITE, 0); /* runs past guest RAM */
        add_avail(&a, 0, 1);
        assert_true(a.dev->vqs[0].broken);
        assert_true(bar_read(&a, 0x14, 1) & STATUS_NEEDS_RESET);
        virtio_pci_save(a.vp, &rec);
        assert_int_equal(rec.virtio.vqs[0].broken, 1);

        restore_into_fresh(&b, &p, &a, a.mem, &rec);
        vm_free(&a);
        assert_true(b.dev->vqs[0].broken);
        assert_string_equal(b.dev->vqs[0].broken_reason, VQ_BROKEN_BEFORE_SNAPSHOT);
        assert_true(bar_read(&b, 0x14, 1) & STATUS_NEEDS_RESET);

        memset(guest_ptr(b.mem, AVAIL, 0x2000), 0, 0x2000);
        b.avail_idx[0] = 0;
        vm_bring_up(&b);
        rng_request(&b, 0, 0, 64);
        assert_int_equal(used_idx(&b, 0), 1);
        assert_int_equal(used_len(&b, 0, 0), 64);
        vm_free(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pci_function_round_trip),
                cmocka_unit_test(test_pci_function_hostile),
                cmocka_unit_test(test_msix_round_trip),
                cmocka_unit_test(test_msix_hostile),
                cmocka_unit_test(test_virtio_blk_round_trip),
                cmocka_unit_test(test_virtio_blk_hostile),
                cmocka_unit_test(test_virtio_net_round_trip),
                cmocka_unit_test(test_virtio_net_hostile),
                cmocka_unit_test(test_virtio_rng_round_trip),
                cmocka_unit_test(test_virtio_rng_hostile),
                cmocka_unit_test(test_virtio_broken_queue),
        };
        log_set_max_level(LOG_ERR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
