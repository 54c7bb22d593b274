/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The PCI bus, MSI-X and the virtio-pci transport driven the way Linux's virtio_pci_modern driver
 * drives them, through configuration mechanism #1 and BAR accesses on a real Bus, with virtio-blk on a
 * temp file, virtio-rng, and virtio-net on a socketpair behind them. No KVM: kicks go through the MMIO
 * path, MSIs only count. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"
#include "core/bus.h"
#include "device/pci/pci.h"
#include "backend/disk.h"
#include "log.h"
#include "core/memory.h"
#include "device/virtio/blk.h"
#include "device/virtio/net.h"
#include "device/virtio/rng.h"
#include "device/virtio/virtio-pci.h"

#define MMIO_BASE 0xc0000000ULL
#define MMIO_SIZE 0x20000000ULL
#define RAM (64ULL << 20)
#define DESC 0x100000ULL
#define AVAIL 0x101000ULL
#define USED 0x102000ULL
#define BUFS 0x200000ULL
#define QSTRIDE 0x10000ULL /* between the rings of queue q and q + 1 */
#define SHARE (MMIO_SIZE / PCI_SLOTS) /* each slot's part of the window, for its BARs */

typedef struct T {
        Bus pio, mmio;
        PciBus *pci;
        GuestMemory *mem;
        uint64_t bar; /* where BAR0 of the device under test decodes */
        unsigned slot;
        uint8_t common, device, notify;
} T;

static uint32_t cfg_read(T *t, unsigned slot, uint32_t off, uint32_t len) {
        uint8_t a[4], d[4] = {};
        uint32_t addr = 0x80000000U | slot << 11 | (off & 0xfc);
        memcpy(a, &addr, 4);
        assert_true(bus_dispatch(&t->pio, 0xcf8, a, 4, true));
        assert_true(bus_dispatch(&t->pio, 0xcfc + (off & 3), d, len, false));
        return d[0] | d[1] << 8 | d[2] << 16 | (uint32_t) d[3] << 24;
}

static void cfg_write(T *t, unsigned slot, uint32_t off, uint32_t v, uint32_t len) {
        uint8_t a[4], d[4];
        uint32_t addr = 0x80000000U | slot << 11 | (off & 0xfc);
        memcpy(a, &addr, 4);
        memcpy(d, &v, 4);
        assert_true(bus_dispatch(&t->pio, 0xcf8, a, 4, true));
        assert_true(bus_dispatch(&t->pio, 0xcfc + (off & 3), d, len, true));
}

static uint64_t bar_read(T *t, uint64_t off, uint32_t len) {
        uint64_t v = 0;
        (void) bus_dispatch(&t->mmio, t->bar + off, (uint8_t *) &v, len, false);
        return v;
}

static void bar_write(T *t, uint64_t off, uint64_t v, uint32_t len) {
        (void) bus_dispatch(&t->mmio, t->bar + off, (uint8_t *) &v, len, true);
}

/* Enumerates slot like Linux: IDs, BAR sizing, memory decode on, the virtio capabilities. */
static void probe(T *t, unsigned slot, uint16_t want_device) {
        uint32_t size;

        t->slot = slot;
        assert_int_equal(cfg_read(t, slot, PCI_VENDOR_ID, 2), 0x1af4);
        assert_int_equal(cfg_read(t, slot, PCI_DEVICE_ID, 2), want_device);
        assert_true(cfg_read(t, slot, PCI_REVISION_ID, 1) >= 1);
        t->bar = cfg_read(t, slot, PCI_BAR0, 4) & ~0xfU;
        assert_true(t->bar >= MMIO_BASE && t->bar + VIRTIO_PCI_BAR_SIZE <= MMIO_BASE + MMIO_SIZE);
        cfg_write(t, slot, PCI_BAR0, 0xffffffff, 4);
        size = ~(cfg_read(t, slot, PCI_BAR0, 4) & ~0xfU) + 1;
        assert_int_equal(size, VIRTIO_PCI_BAR_SIZE);
        cfg_write(t, slot, PCI_BAR0, (uint32_t) t->bar, 4);
        /* Decoding is off until the OS turns it on: nothing answers, the bus reads all-ones. */
        assert_int_equal(bar_read(t, VIRTIO_PCI_COMMON_OFFSET + 0x12, 2), 0xffff);
        cfg_write(t, slot, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);

        assert_true(cfg_read(t, slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
        t->common = t->device = t->notify = 0;
        int n = 0;
        for (uint32_t c = cfg_read(t, slot, PCI_CAPABILITY_LIST, 1); c; c = cfg_read(t, slot, c + 1, 1)) {
                assert_true(++n < 16); /* no loop */
                if (cfg_read(t, slot, c, 1) != PCI_CAP_ID_VNDR)
                        continue;
                uint8_t type = (uint8_t) cfg_read(t, slot, c + 3, 1);
                uint32_t off = cfg_read(t, slot, c + 8, 4);
                assert_int_equal(cfg_read(t, slot, c + 4, 1), 0); /* BAR 0 */
                if (type == 1)
                        t->common = (uint8_t) (off >> 12);
                else if (type == 2) {
                        t->notify = (uint8_t) (off >> 12);
                        assert_int_equal(cfg_read(t, slot, c + 16, 4), VIRTIO_PCI_NOTIFY_MULTIPLIER);
                } else if (type == 4)
                        t->device = (uint8_t) (off >> 12);
        }
        assert_int_equal((uint64_t) t->common << 12, VIRTIO_PCI_COMMON_OFFSET);
        assert_true(t->device == 0 || (uint64_t) t->device << 12 == VIRTIO_PCI_DEVICE_OFFSET);
        assert_int_equal((uint64_t) t->notify << 12, VIRTIO_PCI_NOTIFY_OFFSET);
}

/* Reset, negotiate everything offered, set up n_queues queues (queue q at DESC/AVAIL/USED + q * QSTRIDE,
 * MSI-X vector q), DRIVER_OK. */
static uint64_t bring_up_n(T *t, uint16_t n_queues) {
        uint64_t f;

        bar_write(t, 0x14, 0, 1);
        assert_int_equal(bar_read(t, 0x14, 1), 0);
        bar_write(t, 0x14, 1 | 2, 1);
        bar_write(t, 0x00, 0, 4);
        f = bar_read(t, 0x04, 4);
        bar_write(t, 0x00, 1, 4);
        f |= bar_read(t, 0x04, 4) << 32;
        assert_true(f & (1ULL << 32)); /* VERSION_1 */
        bar_write(t, 0x08, 0, 4);
        bar_write(t, 0x0c, (uint32_t) f, 4);
        bar_write(t, 0x08, 1, 4);
        bar_write(t, 0x0c, (uint32_t) (f >> 32), 4);
        bar_write(t, 0x14, 1 | 2 | 8, 1);
        assert_int_equal(bar_read(t, 0x14, 1), 1 | 2 | 8);

        for (uint16_t q = 0; q < n_queues; q++) {
                bar_write(t, 0x16, q, 2);
                assert_int_equal(bar_read(t, 0x18, 2), VQ_SIZE_MAX);
                bar_write(t, 0x18, 16, 2);
                bar_write(t, 0x20, DESC + q * QSTRIDE, 4);
                bar_write(t, 0x24, 0, 4);
                bar_write(t, 0x28, AVAIL + q * QSTRIDE, 4);
                bar_write(t, 0x2c, 0, 4);
                bar_write(t, 0x30, USED + q * QSTRIDE, 4);
                bar_write(t, 0x34, 0, 4);
                bar_write(t, 0x1a, q, 2); /* MSI-X vector q */
                assert_int_equal(bar_read(t, 0x1a, 2), q);
                bar_write(t, 0x1c, 1, 2);
        }
        bar_write(t, 0x14, 1 | 2 | 8 | 4, 1);
        assert_int_equal(bar_read(t, 0x14, 1), 1 | 2 | 8 | 4);
        return f;
}

static uint64_t bring_up(T *t) {
        return bring_up_n(t, 1);
}

static void put_desc_at(T *t, uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next) {
        uint8_t d[16];
        memcpy(d, &addr, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
        assert_int_equal(guest_write(t->mem, table + 16ULL * i, d, 16), 0);
}

static void put_desc(T *t, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
        put_desc_at(t, DESC, i, addr, len, flags, next);
}

static uint16_t avail_idx;

/* Makes head available, kicks queue 0 and waits for the device to use it (or, if !expect_used, gives
 * it 200 ms and checks that it did not). Returns the used length. */
static uint32_t submit_full(T *t, uint16_t head, bool expect_used) {
        uint16_t used = 0;
        uint32_t len = 0;

        assert_int_equal(guest_write(t->mem, AVAIL + 4 + 2 * (avail_idx % 16), &head, 2), 0);
        avail_idx++;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        assert_int_equal(guest_write(t->mem, AVAIL + 2, &avail_idx, 2), 0);
        bar_write(t, VIRTIO_PCI_NOTIFY_OFFSET, 0, 2);
        for (int i = 0; i < (expect_used ? 5000 : 200); i++) {
                assert_int_equal(guest_read(t->mem, USED + 2, &used, 2), 0);
                if (used == avail_idx)
                        break;
                usleep(1000);
        }
        if (!expect_used) {
                assert_int_not_equal(used, avail_idx);
                return 0;
        }
        assert_int_equal(used, avail_idx);
        assert_int_equal(guest_read(t->mem, USED + 4 + 8 * ((used - 1) % 16) + 4, &len, 4), 0);
        return len;
}

static uint32_t submit(T *t, uint16_t head) {
        return submit_full(t, head, true);
}

static void setup_bus(T *t) {
        *t = (T) {};
        avail_idx = 0;
        assert_int_equal(bus_init(&t->pio), 0);
        assert_int_equal(bus_init(&t->mmio), 0);
        assert_int_equal(guest_memory_new(RAM, 0xc0000000ULL, 0x100000000ULL, &t->mem), 0);
        assert_int_equal(pci_bus_new(&(PciBusParams) { .mmio_base = MMIO_BASE, .mmio_size = MMIO_SIZE }, &t->pio,
                                     &t->mmio, &t->pci),
                         0);
}

static void test_host_bridge_and_absent(void **state) {
        T t;
        setup_bus(&t);
        assert_int_equal(cfg_read(&t, 0, PCI_REVISION_ID, 4) >> 8, 0x060000); /* host bridge at 00.0 */
        assert_int_equal(cfg_read(&t, 5, PCI_VENDOR_ID, 4), 0xffffffff);    /* empty slot */
        /* The address latch reads back (Linux's type-1 probe) and byte accesses to it do nothing. */
        uint8_t a[4] = { 0, 0, 0, 0x80 }, b[4] = {};
        assert_true(bus_dispatch(&t.pio, 0xcf8, a, 4, true));
        assert_true(bus_dispatch(&t.pio, 0xcf8, b, 4, false));
        assert_memory_equal(a, b, 4);
        pci_bus_free(t.pci);
        bus_done(&t.pio);
        bus_done(&t.mmio);
        guest_memory_free(t.mem);
}

static void teardown_bus(T *t) {
        pci_bus_free(t->pci);
        bus_done(&t->pio);
        bus_done(&t->mmio);
        guest_memory_free(t->mem);
}

typedef struct Moves {
        unsigned n;
        unsigned bar[8];
        uint64_t addr[8];
} Moves;

static void record_move(void *opaque, unsigned bar, uint64_t addr) {
        Moves *m = opaque;
        if (m->n < 8) {
                m->bar[m->n] = bar;
                m->addr[m->n] = addr;
        }
        m->n++;
}

static const PciDeviceOps record_ops = { .bar_moved = record_move };

static int bad_window(uint64_t base, uint64_t size) {
        PciBus *b = NULL;
        int r = pci_bus_new(&(PciBusParams) { .mmio_base = base, .mmio_size = size }, NULL, NULL, &b);

        assert_null(b);
        return r;
}

/* Slots: the lowest free one, or the one asked for; BARs in the slot's share; both free again once the
 * device is removed. */
static void test_pci_slots(void **state) {
        PciDevice *a, *b, *c, *d[PCI_SLOTS];
        Moves moves = {};
        Capture cap;
        char *log;
        T t;

        /* Windows that do not split into aligned power-of-two shares below 4 GiB. */
        capture_begin(&cap);
        assert_int_equal(bad_window(MMIO_BASE, 3 << 20), -EINVAL);
        assert_int_equal(bad_window(MMIO_BASE + 4096, MMIO_SIZE), -EINVAL);
        assert_int_equal(bad_window(MMIO_BASE, 64 << 10), -EINVAL);
        assert_int_equal(bad_window(0xf0000000, MMIO_SIZE), -EINVAL);
        log = capture_end(&cap);
        assert_non_null(strstr(log, "PCI window 0xc0000000+0x300000 does not split into 32 aligned slot shares "
                                    "below 4 GiB\n"));
        free(log);

        setup_bus(&t);
        assert_int_equal(pci_bus_add_device(t.pci, 0x1af4, 0x1044, 0xff0000, &record_ops, &moves, &a), 0);
        assert_int_equal(a->slot, 1);
        assert_int_equal(pci_bus_add_device_at(t.pci, 5, 0x1af4, 0x1044, 0xff0000, NULL, NULL, &b), 0);
        assert_int_equal(b->slot, 5);
        assert_int_equal(pci_bus_add_device_at(t.pci, 5, 0x1af4, 0x1044, 0xff0000, NULL, NULL, &c), -EBUSY);
        assert_int_equal(pci_bus_add_device_at(t.pci, 0, 0x1af4, 0x1044, 0xff0000, NULL, NULL, &c), -EBUSY);
        assert_int_equal(pci_bus_add_device_at(t.pci, PCI_SLOTS, 0x1af4, 0x1044, 0xff0000, NULL, NULL, &c),
                         -EINVAL);
        assert_int_equal(pci_bus_add_device(t.pci, 0x1af4, 0x1044, 0xff0000, NULL, NULL, &c), 0);
        assert_int_equal(c->slot, 2);

        /* BARs: naturally aligned in the slot's share, which they cannot leave. */
        assert_int_equal(pci_device_add_bar(a, 0, 4096), 0);
        assert_int_equal(pci_device_add_bar(a, 1, 0x8000), 0);
        assert_int_equal(pci_config_get(a, PCI_BAR0, 4), MMIO_BASE + SHARE);
        assert_int_equal(pci_config_get(a, PCI_BAR0 + 4, 4), MMIO_BASE + SHARE + 0x8000);
        assert_int_equal(pci_device_add_bar(a, 2, SHARE), -ENOSPC);
        assert_int_equal(pci_device_add_bar(b, 0, SHARE), 0);
        assert_int_equal(pci_config_get(b, PCI_BAR0, 4), MMIO_BASE + 5 * SHARE);
        assert_int_equal(pci_device_add_bar(b, 1, 4096), -ENOSPC);
        assert_int_equal(pci_device_add_bar(c, 0, 2 * SHARE), -ENOSPC);

        /* Removal tells the device that its decoding BARs stop, and only those. */
        cfg_write(&t, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
        assert_int_equal(moves.n, 2);
        cfg_write(&t, 1, PCI_BAR0 + 4, 0xffffffff, 4); /* sizing: BAR 1 decodes nowhere */
        assert_int_equal(moves.n, 3);
        assert_int_equal(moves.addr[2], 0);
        moves = (Moves) {};
        pci_bus_remove_device(t.pci, a);
        assert_int_equal(moves.n, 1);
        assert_int_equal(moves.bar[0], 0);
        assert_int_equal(moves.addr[0], 0);
        assert_int_equal(cfg_read(&t, 1, PCI_VENDOR_ID, 4), 0xffffffff);
        pci_bus_remove_device(t.pci, NULL);

        /* Slot 1 and its share are free again. */
        assert_int_equal(pci_bus_add_device(t.pci, 0x1af4, 0x1041, 0x020000, NULL, NULL, &a), 0);
        assert_int_equal(a->slot, 1);
        assert_int_equal(pci_device_add_bar(a, 0, SHARE), 0);
        assert_int_equal(pci_config_get(a, PCI_BAR0, 4), MMIO_BASE + SHARE);
        assert_int_equal(cfg_read(&t, 1, PCI_DEVICE_ID, 2), 0x1041);

        /* Fill the bus: 28 more, then no slot is left. */
        for (unsigned i = 0; i < PCI_SLOTS - 4; i++)
                assert_int_equal(pci_bus_add_device(t.pci, 0x1af4, 0x1044, 0xff0000, NULL, NULL, &d[i]), 0);
        assert_int_equal(d[0]->slot, 3);
        assert_int_equal(d[PCI_SLOTS - 5]->slot, PCI_SLOTS - 1);
        assert_int_equal(pci_bus_add_device(t.pci, 0x1af4, 0x1044, 0xff0000, NULL, NULL, &d[PCI_SLOTS - 4]),
                         -ENOSPC);
        pci_bus_remove_device(t.pci, d[10]);
        assert_int_equal(pci_bus_add_device(t.pci, 0x1af4, 0x1044, 0xff0000, NULL, NULL, &d[10]), 0);
        assert_int_equal(d[10]->slot, 14);

        teardown_bus(&t); /* frees what is left in the slots */
}

static Disk *open_disk(const char *path, bool read_only) {
        Disk *disk;
        int fd;

        assert_int_equal(disk_open_path(path, read_only, "disk0", &fd), 0);
        assert_int_equal(disk_new(fd, &(DiskParams) { .label = "disk0", .read_only = read_only }, &disk), 0);
        return disk;
}

static void test_blk(void **state) {
        char path[] = "/var/tmp/test-virtio-pci-XXXXXX";
        int fd = mkstemp(path);
        uint8_t hdr[16] = {}, status = 0xff, data[4096], back[4096];
        VirtioDevice *dev;
        VirtioPci *vp;
        Disk *disk;
        T t;

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 1 << 20), 0);
        close(fd);
        setup_bus(&t);
        disk = open_disk(path, false);
        assert_int_equal(virtio_blk_new(t.mem, "disk0", disk, "serial-0123456789abcdef", &dev), 0);
        assert_int_equal(virtio_pci_new(t.pci, NULL, -EBADF, dev, &vp), 0);
        assert_int_equal(virtio_device_start_thread(virtio_pci_device(vp)), 0);
        probe(&t, 1, 0x1042);
        assert_int_equal((uint64_t) t.device << 12, VIRTIO_PCI_DEVICE_OFFSET);
        assert_int_equal(bar_read(&t, VIRTIO_PCI_DEVICE_OFFSET, 8), (1 << 20) / 512); /* capacity */
        assert_int_equal(bar_read(&t, 0x12, 2), 1);                                    /* one queue */
        uint64_t f = bring_up(&t);
        assert_true(f & (1ULL << 9)); /* FLUSH */

        /* Write 4 KiB at sector 8: header, data, status. */
        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (uint8_t) (i * 7);
        hdr[0] = 1; /* VIRTIO_BLK_T_OUT */
        hdr[8] = 8;
        assert_int_equal(guest_write(t.mem, BUFS, hdr, 16), 0);
        assert_int_equal(guest_write(t.mem, BUFS + 0x1000, data, sizeof data), 0);
        put_desc(&t, 0, BUFS, 16, 1, 1);
        put_desc(&t, 1, BUFS + 0x1000, sizeof data, 1, 2);
        put_desc(&t, 2, BUFS + 0x3000, 1, 2, 0);
        assert_int_equal(submit(&t, 0), 1);
        assert_int_equal(guest_read(t.mem, BUFS + 0x3000, &status, 1), 0);
        assert_int_equal(status, 0);
        fd = open(path, O_RDONLY);
        assert_int_equal(pread(fd, back, sizeof back, 8 * 512), (ssize_t) sizeof back);
        close(fd);
        assert_memory_equal(back, data, sizeof data);

        /* Read it back into guest memory. */
        hdr[0] = 0; /* VIRTIO_BLK_T_IN */
        assert_int_equal(guest_write(t.mem, BUFS, hdr, 16), 0);
        put_desc(&t, 1, BUFS + 0x5000, sizeof data, 1 | 2, 2);
        assert_int_equal(submit(&t, 0), sizeof data + 1);
        assert_int_equal(guest_read(t.mem, BUFS + 0x5000, back, sizeof back), 0);
        assert_memory_equal(back, data, sizeof data);

        /* Past the end: an I/O error for the guest, not a broken device. */
        hdr[8] = 0;
        hdr[9] = 0x08; /* sector 2048 = 1 MiB, the end */
        assert_int_equal(guest_write(t.mem, BUFS, hdr, 16), 0);
        assert_int_equal(submit(&t, 0), 1);
        assert_int_equal(guest_read(t.mem, BUFS + 0x3000, &status, 1), 0);
        assert_int_equal(status, 1);

        /* GET_ID: the serial, 20 bytes, not NUL-terminated. */
        memset(hdr, 0, sizeof hdr);
        hdr[0] = 8;
        assert_int_equal(guest_write(t.mem, BUFS, hdr, 16), 0);
        put_desc(&t, 0, BUFS, 16, 1, 1);
        put_desc(&t, 1, BUFS + 0x5000, 20, 1 | 2, 2);
        assert_int_equal(submit(&t, 0), 21);
        assert_int_equal(guest_read(t.mem, BUFS + 0x5000, back, 20), 0);
        assert_memory_equal(back, "serial-0123456789abc", 20);

        /* Flush. */
        hdr[0] = 4;
        assert_int_equal(guest_write(t.mem, BUFS, hdr, 16), 0);
        put_desc(&t, 0, BUFS, 16, 1, 2);
        assert_int_equal(submit(&t, 0), 1);
        assert_int_equal(guest_read(t.mem, BUFS + 0x3000, &status, 1), 0);
        assert_int_equal(status, 0);

        /* A request with no status byte breaks the protocol: NEEDS_RESET, and vmm carries on. */
        put_desc(&t, 0, BUFS, 16, 0, 0);
        (void) submit_full(&t, 0, false);
        assert_true(bar_read(&t, 0x14, 1) & 64);
        /* A reset clears it and the device works again. */
        avail_idx = 0;
        memset(data, 0, sizeof data);
        assert_int_equal(guest_write(t.mem, AVAIL, data, 64), 0);
        assert_int_equal(guest_write(t.mem, USED, data, 256), 0);
        bring_up(&t);
        put_desc(&t, 0, BUFS, 16, 1, 2);
        assert_int_equal(submit(&t, 0), 1);

        virtio_pci_free(vp);
        pci_bus_free(t.pci);
        bus_done(&t.pio);
        bus_done(&t.mmio);
        guest_memory_free(t.mem);
        unlink(path);
}

/* A read-only disk: the guest is told (VIRTIO_BLK_F_RO), and a write that comes anyway is an I/O
 * error that leaves the image alone. */
static void test_blk_read_only(void **state) {
        char path[] = "/var/tmp/test-virtio-pci-XXXXXX";
        int fd = mkstemp(path);
        uint8_t hdr[16] = { 1 /* VIRTIO_BLK_T_OUT */ }, status = 0xff, data[512], back[512];
        VirtioDevice *dev;
        VirtioPci *vp;
        Disk *disk;
        T t;

        assert_true(fd >= 0);
        memset(data, 0xab, sizeof data);
        assert_int_equal(pwrite(fd, data, sizeof data, 0), (ssize_t) sizeof data);
        assert_int_equal(ftruncate(fd, 64 << 10), 0);
        close(fd);
        setup_bus(&t);
        disk = open_disk(path, true);
        assert_int_equal(virtio_blk_new(t.mem, "disk0", disk, "ro", &dev), 0);
        assert_int_equal(virtio_pci_new(t.pci, NULL, -EBADF, dev, &vp), 0);
        assert_int_equal(virtio_device_start_thread(virtio_pci_device(vp)), 0);
        probe(&t, 1, 0x1042);
        assert_true(bring_up(&t) & (1ULL << 5)); /* VIRTIO_BLK_F_RO offered */

        memset(data, 0, sizeof data);
        assert_int_equal(guest_write(t.mem, BUFS, hdr, 16), 0);
        assert_int_equal(guest_write(t.mem, BUFS + 0x1000, data, sizeof data), 0);
        put_desc(&t, 0, BUFS, 16, 1, 1);
        put_desc(&t, 1, BUFS + 0x1000, sizeof data, 1, 2);
        put_desc(&t, 2, BUFS + 0x3000, 1, 2, 0);
        assert_int_equal(submit(&t, 0), 1);
        assert_int_equal(guest_read(t.mem, BUFS + 0x3000, &status, 1), 0);
        assert_int_equal(status, 1); /* VIRTIO_BLK_S_IOERR */
        fd = open(path, O_RDONLY);
        assert_int_equal(pread(fd, back, sizeof back, 0), (ssize_t) sizeof back);
        close(fd);
        memset(data, 0xab, sizeof data);
        assert_memory_equal(back, data, sizeof data);

        virtio_pci_free(vp);
        pci_bus_free(t.pci);
        bus_done(&t.pio);
        bus_done(&t.mmio);
        guest_memory_free(t.mem);
        unlink(path);
}

static void test_rng_msix_and_hostile(void **state) {
        uint8_t buf[64] = {}, zero[64] = {};
        VirtioDevice *dev;
        VirtioPci *vp;
        T t;

        setup_bus(&t);
        assert_int_equal(virtio_rng_new(t.mem, "rng0", &dev), 0);
        assert_int_equal(virtio_pci_new(t.pci, NULL, -EBADF, dev, &vp), 0);
        assert_int_equal(virtio_device_start_thread(virtio_pci_device(vp)), 0);
        probe(&t, 1, 0x1044);
        bring_up(&t);

        /* MSI-X left masked: the interrupt shows up as pending in the PBA. */
        put_desc(&t, 0, BUFS, sizeof buf, 2, 0);
        assert_int_equal(submit(&t, 0), sizeof buf);
        assert_int_equal(guest_read(t.mem, BUFS, buf, sizeof buf), 0);
        assert_memory_not_equal(buf, zero, sizeof buf);
        assert_true(bar_read(&t, VIRTIO_PCI_MSIX_PBA_OFFSET, 8) & 1);

        /* A descriptor pointing past guest RAM: the device breaks, nothing is written anywhere. */
        put_desc(&t, 0, RAM - 16, 64, 2, 0);
        (void) submit_full(&t, 0, false);
        assert_true(bar_read(&t, 0x14, 1) & 64);

        /* Hostile register writes: out-of-range queue select, odd sizes, a BAR moved over RAM. */
        bar_write(&t, 0x16, 7, 2);
        assert_int_equal(bar_read(&t, 0x18, 2), 0);
        bar_write(&t, 0x18, 3, 2);
        bar_write(&t, 0x1234, 0xdead, 8);
        cfg_write(&t, 1, PCI_BAR0, 0x1000, 4);
        t.bar = 0x1000;
        assert_int_equal(bar_read(&t, 0x12, 2), 0xffff); /* decodes nowhere */

        virtio_pci_free(vp);
        pci_bus_free(t.pci);
        bus_done(&t.pio);
        bus_done(&t.mmio);
        guest_memory_free(t.mem);
}

/* For the net test: queue q's avail ring gets head, at the driver's index *idx. */
static void net_add(T *t, uint16_t q, uint16_t head, uint16_t *idx) {
        uint64_t avail = AVAIL + q * QSTRIDE;

        assert_int_equal(guest_write(t->mem, avail + 4 + 2 * (*idx % 16), &head, 2), 0);
        (*idx)++;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        assert_int_equal(guest_write(t->mem, avail + 2, idx, 2), 0);
        bar_write(t, VIRTIO_PCI_NOTIFY_OFFSET + q * VIRTIO_PCI_NOTIFY_MULTIPLIER, q, 2);
}

/* Waits up to timeout_ms for queue q's used index to reach want; returns the last element's length,
 * or UINT32_MAX if it did not get there. */
static uint32_t net_used(T *t, uint16_t q, uint16_t want, int timeout_ms) {
        uint64_t used = USED + q * QSTRIDE;
        uint16_t idx = 0;
        uint32_t len;

        for (int i = 0; i < timeout_ms; i++) {
                assert_int_equal(guest_read(t->mem, used + 2, &idx, 2), 0);
                if (idx == want)
                        break;
                usleep(1000);
        }
        if (idx != want)
                return UINT32_MAX;
        assert_int_equal(guest_read(t->mem, used + 4 + 8 * ((idx - 1) % 16) + 4, &len, 4), 0);
        return len;
}

/* virtio-net with one end of a datagram socketpair as its tap: receive, transmit, and a frame that waits
 * for the driver's next receive buffer. */
static void test_net(void **state) {
        static const uint8_t mac[6] = { 0x02, 0x53, 0x44, 0x56, 0x4d, 0x01 };
        uint8_t frame[12 + 64], buf[2048], cfg[6];
        uint16_t rx_idx = 0, tx_idx = 0, num_buffers;
        VirtioDevice *dev;
        VirtioPci *vp;
        int sp[2];
        T t;

        setup_bus(&t);
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(virtio_net_new(t.mem, "net0", sp[0], mac, &dev), 0);
        assert_int_equal(virtio_pci_new(t.pci, NULL, -EBADF, dev, &vp), 0);
        assert_int_equal(virtio_device_start_thread(virtio_pci_device(vp)), 0);
        probe(&t, 1, 0x1041);
        for (unsigned i = 0; i < sizeof cfg; i++)
                cfg[i] = (uint8_t) bar_read(&t, VIRTIO_PCI_DEVICE_OFFSET + i, 1);
        assert_memory_equal(cfg, mac, sizeof mac);
        assert_int_equal(bar_read(&t, 0x12, 2), 2); /* receive and transmit */
        bring_up_n(&t, 2);

        /* Receive: a buffer, then a frame from the tap, which lands in it after the header as it came,
         * with num_buffers set to 1. */
        for (size_t i = 0; i < sizeof frame; i++)
                frame[i] = (uint8_t) (i < 10 ? 0 : i);
        put_desc_at(&t, DESC, 0, BUFS, 1526, 2, 0);
        net_add(&t, 0, 0, &rx_idx);
        assert_int_equal(send(sp[1], frame, sizeof frame, 0), (ssize_t) sizeof frame);
        assert_int_equal(net_used(&t, 0, 1, 5000), sizeof frame);
        assert_int_equal(guest_read(t.mem, BUFS, buf, sizeof frame), 0);
        memcpy(&num_buffers, buf + 10, 2);
        assert_int_equal(num_buffers, 1);
        assert_memory_equal(buf, frame, 10);
        assert_memory_equal(buf + 12, frame + 12, sizeof frame - 12);

        /* Transmit: header and payload in two descriptors arrive on the other end as one frame. */
        memset(buf, 0, 12);
        for (size_t i = 0; i < 64; i++)
                buf[12 + i] = (uint8_t) (0xa0 ^ i);
        assert_int_equal(guest_write(t.mem, BUFS + 0x1000, buf, 12), 0);
        assert_int_equal(guest_write(t.mem, BUFS + 0x1100, buf + 12, 64), 0);
        put_desc_at(&t, DESC + QSTRIDE, 0, BUFS + 0x1000, 12, 1, 1);
        put_desc_at(&t, DESC + QSTRIDE, 1, BUFS + 0x1100, 64, 0, 0);
        net_add(&t, 1, 0, &tx_idx);
        assert_int_equal(net_used(&t, 1, 1, 5000), 0);
        uint8_t got[256];
        assert_int_equal(recv(sp[1], got, sizeof got, 0), 12 + 64);
        assert_memory_equal(got, buf, 12 + 64);

        /* Out of receive buffers: the frame waits in the tap... */
        frame[20] = 0x77;
        assert_int_equal(send(sp[1], frame, sizeof frame, 0), (ssize_t) sizeof frame);
        assert_int_equal(net_used(&t, 0, 2, 200), UINT32_MAX);
        /* ...until the driver adds a buffer and kicks. */
        put_desc_at(&t, DESC, 1, BUFS + 0x2000, 1526, 2, 0);
        net_add(&t, 0, 1, &rx_idx);
        assert_int_equal(net_used(&t, 0, 2, 5000), sizeof frame);
        assert_int_equal(guest_read(t.mem, BUFS + 0x2000, buf, sizeof frame), 0);
        assert_int_equal(buf[20], 0x77);
        memcpy(&num_buffers, buf + 10, 2);
        assert_int_equal(num_buffers, 1);
        assert_int_equal(bar_read(&t, 0x14, 1), 1 | 2 | 8 | 4); /* no NEEDS_RESET on the way */

        virtio_pci_free(vp);
        close(sp[1]);
        pci_bus_free(t.pci);
        bus_done(&t.pio);
        bus_done(&t.mmio);
        guest_memory_free(t.mem);
}

/* A counter of the model, as Inspect reads it. */
static uint64_t counter(VirtioDevice *d, const char *name) {
        VirtioCounter c[VIRTIO_COUNTERS_MAX];
        size_t n;

        pthread_mutex_lock(&d->lock);
        n = d->ops->counters(d, c, ELEMENTSOF(c));
        pthread_mutex_unlock(&d->lock);
        for (size_t i = 0; i < n; i++)
                if (strcmp(c[i].name, name) == 0)
                        return c[i].value;
        fail_msg("no counter %s", name);
        return 0;
}

#define PAUSE_FRAMES 3
#define PAUSE_BUF(i) (BUFS + 0x10000ULL * (i))
#define PAUSE_BUF_LEN 1526

/* Net with PAUSE_FRAMES receive buffers filled with a pattern, on a new bus; start_thread or not. */
static VirtioPci *pause_setup(T *t, int sp[2], bool start_thread, uint16_t *rx_idx) {
        static const uint8_t mac[6] = { 0x02, 0x53, 0x44, 0x56, 0x4d, 0x02 };
        uint8_t pattern[PAUSE_BUF_LEN];
        VirtioDevice *dev;
        VirtioPci *vp;

        setup_bus(t);
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(virtio_net_new(t->mem, "net0", sp[0], mac, &dev), 0);
        assert_int_equal(virtio_pci_new(t->pci, NULL, -EBADF, dev, &vp), 0);
        if (start_thread)
                assert_int_equal(virtio_device_start_thread(virtio_pci_device(vp)), 0);
        probe(t, 1, 0x1041);
        bring_up_n(t, 2);
        memset(pattern, 0xee, sizeof pattern);
        *rx_idx = 0;
        for (uint16_t i = 0; i < PAUSE_FRAMES; i++) {
                assert_int_equal(guest_write(t->mem, PAUSE_BUF(i), pattern, sizeof pattern), 0);
                put_desc_at(t, DESC, i, PAUSE_BUF(i), PAUSE_BUF_LEN, 2, 0);
                net_add(t, 0, i, rx_idx);
        }
        return vp;
}

static void pause_teardown(T *t, VirtioPci *vp, int sp[2]) {
        virtio_pci_free(vp);
        close(sp[1]);
        pci_bus_free(t->pci);
        bus_done(&t->pio);
        bus_done(&t->mmio);
        guest_memory_free(t->mem);
}

static void send_frames(int fd, uint8_t tag) {
        uint8_t frame[12 + 64] = {};

        for (int i = 0; i < PAUSE_FRAMES; i++) {
                memset(frame + 12, tag + i, sizeof frame - 12);
                assert_int_equal(send(fd, frame, sizeof frame, 0), (ssize_t) sizeof frame);
        }
}

/* Pause with the real I/O thread: frames from the tap, a transmit and kicks all wait, guest RAM and the
 * counters stay as they were and no interrupt is raised; after resume all of it happens. Then free
 * while paused. */
static void test_net_pause(void **state) {
        uint8_t before[PAUSE_FRAMES][PAUSE_BUF_LEN], now[PAUSE_BUF_LEN], got[256];
        uint16_t rx_idx, tx_idx = 0, used;
        uint64_t pba;
        VirtioDevice *dev;
        VirtioPci *vp;
        int sp[2];
        T t;

        vp = pause_setup(&t, sp, true, &rx_idx);
        dev = virtio_pci_device(vp);
        /* Running: the first frame lands, so the path works before the pause. */
        send_frames(sp[1], 0x10);
        assert_int_equal(net_used(&t, 0, PAUSE_FRAMES, 5000), 12 + 64);
        assert_int_equal(counter(dev, "rxFrames"), PAUSE_FRAMES);
        /* Fresh buffers for the paused part. */
        for (uint16_t i = 0; i < PAUSE_FRAMES; i++)
                net_add(&t, 0, i, &rx_idx);
        for (uint16_t i = 0; i < PAUSE_FRAMES; i++)
                assert_int_equal(guest_read(t.mem, PAUSE_BUF(i), before[i], PAUSE_BUF_LEN), 0);

        assert_int_equal(virtio_device_pause(dev), 0);
        assert_int_equal(virtio_device_pause(dev), 0); /* again: nothing more */
        pba = bar_read(&t, VIRTIO_PCI_MSIX_PBA_OFFSET, 8);
        assert_false(pba & 2); /* the transmit queue has not interrupted yet */
        send_frames(sp[1], 0x40);
        /* A transmit and a kick of both queues, as a vCPU would do them. */
        memset(got, 0, 12);
        memset(got + 12, 0x5a, 64);
        assert_int_equal(guest_write(t.mem, BUFS + 0x100000, got, 12 + 64), 0);
        put_desc_at(&t, DESC + QSTRIDE, 0, BUFS + 0x100000, 12 + 64, 0, 0);
        net_add(&t, 1, 0, &tx_idx);
        bar_write(&t, VIRTIO_PCI_NOTIFY_OFFSET, 0, 2);
        usleep(200 * 1000);
        assert_int_equal(guest_read(t.mem, USED + 2, &used, 2), 0);
        assert_int_equal(used, PAUSE_FRAMES);
        assert_int_equal(guest_read(t.mem, USED + QSTRIDE + 2, &used, 2), 0);
        assert_int_equal(used, 0);
        for (uint16_t i = 0; i < PAUSE_FRAMES; i++) {
                assert_int_equal(guest_read(t.mem, PAUSE_BUF(i), now, PAUSE_BUF_LEN), 0);
                assert_memory_equal(now, before[i], PAUSE_BUF_LEN);
        }
        assert_int_equal(counter(dev, "rxFrames"), PAUSE_FRAMES);
        assert_int_equal(counter(dev, "txFrames"), 0);
        assert_int_equal(recv(sp[1], got, sizeof got, 0), -1); /* nothing transmitted */
        assert_int_equal(bar_read(&t, VIRTIO_PCI_MSIX_PBA_OFFSET, 8), pba);
        /* The transport still answers: the parked thread holds no lock. */
        assert_int_equal(bar_read(&t, 0x14, 1), 1 | 2 | 8 | 4);

        /* Resume: what waited arrives, in order. */
        virtio_device_resume(dev);
        virtio_device_resume(dev); /* again: nothing more */
        assert_int_equal(net_used(&t, 0, 2 * PAUSE_FRAMES, 5000), 12 + 64);
        for (uint16_t i = 0; i < PAUSE_FRAMES; i++) {
                assert_int_equal(guest_read(t.mem, PAUSE_BUF(i) + 12, now, 64), 0);
                assert_int_equal(now[0], 0x40 + i);
                assert_int_equal(now[63], 0x40 + i);
        }
        assert_int_equal(counter(dev, "rxFrames"), 2 * PAUSE_FRAMES);
        assert_int_equal(net_used(&t, 1, 1, 5000), 0);
        assert_int_equal(counter(dev, "txFrames"), 1);
        assert_true(bar_read(&t, VIRTIO_PCI_MSIX_PBA_OFFSET, 8) & 2); /* its interrupt came now */
        for (int i = 0; i < 5000 && recv(sp[1], got, sizeof got, 0) < 0; i++)
                usleep(1000);
        assert_int_equal(got[20], 0x5a);

        /* Free while paused, with frames waiting: the parked thread ends, nothing hangs. */
        assert_int_equal(virtio_device_pause(dev), 0);
        send_frames(sp[1], 0x70);
        pause_teardown(&t, vp, sp);
}

/* No I/O thread (tests and fuzzers dispatch by hand): a paused device's dispatch runs nothing. */
static void test_net_pause_unstarted(void **state) {
        uint16_t rx_idx, used;
        VirtioDevice *dev;
        VirtioPci *vp;
        int sp[2];
        T t;

        vp = pause_setup(&t, sp, false, &rx_idx);
        dev = virtio_pci_device(vp);
        assert_int_equal(virtio_device_pause(dev), 0); /* returns at once: no thread to wait for */
        assert_int_equal(virtio_device_pause(dev), 0);
        send_frames(sp[1], 0x20);
        for (int i = 0; i < 10; i++)
                assert_int_equal(virtio_device_dispatch(dev, 0), 0);
        assert_int_equal(guest_read(t.mem, USED + 2, &used, 2), 0);
        assert_int_equal(used, 0);
        assert_int_equal(counter(dev, "rxFrames"), 0);

        virtio_device_resume(dev);
        virtio_device_resume(dev);
        for (int i = 0; i < 100 && virtio_device_dispatch(dev, 0) > 0; i++)
                ;
        assert_int_equal(net_used(&t, 0, PAUSE_FRAMES, 1), 12 + 64);
        assert_int_equal(counter(dev, "rxFrames"), PAUSE_FRAMES);

        assert_int_equal(virtio_device_pause(dev), 0);
        pause_teardown(&t, vp, sp);
}

/* Three devices, the middle one (driver bound) removed, another added: it takes the freed slot and BAR
 * share, the removed one answers nothing, the others carry on. */
static void test_remove_and_reuse(void **state) {
        static const uint8_t mac[6] = { 0x02, 0x53, 0x44, 0x56, 0x4d, 0x02 };
        uint8_t buf[64] = {}, zero[64] = {};
        VirtioDevice *dev;
        VirtioPci *vp[3], *net;
        uint64_t bar[3];
        int sp[2];
        T t;

        setup_bus(&t);
        for (unsigned i = 0; i < 3; i++) {
                char id[8];
                snprintf(id, sizeof id, "rng%u", i);
                assert_int_equal(virtio_rng_new(t.mem, id, &dev), 0);
                assert_int_equal(virtio_pci_new(t.pci, NULL, -EBADF, dev, &vp[i]), 0);
                assert_int_equal(virtio_device_start_thread(virtio_pci_device(vp[i])), 0);
                assert_int_equal(virtio_pci_pci_device(vp[i])->slot, 1 + i);
                probe(&t, 1 + i, 0x1044);
                bar[i] = t.bar;
                assert_int_equal(bar[i], MMIO_BASE + (1 + i) * SHARE);
        }
        t.bar = bar[1];
        bring_up(&t);

        virtio_pci_free(vp[1]);
        /* Gone from config space and from the window: reads are all-ones, writes go nowhere. */
        assert_int_equal(cfg_read(&t, 2, PCI_VENDOR_ID, 4), 0xffffffff);
        assert_int_equal(bar_read(&t, 0x12, 2), 0xffff);
        assert_int_equal(bar_read(&t, 0x14, 1), 0xff);
        assert_int_equal(bar_read(&t, VIRTIO_PCI_MSIX_TABLE_OFFSET, 4), 0xffffffff);
        bar_write(&t, 0x14, 0, 1);

        /* The neighbours still work: the one after it serves a request. */
        t.bar = bar[0];
        assert_int_equal(bar_read(&t, 0x12, 2), 1);
        assert_int_equal(cfg_read(&t, 3, PCI_VENDOR_ID, 2), 0x1af4);
        t.bar = bar[2];
        t.slot = 3;
        bring_up(&t);
        put_desc(&t, 0, BUFS, sizeof buf, 2, 0);
        assert_int_equal(submit(&t, 0), sizeof buf);
        assert_int_equal(guest_read(t.mem, BUFS, buf, sizeof buf), 0);
        assert_memory_not_equal(buf, zero, sizeof buf);

        /* A new device takes the freed slot and its share, and works. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(virtio_net_new(t.mem, "net0", sp[0], mac, &dev), 0);
        assert_int_equal(virtio_pci_new(t.pci, NULL, -EBADF, dev, &net), 0);
        assert_int_equal(virtio_device_start_thread(virtio_pci_device(net)), 0);
        assert_int_equal(virtio_pci_pci_device(net)->slot, 2);
        probe(&t, 2, 0x1041);
        assert_int_equal(t.bar, bar[1]);
        assert_int_equal(bar_read(&t, 0x12, 2), 2);
        assert_int_equal(bar_read(&t, VIRTIO_PCI_DEVICE_OFFSET, 1), mac[0]);

        virtio_pci_free(net);
        virtio_pci_free(vp[0]);
        virtio_pci_free(vp[2]);
        close(sp[1]);
        teardown_bus(&t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_host_bridge_and_absent),
                cmocka_unit_test(test_pci_slots),
                cmocka_unit_test(test_remove_and_reuse),
                cmocka_unit_test(test_blk),
                cmocka_unit_test(test_blk_read_only),
                cmocka_unit_test(test_rng_msix_and_hostile),
                cmocka_unit_test(test_net),
                cmocka_unit_test(test_net_pause),
                cmocka_unit_test(test_net_pause_unstarted),
        };
        log_set_max_level(LOG_ERR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
