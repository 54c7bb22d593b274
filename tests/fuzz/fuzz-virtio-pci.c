/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The PCI bus, MSI-X, the virtio-pci transport and the virtio-blk, -rng and -net models, driven as a
 * hostile guest can drive them. Behind the bus: virtio-blk on a 64 KiB memfd (slot 1), virtio-rng
 * (slot 2) and virtio-net (slot 3) whose "tap" is one end of a SOCK_DGRAM socketpair. Guest RAM is
 * 64 KiB at 0 and 4 KiB at 4 GiB, separate exactly sized heap buffers, so that under ASan any access
 * outside it is caught.
 *
 * The input is one flags byte (bit 0: the disk is read-only), then a program; each operation is an
 * opcode byte (mod 11) and its operands, little-endian (a program that ends inside one stops there).
 * ACC is u8 flags (bit 0: write; bits 1-2: width 1, 2, 4, 8) then u64 value:
 *
 *   0 PIO    ACC, u8 port: 0xCF8 + port % 8
 *   1 CFG    ACC, u8 slot, u8 register: the 0xCF8 latch (enabled, bus 0), then 0xCFC + register % 4
 *   2 BAR    ACC, u8 device (% 3: blk, rng, net), u16 offset: where that device's BAR0 is programmed
 *   3 MMIO   ACC, u32 offset into the PCI window
 *   4 MEM    u8 region (bit 0: the high one), u16 offset, u8 length, the bytes: the guest writes RAM
 *   5 AVAIL  u8 device, u8 queue, u16 head: the guest adds head to the avail ring it programmed
 *   6 KICK   u8 device, u8 queue: a 16-bit write of the queue index to its notify register
 *   7 FRAME  u16 length, u8 count, count bytes: a frame of length bytes, those and then 0x5a, into
 *            the net device's tap
 *   8 UP     u8 device, u8 log2 queue size, u8 feature changes (bit 0: no EVENT_IDX, 1: no
 *            INDIRECT_DESC, 2: no VERSION_1, 3: one not offered), u8 base: what Linux does, from memory
 *            decode on and reset to DRIVER_OK; queue q's rings (zeroed first) at base * 256 + q * 8 KiB:
 *            desc there, avail 4 KiB and used 5 KiB further
 *   9 MSIX   u8 device, u8 flags (bit 0: enable, 1: mask all, 2: mask the vectors): found through the
 *            capability list like a driver does
 *  10 DRAIN  reads what the net device transmitted
 *
 * The devices' I/O threads are not started: after every operation the fuzzer runs each device's
 * dispatch loop (virtio_device_dispatch(), the thread's body) until nothing is ready, so that what a
 * device does between two guest accesses is deterministic and every input replays exactly. Kicks go the
 * way they go without KVM, through the notify register's MMIO handler into the kick eventfd.
 *
 * After every operation these must hold, or the fuzzer aborts:
 *   - the device status has only bits the driver wrote, or NEEDS_RESET; the driver's bits stay as
 *     written (FEATURES_OK may be refused); NEEDS_RESET stays until the driver writes 0;
 *   - a device with NEEDS_RESET takes and completes no more buffers until reset, and a broken queue
 *     means NEEDS_RESET;
 *   - the dispatch loop comes to rest (the I/O thread would otherwise spin);
 *   - config space changed only in bits the guest may write;
 *   - the device's saved record (virtio_pci_save()) passes its own restore check: no state a guest can
 *     reach is one a restore would refuse;
 *   - the disk file keeps its size; a frame the device transmits has a header and fits a GSO frame. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bus.h"
#include "device/pci/pci.h"
#include "backend/disk.h"
#include "fuzz.h"
#include "log.h"
#include "core/memory.h"
#include "device/virtio/blk.h"
#include "device/virtio/net.h"
#include "device/virtio/rng.h"
#include "device/virtio/virtio-pci.h"

#define MMIO_BASE UINT64_C(0xc0000000)
#define MMIO_SIZE UINT64_C(0x100000)
#define LOW_SIZE (64 * 1024)
#define HIGH_GPA UINT64_C(0x100000000)
#define HIGH_SIZE 4096
#define DISK_SIZE (64 * 1024)
#define N_DEVICES 3
#define DISPATCH_ROUNDS_MAX 64
#define FRAME_MAX (12 + 65536 + 14) /* the virtio-net header and a 64 KiB GSO frame */
#define STATUS_OFFSET 0x14

#define check(expr)                                                                              \
        do {                                                                                     \
                if (!(expr)) {                                                                   \
                        fprintf(stderr, "fuzz-virtio-pci: check failed, line %d: %s\n", __LINE__, \
                                #expr);                                                          \
                        abort();                                                                 \
                }                                                                                \
        } while (0)

typedef struct Dev {
        VirtioPci *vp;
        VirtioDevice *d;
        PciDevice *pci;
        uint8_t config0[PCI_CONFIG_SIZE]; /* config space as created */
        uint8_t written;                  /* the last status the driver wrote */
        uint8_t last_status;
        bool reset_seen;                  /* the driver wrote 0 since the last check */
        bool quiet;                       /* NEEDS_RESET seen: popped/pushed must stay as below */
        uint64_t popped[VIRTIO_QUEUES_MAX], pushed[VIRTIO_QUEUES_MAX];
} Dev;

typedef struct Fuzz {
        Bus pio, mmio;
        PciBus *pci;
        GuestMemory mem;
        Dev dev[N_DEVICES];
        int disk_fd; /* a second fd of the disk's memfd, for its size */
        int peer;    /* the other end of the net device's "tap" */
        const uint8_t *p, *end;
} Fuzz;

static bool take(Fuzz *f, void *dst, size_t n) {
        if ((size_t) (f->end - f->p) < n)
                return false;
        memcpy(dst, f->p, n);
        f->p += n;
        return true;
}

/* x86 is little-endian, as are the PCI and virtio registers: values travel as their bytes. */
static uint8_t u8(Fuzz *f, bool *ok) {
        uint8_t v = 0;
        *ok = *ok && take(f, &v, 1);
        return v;
}

static uint16_t u16(Fuzz *f, bool *ok) {
        uint16_t v = 0;
        *ok = *ok && take(f, &v, 2);
        return v;
}

static uint32_t u32(Fuzz *f, bool *ok) {
        uint32_t v = 0;
        *ok = *ok && take(f, &v, 4);
        return v;
}

static uint64_t u64(Fuzz *f, bool *ok) {
        uint64_t v = 0;
        *ok = *ok && take(f, &v, 8);
        return v;
}

/* The device whose BAR the bus dispatches [addr, addr+len) to, as pci_bus_mmio() picks it. */
static Dev *decoding(Fuzz *f, uint64_t addr, uint32_t len, uint64_t *ret_off) {
        for (unsigned i = 0; i < N_DEVICES; i++) {
                const PciDevice *p = f->dev[i].pci;
                uint64_t base = p->bar_decoding[VIRTIO_PCI_BAR];
                if (base != 0 && addr >= base && addr + len <= base + p->bar_size[VIRTIO_PCI_BAR]) {
                        *ret_off = addr - base;
                        return &f->dev[i];
                }
        }
        return NULL;
}

/* Every guest MMIO access goes through here, so that status writes are seen however they are made. */
static uint64_t mmio(Fuzz *f, uint64_t addr, uint32_t len, uint64_t v, bool is_write) {
        uint8_t data[8];
        uint64_t off;
        Dev *d;

        memcpy(data, &v, sizeof data);
        if (is_write && (d = decoding(f, addr, len, &off)) && off == STATUS_OFFSET) {
                d->written = data[0];
                d->reset_seen = d->reset_seen || data[0] == 0;
        }
        (void) bus_dispatch(&f->mmio, addr, data, len, is_write);
        memcpy(&v, data, sizeof v);
        return len < 8 ? v & ((UINT64_C(1) << (8 * len)) - 1) : v;
}

static uint64_t bar_base(const Dev *d) {
        return pci_config_get(d->pci, PCI_BAR0, 4) & ~UINT32_C(0xf);
}

static uint64_t bar(Fuzz *f, Dev *d, uint64_t off, uint32_t len, uint64_t v, bool is_write) {
        return mmio(f, bar_base(d) + off, len, v, is_write);
}

static uint32_t pio(Fuzz *f, unsigned port, uint32_t len, uint32_t v, bool is_write) {
        uint8_t data[4];

        memcpy(data, &v, sizeof data);
        (void) bus_dispatch(&f->pio, 0xcf8 + port, data, len, is_write);
        memcpy(&v, data, sizeof v);
        return len < 4 ? v & ((UINT32_C(1) << (8 * len)) - 1) : v;
}

static uint32_t cfg(Fuzz *f, unsigned slot, unsigned reg, uint32_t len, uint32_t v, bool is_write) {
        (void) pio(f, 0, 4, UINT32_C(0x80000000) | (slot & 31) << 11 | (reg & 0xfc), true);
        return pio(f, 4 + (reg & 3), len, v, is_write);
}

/* Reset, negotiate, set up every queue, DRIVER_OK: what virtio_pci_modern does, through the registers. */
static void bring_up(Fuzz *f, Dev *d, unsigned log2_size, uint8_t changes, uint64_t base) {
        unsigned slot = d->pci->slot;
        uint64_t features;
        uint16_t n_queues;

        /* pci_enable_device() and pci_set_master() first. */
        cfg(f, slot, PCI_COMMAND, 2,
            cfg(f, slot, PCI_COMMAND, 2, 0, false) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, true);
        bar(f, d, STATUS_OFFSET, 1, 0, true);
        bar(f, d, STATUS_OFFSET, 1, VIRTIO_STATUS_ACKNOWLEDGE, true);
        bar(f, d, STATUS_OFFSET, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, true);
        bar(f, d, 0x00, 4, 0, true);
        features = bar(f, d, 0x04, 4, 0, false);
        bar(f, d, 0x00, 4, 1, true);
        features |= bar(f, d, 0x04, 4, 0, false) << 32;
        if (changes & 1)
                features &= ~(UINT64_C(1) << VIRTIO_F_EVENT_IDX);
        if (changes & 2)
                features &= ~(UINT64_C(1) << VIRTIO_F_INDIRECT_DESC);
        if (changes & 4)
                features &= ~(UINT64_C(1) << VIRTIO_F_VERSION_1);
        if (changes & 8)
                features |= UINT64_C(1) << 50;
        bar(f, d, 0x08, 4, 0, true);
        bar(f, d, 0x0c, 4, (uint32_t) features, true);
        bar(f, d, 0x08, 4, 1, true);
        bar(f, d, 0x0c, 4, (uint32_t) (features >> 32), true);
        bar(f, d, STATUS_OFFSET, 1,
            VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, true);
        if (!(bar(f, d, STATUS_OFFSET, 1, 0, false) & VIRTIO_STATUS_FEATURES_OK))
                return; /* refused: a driver gives up here */

        n_queues = (uint16_t) bar(f, d, 0x12, 2, 0, false);
        for (uint16_t q = 0; q < n_queues && q < VIRTIO_QUEUES_MAX; q++) {
                uint64_t desc = base + q * UINT64_C(0x2000);
                uint16_t size = (uint16_t) (1u << (log2_size % 9));
                /* Fresh rings, as the driver allocates them. */
                uint8_t *rings = guest_ptr(&f->mem, desc, 0x1400 + 6 + 8 * (uint64_t) size);
                if (rings)
                        memset(rings, 0, 0x1400 + 6 + 8 * (size_t) size);
                bar(f, d, 0x16, 2, q, true);
                bar(f, d, 0x18, 2, size, true);
                bar(f, d, 0x20, 4, (uint32_t) desc, true);
                bar(f, d, 0x24, 4, desc >> 32, true);
                bar(f, d, 0x28, 4, (uint32_t) (desc + 0x1000), true);
                bar(f, d, 0x2c, 4, (desc + 0x1000) >> 32, true);
                bar(f, d, 0x30, 4, (uint32_t) (desc + 0x1400), true);
                bar(f, d, 0x34, 4, (desc + 0x1400) >> 32, true);
                bar(f, d, 0x1a, 2, q, true);
                bar(f, d, 0x1c, 2, 1, true);
        }
        bar(f, d, STATUS_OFFSET, 1,
            VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                    VIRTIO_STATUS_DRIVER_OK,
            true);
}

static void msix_setup(Fuzz *f, Dev *d, uint8_t flags) {
        unsigned slot = d->pci->slot, n = 0;

        for (uint32_t c = cfg(f, slot, PCI_CAPABILITY_LIST, 1, 0, false); c && n < 48;
             c = cfg(f, slot, c + 1, 1, 0, false), n++) {
                if (cfg(f, slot, c, 1, 0, false) != PCI_CAP_ID_MSIX)
                        continue;
                uint32_t control = cfg(f, slot, c + 2, 2, 0, false);
                uint32_t table = cfg(f, slot, c + 4, 4, 0, false) & ~UINT32_C(7);
                for (uint32_t v = 0; v <= (control & 0x7ff); v++) {
                        bar(f, d, table + 16 * v, 4, 0xfee00000, true);
                        bar(f, d, table + 16 * v + 8, 4, 0x40 + v, true);
                        bar(f, d, table + 16 * v + 12, 4, (flags & 4) != 0, true);
                }
                control &= ~UINT32_C(0xc000);
                if (flags & 1)
                        control |= 0x8000;
                if (flags & 2)
                        control |= 0x4000;
                cfg(f, slot, c + 2, 2, control, true);
                return;
        }
}

/* The guest adds head to the avail ring that it programmed into the queue's registers. */
static void avail_add(Fuzz *f, Dev *d, uint16_t q, uint16_t head) {
        uint64_t avail;
        uint16_t size, idx;
        uint8_t *ring;

        if (q >= d->d->n_queues)
                return;
        bar(f, d, 0x16, 2, q, true);
        size = (uint16_t) bar(f, d, 0x18, 2, 0, false);
        avail = bar(f, d, 0x28, 4, 0, false) | bar(f, d, 0x2c, 4, 0, false) << 32;
        if (size == 0 || size > VQ_SIZE_MAX)
                return;
        ring = guest_ptr(&f->mem, avail, 4 + 2 * (uint64_t) size);
        if (!ring)
                return;
        memcpy(&idx, ring + 2, 2);
        memcpy(ring + 4 + 2 * (idx & (size - 1)), &head, 2);
        idx++;
        __atomic_store_n((uint16_t *) (void *) (ring + 2), idx, __ATOMIC_RELEASE);
}

static void frame_send(Fuzz *f, uint16_t len, const uint8_t *bytes, uint8_t n) {
        static uint8_t frame[65536];

        if (n > len)
                n = (uint8_t) len;
        memcpy(frame, bytes, n);
        memset(frame + n, 0x5a, len - n);
        (void) send(f->peer, frame, len, MSG_DONTWAIT); /* a full socket drops it, as a tap would */
}

static void drain(Fuzz *f) {
        static uint8_t frame[FRAME_MAX + 1];
        ssize_t n;

        while ((n = recv(f->peer, frame, sizeof frame, MSG_DONTWAIT | MSG_TRUNC)) >= 0)
                check(n >= 12 && n <= FRAME_MAX);
}

/* What the I/O threads would have done by now; then the invariants. */
static void settle(Fuzz *f) {
        struct stat st;

        for (unsigned i = 0; i < N_DEVICES; i++) {
                Dev *dv = &f->dev[i];
                VirtioDevice *d = dv->d;
                unsigned rounds = 0;
                int r;

                while ((r = virtio_device_dispatch(d, 0)) > 0)
                        check(++rounds < DISPATCH_ROUNDS_MAX);
                check(r == 0);

                uint8_t s = d->status, nr = VIRTIO_STATUS_NEEDS_RESET, fok = VIRTIO_STATUS_FEATURES_OK;
                if (dv->written == 0)
                        check(s == 0);
                check((s & ~(dv->written | nr)) == 0);
                check((s & ~(nr | fok)) == (dv->written & ~(nr | fok)));
                if (dv->reset_seen)
                        dv->quiet = false;
                else if (dv->last_status & nr)
                        check(s & nr);
                dv->reset_seen = false;
                dv->last_status = s;

                for (uint16_t q = 0; q < d->n_queues; q++)
                        if (d->vqs[q].started && d->vqs[q].broken)
                                check(s & nr);
                if (dv->quiet && (s & nr))
                        for (uint16_t q = 0; q < d->n_queues; q++)
                                check(d->vqs[q].n_popped == dv->popped[q] &&
                                      d->vqs[q].n_pushed == dv->pushed[q]);
                else if (s & nr) {
                        dv->quiet = true;
                        for (uint16_t q = 0; q < d->n_queues; q++) {
                                dv->popped[q] = d->vqs[q].n_popped;
                                dv->pushed[q] = d->vqs[q].n_pushed;
                        }
                } else
                        dv->quiet = false;

                for (unsigned k = 0; k < PCI_CONFIG_SIZE; k++)
                        check(((dv->pci->config[k] ^ dv->config0[k]) & ~dv->pci->wmask[k]) == 0);

                VirtioPciState saved;
                virtio_pci_save(dv->vp, &saved);
                check(virtio_pci_restore_check(dv->vp, &saved) == 0);
        }
        check(fstat(f->disk_fd, &st) == 0 && st.st_size == DISK_SIZE);
}

static void run(Fuzz *f) {
        for (unsigned n = 0; f->p < f->end && n < 4096; n++) {
                uint8_t op = *f->p++ % 11, flags = 0, a, b;
                uint32_t len;
                uint64_t v = 0;
                bool ok = true;

                if (op <= 3) {
                        flags = u8(f, &ok);
                        v = u64(f, &ok);
                }
                len = 1u << ((flags >> 1) & 3);
                switch (op) {
                case 0:
                        a = u8(f, &ok);
                        if (ok)
                                (void) pio(f, a & 7, len > 4 ? 4 : len, (uint32_t) v, flags & 1);
                        break;
                case 1:
                        a = u8(f, &ok);
                        b = u8(f, &ok);
                        if (ok)
                                (void) cfg(f, a, b, len > 4 ? 4 : len, (uint32_t) v, flags & 1);
                        break;
                case 2: {
                        a = u8(f, &ok);
                        uint16_t off = u16(f, &ok);
                        if (ok)
                                (void) bar(f, &f->dev[a % N_DEVICES], off, len, v, flags & 1);
                        break;
                }
                case 3: {
                        uint32_t off = u32(f, &ok);
                        if (ok)
                                (void) mmio(f, MMIO_BASE + off % MMIO_SIZE, len, v, flags & 1);
                        break;
                }
                case 4: {
                        uint8_t region = u8(f, &ok);
                        uint16_t off = u16(f, &ok);
                        uint8_t n_bytes = u8(f, &ok);
                        uint8_t buf[255];
                        if (!ok || !take(f, buf, n_bytes))
                                return;
                        (void) guest_write(&f->mem, (region & 1 ? HIGH_GPA : 0) + off, buf, n_bytes);
                        break;
                }
                case 5: {
                        a = u8(f, &ok);
                        b = u8(f, &ok);
                        uint16_t head = u16(f, &ok);
                        if (ok)
                                avail_add(f, &f->dev[a % N_DEVICES], b, head);
                        break;
                }
                case 6:
                        a = u8(f, &ok);
                        b = u8(f, &ok);
                        if (ok)
                                (void) bar(f, &f->dev[a % N_DEVICES],
                                           VIRTIO_PCI_NOTIFY_OFFSET +
                                                   (uint64_t) b * VIRTIO_PCI_NOTIFY_MULTIPLIER,
                                           2, b, true);
                        break;
                case 7: {
                        uint16_t l = u16(f, &ok);
                        uint8_t count = u8(f, &ok), bytes[255];
                        if (!ok || !take(f, bytes, count))
                                return;
                        frame_send(f, l, bytes, count);
                        break;
                }
                case 8: {
                        a = u8(f, &ok);
                        uint8_t log2_size = u8(f, &ok), changes = u8(f, &ok), base = u8(f, &ok);
                        if (ok)
                                bring_up(f, &f->dev[a % N_DEVICES], log2_size, changes,
                                         (uint64_t) base * 256);
                        break;
                }
                case 9:
                        a = u8(f, &ok);
                        b = u8(f, &ok);
                        if (ok)
                                msix_setup(f, &f->dev[a % N_DEVICES], b);
                        break;
                case 10:
                        drain(f);
                        break;
                }
                if (!ok)
                        return;
                settle(f);
        }
}

static int add(Fuzz *f, Dev *dv, VirtioDevice *d) {
        int r = virtio_pci_new(f->pci, NULL, -EBADF, d, &dv->vp);
        if (r < 0)
                return r;
        dv->d = virtio_pci_device(dv->vp);
        dv->pci = virtio_pci_pci_device(dv->vp);
        memcpy(dv->config0, dv->pci->config, sizeof dv->config0);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 1 };
        uint8_t *low, *high;
        Fuzz f = { .disk_fd = -EBADF, .peer = -EBADF };
        VirtioDevice *d;
        Disk *disk;
        int fd, sp[2];

        if (size < 1)
                return 0;
        log_set_max_level(getenv("FUZZ_VIRTIO_PCI_TRACE") ? LOG_DEBUG : LOG_CRIT);
        low = calloc(1, LOW_SIZE);
        high = calloc(1, HIGH_SIZE);
        check(low && high);
        f.mem = (GuestMemory) {
                .memfd = -EBADF,
                .ram_size = LOW_SIZE + HIGH_SIZE,
                .n_regions = 2,
                .regions = { { .gpa = 0, .size = LOW_SIZE, .host = low },
                             { .gpa = HIGH_GPA, .size = HIGH_SIZE, .host = high } },
        };
        check(bus_init(&f.pio) == 0 && bus_init(&f.mmio) == 0);
        check(pci_bus_new(&(PciBusParams) { .mmio_base = MMIO_BASE, .mmio_size = MMIO_SIZE }, &f.pio,
                          &f.mmio, &f.pci) == 0);

        fd = memfd_create("fuzz-virtio-pci-disk", MFD_CLOEXEC);
        check(fd >= 0 && ftruncate(fd, DISK_SIZE) == 0);
        f.disk_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        check(f.disk_fd >= 0);
        check(disk_new(fd, &(DiskParams) { .label = "disk0", .read_only = data[0] & 1 }, &disk) == 0);
        check(virtio_blk_new(&f.mem, "disk0", disk, "fuzz", &d) == 0);
        check(add(&f, &f.dev[0], d) == 0);
        check(virtio_rng_new(&f.mem, "rng0", &d) == 0);
        check(add(&f, &f.dev[1], d) == 0);
        check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == 0);
        f.peer = sp[1];
        check(virtio_net_new(&f.mem, "net0", sp[0], mac, &d) == 0);
        check(add(&f, &f.dev[2], d) == 0);

        f.p = data + 1;
        f.end = data + size;
        run(&f);
        if (getenv("FUZZ_VIRTIO_PCI_TRACE")) /* to see what a seed reaches */
                for (unsigned i = 0; i < N_DEVICES; i++) {
                        VirtioDevice *dv = f.dev[i].d;
                        fprintf(stderr, "%s: status 0x%02x features 0x%llx", dv->id, dv->status,
                                (unsigned long long) dv->features);
                        for (uint16_t q = 0; q < dv->n_queues; q++)
                                fprintf(stderr, ", queue %u: popped %llu pushed %llu%s%s", q,
                                        (unsigned long long) dv->vqs[q].n_popped,
                                        (unsigned long long) dv->vqs[q].n_pushed,
                                        dv->vqs[q].broken ? " broken: " : "",
                                        dv->vqs[q].broken ? dv->vqs[q].broken_reason : "");
                        fputc('\n', stderr);
                }

        for (unsigned i = 0; i < N_DEVICES; i++)
                virtio_pci_free(f.dev[i].vp);
        pci_bus_free(f.pci);
        bus_done(&f.pio);
        bus_done(&f.mmio);
        close(f.peer);
        close(f.disk_fd);
        free(low);
        free(high);
        return 0;
}
