/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The virtqueue walker against arbitrary guest memory. The input (little-endian) is
 *
 *         u8 log2 of the queue size (mod 9), u8 flags (1: EVENT_IDX, 2: INDIRECT_DESC, 4: notifications
 *         off while popping), u16 starting ring index, u32 desc, avail and used guest-physical addresses,
 *         then the contents of guest RAM: 16 KiB at 0 and 16 KiB at 0x10000 (the gap between them
 *         stands for the PCI hole).
 *
 * The regions are separate exactly sized heap buffers, so that under ASan any access outside guest RAM
 * is caught, not only those the checks below see. Chains are popped until the queue is empty or broken,
 * read, written (which may rewrite the rings, as a guest could) and pushed; every promise of
 * virtqueue.h that can be checked from outside is, and a broken one aborts. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "device/virtio/virtqueue.h"

#define REGION_SIZE (16 * 1024)
#define HIGH_GPA 0x10000
#define HEADER_SIZE 16

static uint8_t scratch[64 * 1024];

/* A broken promise: say which, then crash for the fuzzer. */
#define check(expr)                                                                            \
        do {                                                                                   \
                if (!(expr)) {                                                                 \
                        fprintf(stderr, "fuzz-virtqueue: check failed, line %d: %s\n", __LINE__, \
                                #expr);                                                        \
                        abort();                                                               \
                }                                                                              \
        } while (0)

static bool in_ram(const GuestMemory *m, const void *p, size_t len) {
        for (size_t i = 0; i < m->n_regions; i++) {
                const uint8_t *h = m->regions[i].host;

                if ((const uint8_t *) p >= h && len <= m->regions[i].size &&
                    (size_t) ((const uint8_t *) p - h) <= m->regions[i].size - len)
                        return true;
        }
        return false;
}

static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t) get16(p) | (uint32_t) get16(p + 2) << 16;
}

static void check_chain(const Virtqueue *vq, const VqChain *c) {
        uint32_t limit = vq->size < VQ_CHAIN_MAX ? vq->size : VQ_CHAIN_MAX;
        uint64_t out = 0, in = 0;

        check(c->head < vq->size);
        check(c->n_out + c->n_in <= limit);
        for (uint32_t i = 0; i < c->n_out + c->n_in; i++) {
                check(c->iov[i].iov_len > 0);
                check(in_ram(vq->mem, c->iov[i].iov_base, c->iov[i].iov_len));
                if (i < c->n_out)
                        out += c->iov[i].iov_len;
                else
                        in += c->iov[i].iov_len;
        }
        check(out == c->out_len && in == c->in_len);
}

static void run_queue(Virtqueue *vq, uint8_t flags) {
        static VqChain c;
        uint16_t start = vq->used_idx;
        uint64_t pushed = 0;

        if (vq_start(vq) < 0) {
                check(!vq->started);
                return;
        }
        check(in_ram(vq->mem, vq->desc, 16 * (size_t) vq->size));
        check(in_ram(vq->mem, vq->avail, 6 + 2 * (size_t) vq->size));
        check(in_ram(vq->mem, vq->used, 6 + 8 * (size_t) vq->size));

        if (flags & 4)
                vq_set_notification(vq, false);
        for (unsigned k = 0; k < 2 * (unsigned) vq->size + 2; k++) {
                size_t n, want;
                int r;

                r = vq_pop(vq, &c);
                check(r == -EINVAL || r == 0 || r == 1);
                if (r == -EINVAL) {
                        uint16_t used_idx = vq->used_idx;

                        check(vq->broken && vq->broken_reason && vq->broken_reason[0]);
                        check(vq_pop(vq, &c) == -EINVAL);
                        vq_push(vq, 0, 0);
                        check(vq->used_idx == used_idx && !vq_should_notify(vq));
                        break;
                }
                if (r == 0) {
                        if (flags & 4)
                                vq_set_notification(vq, true);
                        break;
                }
                check(!vq->broken);
                check_chain(vq, &c);

                want = c.out_len < sizeof scratch ? (size_t) c.out_len : sizeof scratch;
                check(vq_chain_read(&c, 0, scratch, sizeof scratch) == want);
                check(vq_chain_read(&c, c.out_len, scratch, 1) == 0);
                if (c.out_len > 1)
                        check(vq_chain_read(&c, 1, scratch, sizeof scratch) ==
                              (c.out_len - 1 < sizeof scratch ? c.out_len - 1 : sizeof scratch));

                /* Write what was read back into the writable side: guest RAM, rings included, changes
                 * under the walker as a guest's would. */
                want = c.in_len < 512 ? (size_t) c.in_len : 512;
                n = vq_chain_write(&c, 0, scratch, 512);
                check(n == want);
                check(vq_chain_write(&c, c.in_len, scratch, 1) == 0);
                vq_push(vq, c.head, (uint32_t) n);
                pushed++;
                check(vq->used_idx == (uint16_t) (start + pushed));
                (void) vq_should_notify(vq);
        }
        check(vq->n_pushed == pushed && vq->n_popped == pushed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *low = NULL, *high = NULL;
        GuestMemory mem = { .memfd = -1, .ram_size = 2 * REGION_SIZE, .n_regions = 2 };
        Virtqueue vq = {};
        size_t n;

        if (size < HEADER_SIZE)
                return 0;
        low = calloc(1, REGION_SIZE);
        high = calloc(1, REGION_SIZE);
        if (!low || !high)
                abort();
        mem.regions[0] = (GuestRegion) { .gpa = 0, .size = REGION_SIZE, .host = low };
        mem.regions[1] = (GuestRegion) { .gpa = HIGH_GPA, .size = REGION_SIZE, .host = high };

        n = size - HEADER_SIZE < REGION_SIZE ? size - HEADER_SIZE : REGION_SIZE;
        memcpy(low, data + HEADER_SIZE, n);
        if (size - HEADER_SIZE > REGION_SIZE) {
                n = size - HEADER_SIZE - REGION_SIZE < REGION_SIZE ? size - HEADER_SIZE - REGION_SIZE
                                                                    : REGION_SIZE;
                memcpy(high, data + HEADER_SIZE + REGION_SIZE, n);
        }

        vq.mem = &mem;
        vq.size = (uint16_t) (1u << (data[0] % 9));
        vq.event_idx = data[1] & 1;
        vq.indirect = data[1] & 2;
        /* As if restored mid-stream: exercises the 16-bit index wrap-around. */
        vq.last_avail = vq.used_idx = get16(data + 2);
        vq.desc_gpa = get32(data + 4);
        vq.avail_gpa = get32(data + 8);
        vq.used_gpa = get32(data + 12);
        run_queue(&vq, data[1]);

        vq_reset(&vq);
        check(vq.mem == &mem && !vq.started && !vq.broken && vq.size == 0);
        free(low);
        free(high);
        return 0;
}
