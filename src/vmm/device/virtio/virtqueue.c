/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "device/virtio/virtqueue.h"

/* Split ring layout (virtio spec 1.2, 2.7): all fields little-endian. */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

#define DESC_SIZE 16
#define AVAIL_RING_OFFSET 4 /* flags, idx */
#define USED_RING_OFFSET 4
#define USED_ELEM_SIZE 8

typedef struct VqDesc {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        uint16_t next;
} VqDesc;

_Static_assert(sizeof(VqDesc) == DESC_SIZE, "virtq_desc is 16 bytes");

/* Accessors for ring fields the guest may change concurrently: each is one load or store the compiler
 * can neither split, merge nor repeat. The offsets keep them naturally aligned (vq_start() checks the
 * ring alignment), so on x86 these are plain moves. */
static uint16_t load16(const void *base, size_t off) {
        return le16toh(__atomic_load_n((const uint16_t *) ((const uint8_t *) base + off), __ATOMIC_RELAXED));
}

static void store16(void *base, size_t off, uint16_t v) {
        __atomic_store_n((uint16_t *) ((uint8_t *) base + off), htole16(v), __ATOMIC_RELAXED);
}

static void store32(void *base, size_t off, uint32_t v) {
        __atomic_store_n((uint32_t *) ((uint8_t *) base + off), htole32(v), __ATOMIC_RELAXED);
}

static size_t avail_size(uint16_t size) {
        return 6 + 2 * (size_t) size; /* flags, idx, ring[size], used_event */
}

static size_t used_size(uint16_t size) {
        return 6 + USED_ELEM_SIZE * (size_t) size; /* flags, idx, ring[size], avail_event */
}

/* Acquire: the ring entries and descriptors up to idx were written before it. */
static uint16_t load_avail_idx(const Virtqueue *vq) {
        return le16toh(__atomic_load_n((const uint16_t *) ((const uint8_t *) vq->avail + 2), __ATOMIC_ACQUIRE));
}

static void set_avail_event(Virtqueue *vq) {
        store16(vq->used, USED_RING_OFFSET + USED_ELEM_SIZE * (size_t) vq->size, vq->last_avail);
}

static int vq_fail(Virtqueue *vq, const char *reason) {
        vq->broken = true;
        vq->broken_reason = reason;
        return -EINVAL;
}

/* vq_start()'s checks on size and ring addresses; the rings' host pointers if they pass. */
static int vq_map(const GuestMemory *mem, uint16_t size, uint64_t desc_gpa, uint64_t avail_gpa,
                  uint64_t used_gpa, void **ret_desc, void **ret_avail, void **ret_used) {
        void *desc, *avail, *used;

        if (!mem || size == 0 || size > VQ_SIZE_MAX || (size & (size - 1)) != 0)
                return -EINVAL;
        /* The spec's alignments (2.7): they keep every ring field naturally aligned for the atomic
         * accessors above. */
        if (desc_gpa % 16 != 0 || avail_gpa % 2 != 0 || used_gpa % 4 != 0)
                return -EINVAL;
        desc = guest_ptr(mem, desc_gpa, (uint64_t) DESC_SIZE * size);
        avail = guest_ptr(mem, avail_gpa, avail_size(size));
        used = guest_ptr(mem, used_gpa, used_size(size));
        if (!desc || !avail || !used)
                return -EINVAL;
        *ret_desc = desc;
        *ret_avail = avail;
        *ret_used = used;
        return 0;
}

int vq_start(Virtqueue *vq) {
        int r;

        r = vq_map(vq->mem, vq->size, vq->desc_gpa, vq->avail_gpa, vq->used_gpa, &vq->desc, &vq->avail,
                   &vq->used);
        if (r < 0)
                return r;
        vq->signalled_used = vq->used_idx;
        vq->signalled_used_valid = true;
        vq->started = true;
        if (vq->event_idx && !vq->no_notify)
                set_avail_event(vq);
        return 0;
}

void vq_reset(Virtqueue *vq) {
        const GuestMemory *mem = vq->mem;

        *vq = (Virtqueue) { .mem = mem };
}

void vq_save(const Virtqueue *vq, VirtqueueState *ret) {
        *ret = (VirtqueueState) {
                .version = VQ_STATE_VERSION,
                .size = vq->size,
                .last_avail = vq->last_avail,
                .used_idx = vq->used_idx,
                .signalled_used = vq->signalled_used,
                .started = vq->started,
                .broken = vq->broken,
                .event_idx = vq->event_idx,
                .indirect = vq->indirect,
                .signalled_used_valid = vq->signalled_used_valid,
                .no_notify = vq->no_notify,
                .desc_gpa = vq->desc_gpa,
                .avail_gpa = vq->avail_gpa,
                .used_gpa = vq->used_gpa,
                .n_popped = vq->n_popped,
                .n_pushed = vq->n_pushed,
        };
}

/* vq_restore_check(), and the ring pointers of a started queue (NULL for a stopped one). */
static int vq_state_check(const Virtqueue *vq, const VirtqueueState *st, void **ret_desc, void **ret_avail,
                          void **ret_used) {
        *ret_desc = *ret_avail = *ret_used = NULL;
        if (st->version != VQ_STATE_VERSION)
                return -EINVAL;
        for (size_t i = 0; i < sizeof st->reserved; i++)
                if (st->reserved[i] != 0)
                        return -EINVAL;
        if ((st->started | st->broken | st->event_idx | st->indirect | st->signalled_used_valid |
             st->no_notify) > 1)
                return -EINVAL;
        if (!st->started) {
                /* What a stopped queue holds: what the transport wrote (size and the GPAs, any value the
                 * driver chose) and the feature flags of a start that failed. Everything else is 0 from
                 * vq_reset() until vq_start(). */
                if (st->size > VQ_SIZE_MAX || (st->size & (st->size - 1)) != 0)
                        return -EINVAL;
                if (st->broken || st->last_avail || st->used_idx || st->signalled_used ||
                    st->signalled_used_valid || st->no_notify || st->n_popped || st->n_pushed)
                        return -EINVAL;
                return 0;
        }
        if (vq_map(vq->mem, st->size, st->desc_gpa, st->avail_gpa, st->used_gpa, ret_desc, ret_avail,
                   ret_used) < 0)
                return -EINVAL;
        /* The indices count pops and pushes since vq_reset(), as the counters do; pushes are of popped
         * chains, and no more than size chains can be outstanding. */
        if ((uint16_t) st->n_popped != st->last_avail || (uint16_t) st->n_pushed != st->used_idx ||
            st->n_pushed > st->n_popped || st->n_popped - st->n_pushed > st->size)
                return -EINVAL;
        if (!st->signalled_used_valid || (uint16_t) (st->used_idx - st->signalled_used) > st->size)
                return -EINVAL;
        return 0;
}

int vq_restore_check(const Virtqueue *vq, const VirtqueueState *st) {
        void *desc, *avail, *used;

        return vq_state_check(vq, st, &desc, &avail, &used);
}

int vq_restore(Virtqueue *vq, const VirtqueueState *st) {
        void *desc, *avail, *used;
        int r;

        r = vq_state_check(vq, st, &desc, &avail, &used);
        if (r < 0)
                return r;
        *vq = (Virtqueue) {
                .mem = vq->mem,
                .size = st->size,
                .desc_gpa = st->desc_gpa,
                .avail_gpa = st->avail_gpa,
                .used_gpa = st->used_gpa,
                .event_idx = st->event_idx,
                .indirect = st->indirect,
                .last_avail = st->last_avail,
                .used_idx = st->used_idx,
                .signalled_used = st->signalled_used,
                .signalled_used_valid = st->signalled_used_valid,
                .no_notify = st->no_notify,
                .n_popped = st->n_popped,
                .n_pushed = st->n_pushed,
                .started = st->started,
                .broken = st->broken,
                .broken_reason = st->broken ? VQ_BROKEN_BEFORE_SNAPSHOT : NULL,
                .desc = desc,
                .avail = avail,
                .used = used,
        };
        return 0;
}

/* One copy of descriptor i of a table: every check and every use below looks at this copy only, never
 * at guest memory again, so a guest that rewrites the descriptor meanwhile cannot get a checked value
 * swapped for an unchecked one. The compiler barrier stops the compiler from turning the copy back into
 * later reads of guest memory. Indirect tables need not be aligned, hence memcpy. */
static VqDesc read_desc(const void *table, uint32_t i) {
        VqDesc d;

        memcpy(&d, (const uint8_t *) table + (size_t) i * DESC_SIZE, sizeof d);
        __asm__ __volatile__("" ::: "memory");
        return (VqDesc) {
                .addr = le64toh(d.addr),
                .len = le32toh(d.len),
                .flags = le16toh(d.flags),
                .next = le16toh(d.next),
        };
}

/* Walks the chain at head into c. Descriptors are counted against min(size, VQ_CHAIN_MAX) as they
 * are walked, indirect table entries included (the descriptor pointing at a table is not a buffer
 * and is not counted); a chain that loops, directly or inside a table, runs into that limit. The
 * limit also bounds c->iov. Zero-length descriptors are valid but add no iovec: they carry no
 * bytes, their address is never looked at, and the readable-before-writable rule still applies. */
static int vq_walk(Virtqueue *vq, uint16_t head, VqChain *c) {
        uint32_t limit = vq->size < VQ_CHAIN_MAX ? vq->size : VQ_CHAIN_MAX;
        const void *table = vq->desc;
        uint32_t table_n = vq->size, n = 0, i = head;
        bool indirect = false, writable = false;

        c->head = head;
        c->n_out = c->n_in = 0;
        c->out_len = c->in_len = 0;

        for (;;) {
                VqDesc d = read_desc(table, i);
                void *p = NULL;

                if (d.flags & VIRTQ_DESC_F_INDIRECT) {
                        /* Its WRITE flag means nothing (spec 2.7.5.3.2). */
                        if (!vq->indirect)
                                return vq_fail(vq, "indirect descriptor, but VIRTIO_F_INDIRECT_DESC "
                                                   "was not negotiated");
                        if (indirect)
                                return vq_fail(vq, "indirect descriptor inside an indirect table");
                        if (d.flags & VIRTQ_DESC_F_NEXT)
                                return vq_fail(vq, "indirect descriptor with NEXT set");
                        if (d.len == 0 || d.len % DESC_SIZE != 0)
                                return vq_fail(vq, "indirect table length not a non-zero multiple of 16");
                        table = guest_ptr(vq->mem, d.addr, d.len);
                        if (!table)
                                return vq_fail(vq, "indirect table outside guest RAM");
                        table_n = d.len / DESC_SIZE;
                        indirect = true;
                        i = 0;
                        continue;
                }

                if (++n > limit)
                        return vq_fail(vq, "descriptor chain too long, or a loop");
                if (d.flags & VIRTQ_DESC_F_WRITE)
                        writable = true;
                else if (writable)
                        return vq_fail(vq, "device-readable descriptor after a device-writable one");
                if (d.len > 0) {
                        p = guest_ptr(vq->mem, d.addr, d.len);
                        if (!p)
                                return vq_fail(vq, "descriptor buffer outside guest RAM");
                        /* n <= limit <= VQ_CHAIN_MAX, so this stays inside c->iov. */
                        c->iov[c->n_out + c->n_in] = (struct iovec) { .iov_base = p, .iov_len = d.len };
                        if (writable) {
                                c->n_in++;
                                c->in_len += d.len;
                        } else {
                                c->n_out++;
                                c->out_len += d.len;
                        }
                }

                if (!(d.flags & VIRTQ_DESC_F_NEXT))
                        return 0;
                if (d.next >= table_n)
                        return vq_fail(vq, indirect ? "next index outside the indirect table"
                                                    : "next index outside the descriptor table");
                i = d.next;
        }
}

int vq_pop(Virtqueue *vq, VqChain *c) {
        uint16_t avail_idx, head;
        int r;

        if (vq->broken)
                return -EINVAL;
        if (!vq->started)
                return 0;

        avail_idx = load_avail_idx(vq);
        if (avail_idx == vq->last_avail) {
                if (!vq->event_idx || vq->no_notify)
                        return 0;
                /* The driver publishes idx and then reads avail_event; we wrote avail_event (at the
                 * last pop) and read idx. Without a full barrier each could miss the other's write: no
                 * kick for a chain we did not see. */
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
                avail_idx = load_avail_idx(vq);
                if (avail_idx == vq->last_avail)
                        return 0;
        }
        /* The driver cannot have more than size chains outstanding. */
        if ((uint16_t) (avail_idx - vq->last_avail) > vq->size)
                return vq_fail(vq, "available index more than the queue size ahead");

        head = load16(vq->avail, AVAIL_RING_OFFSET + 2 * (size_t) (vq->last_avail & (vq->size - 1)));
        if (head >= vq->size)
                return vq_fail(vq, "available ring entry outside the descriptor table");

        r = vq_walk(vq, head, c);
        if (r < 0)
                return r;
        vq->last_avail++;
        vq->n_popped++;
        /* With EVENT_IDX, the next kick is wanted for the entry after this one. */
        if (vq->event_idx && !vq->no_notify)
                set_avail_event(vq);
        return 1;
}

void vq_push(Virtqueue *vq, uint16_t head, uint32_t len) {
        size_t elem;

        if (!vq->started || vq->broken)
                return;
        assert(head < vq->size); /* it came from vq_pop() */

        elem = USED_RING_OFFSET + USED_ELEM_SIZE * (size_t) (vq->used_idx & (vq->size - 1));
        store32(vq->used, elem, head);
        store32(vq->used, elem + 4, len);
        vq->used_idx++;
        /* Release: the driver that sees the new idx sees the element, and the data written into the
         * chain's buffers before this call. */
        __atomic_store_n((uint16_t *) ((uint8_t *) vq->used + 2), htole16(vq->used_idx), __ATOMIC_RELEASE);
        vq->n_pushed++;
}

/* The driver asked for an interrupt when the device fills used ring entry event_idx (spec 2.7.7); the
 * entries filled since the last decision are [old_idx, new_idx). All of it modulo 2^16. */
static bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
        return (uint16_t) (new_idx - event_idx - 1) < (uint16_t) (new_idx - old_idx);
}

bool vq_should_notify(Virtqueue *vq) {
        uint16_t old = vq->signalled_used;
        bool valid = vq->signalled_used_valid;

        if (!vq->started || vq->broken)
                return false;

        /* Our used->idx store must be visible before we read the driver's flags or used_event, and
         * the driver does the mirror image (writes used_event, then reads used->idx): without a full
         * barrier both sides could miss each other's update and the interrupt would be lost. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);

        vq->signalled_used = vq->used_idx;
        vq->signalled_used_valid = true;
        if (valid && old == vq->used_idx)
                return false; /* nothing pushed since the last call */
        if (!vq->event_idx)
                return !(load16(vq->avail, 0) & VIRTQ_AVAIL_F_NO_INTERRUPT);
        if (!valid)
                return true;
        return vring_need_event(load16(vq->avail, AVAIL_RING_OFFSET + 2 * (size_t) vq->size), vq->used_idx,
                                old);
}

void vq_set_notification(Virtqueue *vq, bool enable) {
        if (!vq->started || vq->broken)
                return;

        vq->no_notify = !enable;
        if (vq->event_idx) {
                /* Ask for a kick when the driver makes entry last_avail available. Disabling needs no
                 * write: vq_pop() stops moving avail_event, which then stays behind the driver's idx
                 * and so suppresses kicks. */
                if (enable)
                        set_avail_event(vq);
        } else
                store16(vq->used, 0, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);

        /* The store must be visible before the caller's re-check of avail->idx in vq_pop(); the
         * driver writes avail->idx and then reads our flags, the mirror image. */
        if (enable)
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static size_t chain_copy(const struct iovec *iov, size_t n, uint64_t offset, void *buf, size_t len,
                         bool to_chain) {
        size_t done = 0;

        for (size_t k = 0; k < n && done < len; k++) {
                size_t m;

                if (offset >= iov[k].iov_len) {
                        offset -= iov[k].iov_len;
                        continue;
                }
                m = iov[k].iov_len - offset;
                if (m > len - done)
                        m = len - done;
                if (to_chain)
                        memcpy((uint8_t *) iov[k].iov_base + offset, (const uint8_t *) buf + done, m);
                else
                        memcpy((uint8_t *) buf + done, (const uint8_t *) iov[k].iov_base + offset, m);
                done += m;
                offset = 0;
        }
        return done;
}

size_t vq_chain_read(const VqChain *c, uint64_t offset, void *dst, size_t len) {
        return chain_copy(c->iov, c->n_out, offset, dst, len, false);
}

size_t vq_chain_write(const VqChain *c, uint64_t offset, const void *src, size_t len) {
        return chain_copy(c->iov + c->n_out, c->n_in, offset, (void *) src, len, true);
}
