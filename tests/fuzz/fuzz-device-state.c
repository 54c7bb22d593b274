/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Hostile saved state restored into a virtio-pci device (blk, rng or net). The input is one byte, then
 * edits. Bits 0-1 of the byte, % 3, pick the device (blk, rng, net); with bit 2 clear the source device
 * is brought up the way Linux does it and completes a request first, with it set it is only built. The
 * source saves its VirtioPciState, each edit (u16 offset % the record's size, then a u8, little-endian)
 * XORs the u8 into that byte, and a fresh device of the same kind, on its own bus over the same guest
 * RAM, restores the result. Guest RAM is 64 KiB in an exactly sized heap buffer, so that under ASan any
 * access outside it is caught.
 *
 * After every input these must hold, or the fuzzer aborts:
 *   - restore returns 0 or -EINVAL, and virtio_pci_restore_check() said the same; 0 for a record
 *     without edits;
 *   - refused: the device saves exactly what it saved before;
 *   - accepted: the device saves the record it was given, but for the pending MSI-X bits of vectors
 *     that are not masked, which restore delivers (and clears);
 *   - then, with every queue kicked (and a frame on the net device's tap), its dispatch loop comes to
 *     rest. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/disk.h"
#include "core/bus.h"
#include "core/memory.h"
#include "device/pci/pci.h"
#include "device/virtio/blk.h"
#include "device/virtio/net.h"
#include "device/virtio/rng.h"
#include "device/virtio/virtio-pci.h"
#include "fuzz.h"
#include "log.h"

#define MMIO_BASE UINT64_C(0xc0000000)
#define MMIO_SIZE UINT64_C(0x100000)
#define RAM_SIZE (64 * 1024)
#define DISK_SIZE (64 * 1024)
#define QSIZE 16
#define RINGS(q) (0x1000 + (uint64_t) (q) * 0x4000) /* desc there, avail +0x1000, used +0x2000 */
#define BUFS 0x9000
#define DISPATCH_ROUNDS_MAX 64

#define check(expr)                                                                               \
        do {                                                                                      \
                if (!(expr)) {                                                                    \
                        fprintf(stderr, "fuzz-device-state: check failed, line %d: %s\n", __LINE__, \
                                #expr);                                                           \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

enum { BLK, RNG, NET, N_KINDS };

typedef struct Side {
        Bus pio, mmio;
        PciBus *pci;
        VirtioPci *vp;
        VirtioDevice *d;
        uint64_t bar;
        int peer; /* net: the other end of the "tap" */
} Side;

static void side_new(Side *s, GuestMemory *mem, unsigned kind) {
        static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 1 };
        VirtioDevice *d;
        int sp[2];

        *s = (Side) { .peer = -EBADF };
        check(bus_init(&s->pio) == 0 && bus_init(&s->mmio) == 0);
        check(pci_bus_new(&(PciBusParams) { .mmio_base = MMIO_BASE, .mmio_size = MMIO_SIZE }, &s->pio,
                          &s->mmio, &s->pci) == 0);
        switch (kind) {
        case BLK: {
                int fd = memfd_create("fuzz-device-state-disk", MFD_CLOEXEC);
                Disk *disk;
                check(fd >= 0 && ftruncate(fd, DISK_SIZE) == 0);
                check(disk_new(fd, &(DiskParams) { .label = "fuzz disk" }, &disk) == 0);
                check(virtio_blk_new(mem, "disk0", disk, "fuzz", &d) == 0);
                break;
        }
        case RNG:
                check(virtio_rng_new(mem, "rng0", &d) == 0);
                break;
        default:
                check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == 0);
                s->peer = sp[1];
                check(virtio_net_new(mem, "net0", sp[0], mac, &d) == 0);
        }
        check(virtio_pci_new(s->pci, NULL, -EBADF, d, &s->vp) == 0);
        s->d = virtio_pci_device(s->vp);
        s->bar = pci_config_get(virtio_pci_pci_device(s->vp), PCI_BAR0, 4) & ~UINT32_C(0xf);
}

static void side_free(Side *s) {
        virtio_pci_free(s->vp);
        pci_bus_free(s->pci);
        bus_done(&s->pio);
        bus_done(&s->mmio);
        if (s->peer >= 0)
                close(s->peer);
}

static void settle(Side *s) {
        unsigned rounds = 0;
        int r;

        while ((r = virtio_device_dispatch(s->d, 0)) > 0)
                check(++rounds < DISPATCH_ROUNDS_MAX);
        check(r == 0);
}

static void bar_write(Side *s, uint64_t off, uint64_t v, uint32_t len) {
        (void) bus_dispatch(&s->mmio, s->bar + off, (uint8_t *) &v, len, true);
}

static uint64_t bar_read(Side *s, uint64_t off, uint32_t len) {
        uint64_t v = 0;
        (void) bus_dispatch(&s->mmio, s->bar + off, (uint8_t *) &v, len, false);
        return v;
}

static void cfg_write(Side *s, unsigned reg, uint32_t v, uint32_t len) {
        uint32_t a = UINT32_C(0x80000000) | 1 << 11 | (reg & 0xfc);
        (void) bus_dispatch(&s->pio, 0xcf8, (uint8_t *) &a, 4, true);
        (void) bus_dispatch(&s->pio, 0xcfc + (reg & 3), (uint8_t *) &v, len, true);
}

static void put_desc(GuestMemory *mem, uint16_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next) {
        uint8_t d[16];
        memcpy(d, &addr, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
        check(guest_write(mem, RINGS(q) + 16 * i, d, 16) == 0);
}

static void add_avail(Side *s, GuestMemory *mem, uint16_t q, uint16_t head) {
        uint16_t idx;
        check(guest_read(mem, RINGS(q) + 0x1000 + 2, &idx, 2) == 0);
        check(guest_write(mem, RINGS(q) + 0x1000 + 4 + 2 * (idx % QSIZE), &head, 2) == 0);
        idx++;
        check(guest_write(mem, RINGS(q) + 0x1000 + 2, &idx, 2) == 0);
        bar_write(s, VIRTIO_PCI_NOTIFY_OFFSET + q * VIRTIO_PCI_NOTIFY_MULTIPLIER, q, 2);
        settle(s);
}

/* Memory decode, MSI-X with vector 0 masked, everything offered, every queue, DRIVER_OK; then a
 * request (blk: a 512-byte read; rng: 64 bytes; net: two receive buffers and a frame for one). */
static void drive(Side *s, GuestMemory *mem, unsigned kind) {
        uint16_t n_queues = s->d->n_queues;
        uint64_t f;

        cfg_write(s, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
        for (uint16_t v = 0; v <= n_queues; v++) {
                bar_write(s, VIRTIO_PCI_MSIX_TABLE_OFFSET + 16 * v, 0xfee00000, 4);
                bar_write(s, VIRTIO_PCI_MSIX_TABLE_OFFSET + 16 * v + 8, 0x40 + v, 4);
                bar_write(s, VIRTIO_PCI_MSIX_TABLE_OFFSET + 16 * v + 12, v == 0, 4);
        }
        bar_write(s, 0x14, 0, 1);
        bar_write(s, 0x14, 1 | 2, 1);
        bar_write(s, 0x00, 0, 4);
        f = bar_read(s, 0x04, 4);
        bar_write(s, 0x00, 1, 4);
        f |= bar_read(s, 0x04, 4) << 32;
        bar_write(s, 0x08, 0, 4);
        bar_write(s, 0x0c, (uint32_t) f, 4);
        bar_write(s, 0x08, 1, 4);
        bar_write(s, 0x0c, (uint32_t) (f >> 32), 4);
        bar_write(s, 0x14, 1 | 2 | 8, 1);
        bar_write(s, 0x10, n_queues, 2);
        for (uint16_t q = 0; q < n_queues; q++) {
                bar_write(s, 0x16, q, 2);
                bar_write(s, 0x18, QSIZE, 2);
                bar_write(s, 0x20, RINGS(q), 4);
                bar_write(s, 0x28, RINGS(q) + 0x1000, 4);
                bar_write(s, 0x30, RINGS(q) + 0x2000, 4);
                bar_write(s, 0x1a, q, 2);
                bar_write(s, 0x1c, 1, 2);
        }
        bar_write(s, 0x14, 1 | 2 | 8 | 4, 1);
        settle(s);

        switch (kind) {
        case BLK: {
                uint8_t hdr[16] = {}; /* VIRTIO_BLK_T_IN, sector 0 */
                check(guest_write(mem, BUFS, hdr, sizeof hdr) == 0);
                put_desc(mem, 0, 0, BUFS, 16, 1, 1);
                put_desc(mem, 0, 1, BUFS + 0x100, 512, 1 | 2, 2);
                put_desc(mem, 0, 2, BUFS + 0x400, 1, 2, 0);
                add_avail(s, mem, 0, 0);
                break;
        }
        case RNG:
                put_desc(mem, 0, 0, BUFS, 64, 2, 0);
                add_avail(s, mem, 0, 0);
                break;
        default: {
                uint8_t frame[12 + 60] = {};
                put_desc(mem, 0, 0, BUFS, 1526, 2, 0);
                put_desc(mem, 0, 1, BUFS + 0x800, 1526, 2, 0);
                add_avail(s, mem, 0, 0);
                add_avail(s, mem, 0, 1);
                check(send(s->peer, frame, sizeof frame, 0) == (ssize_t) sizeof frame);
                settle(s);
        }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static VirtioPciState rec, before, after;
        uint8_t *ram;
        GuestMemory mem;
        unsigned kind;
        Side a, b;
        int r;

        if (size < 1)
                return 0;
        log_set_max_level(LOG_CRIT);
        kind = (data[0] & 3) % N_KINDS;
        ram = calloc(1, RAM_SIZE);
        check(ram);
        mem = (GuestMemory) {
                .memfd = -EBADF,
                .ram_size = RAM_SIZE,
                .n_regions = 1,
                .regions = { { .gpa = 0, .size = RAM_SIZE, .host = ram } },
        };

        side_new(&a, &mem, kind);
        if (!(data[0] & 4))
                drive(&a, &mem, kind);
        virtio_pci_save(a.vp, &rec);
        side_free(&a);
        for (size_t i = 1; i + 3 <= size; i += 3) {
                uint16_t off;
                memcpy(&off, data + i, 2);
                ((uint8_t *) &rec)[off % sizeof rec] ^= data[i + 2];
        }

        side_new(&b, &mem, kind);
        virtio_pci_save(b.vp, &before);
        r = virtio_pci_restore_check(b.vp, &rec);
        check(r == 0 || r == -EINVAL);
        check(virtio_pci_restore(b.vp, &rec) == r);
        if (size < 4) /* no edit: the source's own record */
                check(r == 0);
        if (getenv("FUZZ_DEVICE_STATE_TRACE")) /* to see what a seed reaches */
                fprintf(stderr, "%s: restore %s\n", b.d->id, r < 0 ? "refused" : "accepted");
        virtio_pci_save(b.vp, &after);
        if (r < 0)
                check(memcmp(&before, &after, sizeof before) == 0);
        else {
                check((after.msix.pending & ~rec.msix.pending) == 0);
                after.msix.pending = rec.msix.pending;
                check(memcmp(&rec, &after, sizeof rec) == 0);
        }

        for (uint16_t q = 0; q < b.d->n_queues; q++)
                bar_write(&b, VIRTIO_PCI_NOTIFY_OFFSET + q * VIRTIO_PCI_NOTIFY_MULTIPLIER, q, 2);
        if (b.peer >= 0)
                (void) send(b.peer, (uint8_t[12 + 14]) {}, 12 + 14, 0);
        settle(&b);

        side_free(&b);
        free(ram);
        return 0;
}
