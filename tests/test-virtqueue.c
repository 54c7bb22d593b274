/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cleanup.h"
#include "core/memory.h"
#include "device/virtio/virtqueue.h"

#define MiB (1ULL << 20)

/* Guest RAM as on x86, scaled down: 1 MiB below a hole, 1 MiB from 4 MiB up. */
#define RAM_SIZE (2 * MiB)
#define HOLE_START (1 * MiB)
#define HIGH_START (4 * MiB)
#define RAM_END (HIGH_START + RAM_SIZE - HOLE_START)

#define DESC_GPA 0x1000
#define AVAIL_GPA 0x3000
#define USED_GPA 0x4000
#define TABLE_GPA 0x8000 /* indirect tables */
#define BUF_GPA 0x10000  /* buffers, handed out upwards */

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

/* A driver that lays out rings and chains in real guest memory, as a guest's virtio driver would. */
typedef struct Driver {
        GuestMemory *mem;
        Virtqueue vq;
        uint16_t size;
        uint16_t avail_idx;
        uint64_t next_buf;
} Driver;

static void put16(Driver *d, uint64_t gpa, uint16_t v) {
        v = htole16(v);
        assert_int_equal(guest_write(d->mem, gpa, &v, sizeof v), 0);
}

static void put32(Driver *d, uint64_t gpa, uint32_t v) {
        v = htole32(v);
        assert_int_equal(guest_write(d->mem, gpa, &v, sizeof v), 0);
}

static void put64(Driver *d, uint64_t gpa, uint64_t v) {
        v = htole64(v);
        assert_int_equal(guest_write(d->mem, gpa, &v, sizeof v), 0);
}

static uint16_t get16(Driver *d, uint64_t gpa) {
        uint16_t v;

        assert_int_equal(guest_read(d->mem, gpa, &v, sizeof v), 0);
        return le16toh(v);
}

static uint32_t get32(Driver *d, uint64_t gpa) {
        uint32_t v;

        assert_int_equal(guest_read(d->mem, gpa, &v, sizeof v), 0);
        return le32toh(v);
}

static void driver_init(Driver *d, uint16_t size, bool event_idx, bool indirect) {
        *d = (Driver) { .size = size, .next_buf = BUF_GPA };
        assert_int_equal(guest_memory_new(RAM_SIZE, HOLE_START, HIGH_START, &d->mem), 0);
        assert_int_equal(d->mem->n_regions, 2);
        d->vq = (Virtqueue) {
                .mem = d->mem,
                .size = size,
                .desc_gpa = DESC_GPA,
                .avail_gpa = AVAIL_GPA,
                .used_gpa = USED_GPA,
                .event_idx = event_idx,
                .indirect = indirect,
        };
        assert_int_equal(vq_start(&d->vq), 0);
        assert_true(d->vq.started);
}

static void driver_done(Driver *d) {
        guest_memory_free(d->mem);
}

/* Descriptor i of the table at table_gpa. */
static void desc(Driver *d, uint64_t table_gpa, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next) {
        uint64_t at = table_gpa + 16 * (uint64_t) i;

        put64(d, at, addr);
        put32(d, at + 8, len);
        put16(d, at + 12, flags);
        put16(d, at + 14, next);
}

/* A buffer of len bytes, filled with fill. */
static uint64_t buf(Driver *d, uint32_t len, uint8_t fill) {
        uint64_t gpa = d->next_buf;

        memset(guest_ptr(d->mem, gpa, len), fill, len);
        d->next_buf += (len + 15) & ~15u;
        return gpa;
}

static void publish(Driver *d, uint16_t head) {
        put16(d, AVAIL_GPA + 4 + 2 * (uint64_t) (d->avail_idx % d->size), head);
        d->avail_idx++;
        put16(d, AVAIL_GPA + 2, d->avail_idx);
}

static uint16_t used_idx(Driver *d) {
        return get16(d, USED_GPA + 2);
}

static void assert_used_elem(Driver *d, uint16_t idx, uint32_t id, uint32_t len) {
        uint64_t at = USED_GPA + 4 + 8 * (uint64_t) (idx % d->size);

        assert_int_equal(get32(d, at), id);
        assert_int_equal(get32(d, at + 4), len);
}

static void assert_iov(Driver *d, const struct iovec *iov, uint64_t gpa, size_t len) {
        assert_ptr_equal(iov->iov_base, guest_ptr(d->mem, gpa, len));
        assert_int_equal(iov->iov_len, len);
}

/* The queue must refuse the next chain with reason, and neither then nor afterwards write a byte of
 * guest memory or hand out anything. */
static void assert_broken(Driver *d, const char *reason) {
        uint8_t *before = malloc(RAM_SIZE);
        VqChain *c = malloc(sizeof *c);

        assert_non_null(before);
        assert_non_null(c);
        memcpy(before, d->mem->map, RAM_SIZE);

        assert_int_equal(vq_pop(&d->vq, c), -EINVAL);
        assert_true(d->vq.broken);
        assert_non_null(d->vq.broken_reason);
        assert_string_equal(d->vq.broken_reason, reason);

        /* Everything is a no-op now, even once the driver fixes the ring. */
        vq_push(&d->vq, 0, 1);
        vq_set_notification(&d->vq, false);
        vq_set_notification(&d->vq, true);
        assert_false(vq_should_notify(&d->vq));
        assert_memory_equal(before, d->mem->map, RAM_SIZE);
        desc(d, DESC_GPA, 0, buf(d, 16, 0), 16, 0, 0);
        put16(d, AVAIL_GPA + 4 + 2 * (uint64_t) ((d->avail_idx - 1) % d->size), 0);
        assert_int_equal(vq_pop(&d->vq, c), -EINVAL);
        assert_string_equal(d->vq.broken_reason, reason);

        free(before);
        free(c);
}

static void test_start(void **state) {
        Virtqueue vq;
        GuestMemory *m;

        assert_int_equal(guest_memory_new(RAM_SIZE, HOLE_START, HIGH_START, &m), 0);
#define TRY(field, value, expect)                                                                    \
        do {                                                                                        \
                vq = (Virtqueue) { .mem = m, .size = 256, .desc_gpa = DESC_GPA, .avail_gpa = AVAIL_GPA, \
                                   .used_gpa = USED_GPA };                                          \
                vq.field = value;                                                                   \
                assert_int_equal(vq_start(&vq), expect);                                            \
                assert_true(vq.started == (expect == 0));                                           \
        } while (0)
        TRY(size, 256, 0);
        TRY(size, 1, 0);
        TRY(size, 0, -EINVAL);
        TRY(size, 3, -EINVAL);
        TRY(size, 512, -EINVAL);
        TRY(mem, NULL, -EINVAL);
        /* Misaligned rings. */
        TRY(desc_gpa, DESC_GPA + 8, -EINVAL);
        TRY(avail_gpa, AVAIL_GPA + 1, -EINVAL);
        TRY(used_gpa, USED_GPA + 2, -EINVAL);
        /* Rings that end exactly at the end of low RAM or of all RAM are fine... */
        TRY(desc_gpa, HOLE_START - 16 * 256, 0);
        TRY(used_gpa, RAM_END - 2056, 0);
        TRY(avail_gpa, HIGH_START, 0);
        /* ...one element further is not: across the hole, past the end, in the hole, beyond. */
        TRY(desc_gpa, HOLE_START - 16 * 255, -EINVAL);
        TRY(avail_gpa, HOLE_START - 2 * 256, -EINVAL);
        TRY(used_gpa, RAM_END - 2052, -EINVAL);
        TRY(used_gpa, HOLE_START, -EINVAL);
        TRY(desc_gpa, RAM_END, -EINVAL);
        TRY(desc_gpa, UINT64_MAX - 15, -EINVAL);
#undef TRY
        guest_memory_free(m);
}

/* One device-readable and one device-writable buffer, through pop, copy and push. */
static void test_direct(void **state) {
        static VqChain c;
        uint64_t out, in;
        char data[6] = {}, *p;
        Driver d;

        driver_init(&d, 8, false, false);
        assert_int_equal(vq_pop(&d.vq, &c), 0);

        out = buf(&d, 6, 0);
        in = buf(&d, 4, 0xee);
        memcpy(guest_ptr(d.mem, out, 6), "hello", 6);
        desc(&d, DESC_GPA, 5, out, 6, F_NEXT, 2);
        desc(&d, DESC_GPA, 2, in, 4, F_WRITE, 0);
        publish(&d, 5);

        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.head, 5);
        assert_int_equal(c.n_out, 1);
        assert_int_equal(c.n_in, 1);
        assert_int_equal(c.out_len, 6);
        assert_int_equal(c.in_len, 4);
        assert_iov(&d, &c.iov[0], out, 6);
        assert_iov(&d, &c.iov[1], in, 4);
        assert_int_equal(vq_chain_read(&c, 0, data, sizeof data), 6);
        assert_string_equal(data, "hello");
        assert_int_equal(vq_chain_write(&c, 0, "ok", 2), 2);
        assert_int_equal(vq_pop(&d.vq, &c), 0);

        assert_int_equal(used_idx(&d), 0);
        vq_push(&d.vq, c.head, 2);
        assert_int_equal(used_idx(&d), 1);
        assert_used_elem(&d, 0, 5, 2);
        p = guest_ptr(d.mem, in, 4);
        assert_memory_equal(p, "ok\xee\xee", 4);
        assert_int_equal(d.vq.n_popped, 1);
        assert_int_equal(d.vq.n_pushed, 1);
        driver_done(&d);
}

/* Copies across iovec boundaries, at offsets, and past the end of a side. */
static void test_copy(void **state) {
        static VqChain c;
        static const uint32_t lens[] = { 3, 5, 8, 4, 6 };
        uint64_t gpa[5];
        uint8_t data[32];
        Driver d;

        driver_init(&d, 8, false, false);
        for (uint16_t i = 0; i < 5; i++) {
                gpa[i] = buf(&d, lens[i], 0);
                desc(&d, DESC_GPA, i, gpa[i], lens[i], (i < 4 ? F_NEXT : 0) | (i >= 3 ? F_WRITE : 0), i + 1);
        }
        memcpy(guest_ptr(d.mem, gpa[0], 3), "abc", 3);
        memcpy(guest_ptr(d.mem, gpa[1], 5), "defgh", 5);
        memcpy(guest_ptr(d.mem, gpa[2], 8), "ijklmnop", 8);
        publish(&d, 0);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.n_out, 3);
        assert_int_equal(c.n_in, 2);
        assert_int_equal(c.out_len, 16);
        assert_int_equal(c.in_len, 10);

        assert_int_equal(vq_chain_read(&c, 2, data, 10), 10);
        assert_memory_equal(data, "cdefghijkl", 10);
        assert_int_equal(vq_chain_read(&c, 8, data, sizeof data), 8); /* short: the out side ends */
        assert_memory_equal(data, "ijklmnop", 8);
        assert_int_equal(vq_chain_read(&c, 16, data, sizeof data), 0);
        assert_int_equal(vq_chain_read(&c, UINT64_MAX, data, sizeof data), 0);

        assert_int_equal(vq_chain_write(&c, 3, "0123456789", 10), 7); /* short: the in side ends */
        assert_memory_equal(guest_ptr(d.mem, gpa[3], 4), "\0\0\0" "0", 4);
        assert_memory_equal(guest_ptr(d.mem, gpa[4], 6), "123456", 6);
        assert_int_equal(vq_chain_write(&c, 10, "x", 1), 0);
        /* Nothing spilled into the out side. */
        assert_memory_equal(guest_ptr(d.mem, gpa[2], 8), "ijklmnop", 8);
        driver_done(&d);
}

/* Zero-length descriptors are skipped: no iovec, their address never looked at. They still count
 * against the chain length and may not put a readable descriptor after a writable one. */
static void test_zero_length(void **state) {
        static VqChain c;
        uint64_t out, in;
        Driver d;

        driver_init(&d, 8, false, false);
        out = buf(&d, 4, 0);
        in = buf(&d, 4, 0);
        desc(&d, DESC_GPA, 0, out, 4, F_NEXT, 1);
        desc(&d, DESC_GPA, 1, UINT64_MAX, 0, F_NEXT, 2);
        desc(&d, DESC_GPA, 2, HOLE_START, 0, F_NEXT | F_WRITE, 3);
        desc(&d, DESC_GPA, 3, in, 4, F_WRITE, 0);
        publish(&d, 0);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.n_out, 1);
        assert_int_equal(c.n_in, 1);
        assert_iov(&d, &c.iov[0], out, 4);
        assert_iov(&d, &c.iov[1], in, 4);
        vq_push(&d.vq, c.head, 0);

        /* A chain of nothing at all is valid too. */
        desc(&d, DESC_GPA, 4, 0, 0, 0, 0);
        publish(&d, 4);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.n_out + c.n_in, 0);
        assert_int_equal(c.out_len + c.in_len, 0);
        vq_push(&d.vq, c.head, 0);

        desc(&d, DESC_GPA, 0, in, 4, F_NEXT | F_WRITE, 1);
        desc(&d, DESC_GPA, 1, 0, 0, 0, 0);
        publish(&d, 0);
        assert_broken(&d, "device-readable descriptor after a device-writable one");
        driver_done(&d);
}

/* An indirect table alone, and after direct descriptors; next order inside the table is free. */
static void test_indirect(void **state) {
        static VqChain c;
        uint64_t a, b, e, h;
        Driver d;

        driver_init(&d, 4, false, true);
        a = buf(&d, 10, 1);
        b = buf(&d, 20, 2);
        e = buf(&d, 30, 3);
        h = buf(&d, 40, 4);
        desc(&d, TABLE_GPA, 0, a, 10, F_NEXT, 2);
        desc(&d, TABLE_GPA, 2, b, 20, F_NEXT | F_WRITE, 1);
        desc(&d, TABLE_GPA, 1, e, 30, F_WRITE, 7); /* next ignored without NEXT */
        /* WRITE on the descriptor pointing at a table means nothing. */
        desc(&d, DESC_GPA, 3, TABLE_GPA, 3 * 16, F_INDIRECT | F_WRITE, 0);
        publish(&d, 3);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.head, 3);
        assert_int_equal(c.n_out, 1);
        assert_int_equal(c.n_in, 2);
        assert_iov(&d, &c.iov[0], a, 10);
        assert_iov(&d, &c.iov[1], b, 20);
        assert_iov(&d, &c.iov[2], e, 30);
        assert_int_equal(c.in_len, 50);
        vq_push(&d.vq, 3, 50);

        /* Direct readable descriptors, then one pointing at a table (spec 2.7.5.3.2). */
        desc(&d, DESC_GPA, 0, h, 40, F_NEXT, 1);
        desc(&d, DESC_GPA, 1, TABLE_GPA, 3 * 16, F_INDIRECT, 0);
        publish(&d, 0);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.head, 0);
        assert_int_equal(c.n_out, 2);
        assert_int_equal(c.n_in, 2);
        assert_iov(&d, &c.iov[0], h, 40);
        assert_iov(&d, &c.iov[1], a, 10);
        assert_int_equal(c.out_len, 50);
        vq_push(&d.vq, 0, 0);
        assert_int_equal(used_idx(&d), 2);
        assert_used_elem(&d, 0, 3, 50);
        assert_used_elem(&d, 1, 0, 0);
        driver_done(&d);
}

/* A table of n descriptors chained in order, each a 1-byte readable buffer. */
static void indirect_table(Driver *d, uint64_t table, uint32_t n) {
        uint64_t b = buf(d, 1, 0);

        for (uint32_t i = 0; i < n; i++)
                desc(d, table, (uint16_t) i, b, 1, i + 1 < n ? F_NEXT : 0, (uint16_t) (i + 1));
}

/* Chains of exactly the limit work; one more descriptor, directly or in a table, breaks the queue. */
static void test_chain_limit(void **state) {
        static VqChain c;
        Driver d;

        driver_init(&d, 8, false, true);
        /* All 8 descriptors of the table. */
        for (uint16_t i = 0; i < 8; i++)
                desc(&d, DESC_GPA, i, buf(&d, 1, 0), 1, i < 7 ? F_NEXT : 0, (i + 1) % 8);
        publish(&d, 0);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.n_out, 8);
        vq_push(&d.vq, 0, 0);
        /* 3 direct + an indirect table of 5. */
        indirect_table(&d, TABLE_GPA, 5);
        desc(&d, DESC_GPA, 3, TABLE_GPA, 5 * 16, F_INDIRECT, 0);
        publish(&d, 0);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.n_out, 8);
        vq_push(&d.vq, 0, 0);
        /* 3 direct + 6 in the table. */
        indirect_table(&d, TABLE_GPA, 6);
        desc(&d, DESC_GPA, 3, TABLE_GPA, 6 * 16, F_INDIRECT, 0);
        publish(&d, 0);
        assert_broken(&d, "descriptor chain too long, or a loop");
        driver_done(&d);

        /* An indirect table of 9 on a queue of 8. */
        driver_init(&d, 8, false, true);
        indirect_table(&d, TABLE_GPA, 9);
        desc(&d, DESC_GPA, 0, TABLE_GPA, 9 * 16, F_INDIRECT, 0);
        publish(&d, 0);
        assert_broken(&d, "descriptor chain too long, or a loop");
        driver_done(&d);

        /* VQ_CHAIN_MAX on the largest queue: 256 fits, 257 does not. */
        driver_init(&d, VQ_SIZE_MAX, false, true);
        indirect_table(&d, TABLE_GPA, VQ_CHAIN_MAX);
        desc(&d, DESC_GPA, 0, TABLE_GPA, VQ_CHAIN_MAX * 16, F_INDIRECT, 0);
        publish(&d, 0);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.n_out, VQ_CHAIN_MAX);
        assert_int_equal(c.out_len, VQ_CHAIN_MAX);
        vq_push(&d.vq, 0, 0);
        indirect_table(&d, TABLE_GPA, VQ_CHAIN_MAX + 1);
        desc(&d, DESC_GPA, 0, TABLE_GPA, (VQ_CHAIN_MAX + 1) * 16, F_INDIRECT, 0);
        publish(&d, 0);
        assert_broken(&d, "descriptor chain too long, or a loop");
        driver_done(&d);
}

/* 70,000 requests: both 16-bit indices wrap, in batches that straddle the wrap. */
static void test_wraparound(void **state) {
        static VqChain c;
        uint64_t out, in;
        uint32_t done = 0;
        Driver d;

        driver_init(&d, 16, false, false);
        out = buf(&d, 4, 0);
        in = buf(&d, 4, 0);
        for (uint16_t i = 0; i < 8; i++) {
                desc(&d, DESC_GPA, 2 * i, out, 4, F_NEXT, 2 * i + 1);
                desc(&d, DESC_GPA, 2 * i + 1, in, 4, F_WRITE, 0);
        }
        while (done < 70000) {
                uint32_t batch = 1 + done % 8, k;

                for (k = 0; k < batch; k++)
                        publish(&d, (uint16_t) (2 * ((done + k) % 8)));
                for (k = 0; k < batch; k++) {
                        put32(&d, out, done + k);
                        assert_int_equal(vq_pop(&d.vq, &c), 1);
                        assert_int_equal(c.head, 2 * ((done + k) % 8));
                        assert_int_equal(c.n_out, 1);
                        assert_int_equal(c.n_in, 1);
                        vq_push(&d.vq, c.head, done + k);
                        assert_used_elem(&d, (uint16_t) (done + k), c.head, done + k);
                }
                assert_int_equal(vq_pop(&d.vq, &c), 0);
                done += batch;
                assert_int_equal(used_idx(&d), (uint16_t) done);
        }
        assert_int_equal(d.vq.last_avail, (uint16_t) done);
        assert_int_equal(d.vq.n_popped, done);
        assert_int_equal(d.vq.n_pushed, done);
        driver_done(&d);
}

#define USED_EVENT(d) (AVAIL_GPA + 4 + 2 * (uint64_t) (d)->size)
#define AVAIL_EVENT(d) (USED_GPA + 4 + 8 * (uint64_t) (d)->size)

/* Pops and pushes n one-descriptor chains (head 0). */
static void complete(Driver *d, unsigned n) {
        static VqChain c;

        for (unsigned i = 0; i < n; i++) {
                publish(d, 0);
                assert_int_equal(vq_pop(&d->vq, &c), 1);
                vq_push(&d->vq, 0, 0);
        }
}

static void test_event_idx(void **state) {
        static VqChain c;
        Driver d;

        driver_init(&d, 8, true, false);
        desc(&d, DESC_GPA, 0, buf(&d, 4, 0), 4, 0, 0);
        assert_false(vq_should_notify(&d.vq)); /* nothing pushed */
        /* used_event 0 (as the driver starts): the first push, not the second. */
        complete(&d, 1);
        assert_true(vq_should_notify(&d.vq));
        complete(&d, 1);
        assert_false(vq_should_notify(&d.vq));
        /* NO_INTERRUPT is ignored with EVENT_IDX. */
        put16(&d, AVAIL_GPA, 1);
        put16(&d, USED_EVENT(&d), 2);
        complete(&d, 1);
        assert_true(vq_should_notify(&d.vq));
        /* used_event 5 with used idx at 3: filling entries 3 and 4 does not reach it, 5 does, even
         * when 5 and 6 are decided together. */
        put16(&d, USED_EVENT(&d), 5);
        complete(&d, 2);
        assert_false(vq_should_notify(&d.vq));
        complete(&d, 2);
        assert_true(vq_should_notify(&d.vq));
        assert_false(vq_should_notify(&d.vq));
        /* An event already passed waits for the wrap. */
        put16(&d, USED_EVENT(&d), 3);
        complete(&d, 1);
        assert_false(vq_should_notify(&d.vq));

        /* Across the 16-bit wrap: used_event 65535 is entry 65535, the push that makes idx 0. */
        complete(&d, 65534 - d.vq.used_idx);
        (void) vq_should_notify(&d.vq);
        assert_int_equal(d.vq.used_idx, 65534);
        put16(&d, USED_EVENT(&d), 65535);
        complete(&d, 1);
        assert_false(vq_should_notify(&d.vq));
        complete(&d, 1);
        assert_int_equal(d.vq.used_idx, 0);
        assert_true(vq_should_notify(&d.vq));
        /* used_event 1 seen from idx 0, decided after idx 3: inside the window. */
        put16(&d, USED_EVENT(&d), 1);
        complete(&d, 3);
        assert_true(vq_should_notify(&d.vq));

        /* Kicks: without any vq_set_notification() call, each pop asks for the next entry... */
        assert_int_equal(get16(&d, AVAIL_EVENT(&d)), d.vq.last_avail);
        publish(&d, 0);
        publish(&d, 0);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(get16(&d, AVAIL_EVENT(&d)), d.vq.last_avail);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(vq_pop(&d.vq, &c), 0);
        assert_int_equal(get16(&d, AVAIL_EVENT(&d)), d.vq.last_avail);
        vq_push(&d.vq, 0, 0);
        vq_push(&d.vq, 0, 0);
        /* ...enabling sets it too; disabling leaves it behind while pops go on. */
        put16(&d, AVAIL_EVENT(&d), 0);
        vq_set_notification(&d.vq, true);
        assert_int_equal(get16(&d, AVAIL_EVENT(&d)), d.vq.last_avail);
        vq_set_notification(&d.vq, false);
        complete(&d, 2);
        assert_int_equal(get16(&d, AVAIL_EVENT(&d)), (uint16_t) (d.vq.last_avail - 2));
        assert_int_equal(get16(&d, USED_GPA), 0); /* flags untouched */
        driver_done(&d);
}

static void test_no_interrupt(void **state) {
        Driver d;

        driver_init(&d, 8, false, false);
        desc(&d, DESC_GPA, 0, buf(&d, 4, 0), 4, 0, 0);
        put16(&d, USED_EVENT(&d), 100); /* ignored without EVENT_IDX */
        complete(&d, 1);
        assert_true(vq_should_notify(&d.vq));
        assert_false(vq_should_notify(&d.vq)); /* nothing new */
        put16(&d, AVAIL_GPA, 1);
        complete(&d, 2);
        assert_false(vq_should_notify(&d.vq));
        put16(&d, AVAIL_GPA, 0);
        complete(&d, 1);
        assert_true(vq_should_notify(&d.vq));

        vq_set_notification(&d.vq, false);
        assert_int_equal(get16(&d, USED_GPA), 1);
        vq_set_notification(&d.vq, true);
        assert_int_equal(get16(&d, USED_GPA), 0);
        assert_int_equal(get16(&d, AVAIL_EVENT(&d)), 0); /* not used without EVENT_IDX */
        driver_done(&d);
}

static void test_reset(void **state) {
        static VqChain c;
        Driver d;

        driver_init(&d, 8, true, true);
        publish(&d, 8);
        assert_broken(&d, "available ring entry outside the descriptor table");
        vq_reset(&d.vq);
        assert_ptr_equal(d.vq.mem, d.mem);
        assert_false(d.vq.broken);
        assert_null(d.vq.broken_reason);
        assert_false(d.vq.started);
        assert_int_equal(d.vq.size, 0);
        assert_int_equal(vq_pop(&d.vq, &c), 0); /* stopped */

        /* The driver sets the queue up again from scratch. */
        memset(d.mem->map, 0, RAM_SIZE);
        d.avail_idx = 0;
        d.vq.size = 8;
        d.vq.desc_gpa = DESC_GPA;
        d.vq.avail_gpa = AVAIL_GPA;
        d.vq.used_gpa = USED_GPA;
        assert_int_equal(vq_start(&d.vq), 0);
        desc(&d, DESC_GPA, 1, buf(&d, 4, 0), 4, 0, 0);
        publish(&d, 1);
        assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(c.head, 1);
        driver_done(&d);
}

/* Hostile rings: one chain each, after a good one so that the queue has state. */
static void hostile_setup(Driver *d, bool indirect) {
        static VqChain c;

        driver_init(d, 8, false, indirect);
        desc(d, DESC_GPA, 0, buf(d, 4, 0), 4, 0, 0);
        publish(d, 0);
        assert_int_equal(vq_pop(&d->vq, &c), 1);
        vq_push(&d->vq, 0, 0);
}

static void test_hostile_buffers(void **state) {
        static const struct {
                uint64_t addr;
                uint32_t len;
        } bad[] = {
                { HOLE_START - 8, 16 },   /* across the PCI hole */
                { HOLE_START, 1 },        /* in it */
                { RAM_END - 8, 16 },      /* across the end of RAM */
                { RAM_END, 1 },           /* beyond */
                { UINT64_MAX - 3, 16 },   /* addr + len wraps */
                { 0, UINT32_MAX },        /* longer than low RAM */
                { HIGH_START - 1, 2 },    /* into high RAM from the hole */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Driver d;

                /* As the last, readable, descriptor and as a writable one. */
                for (int w = 0; w < 2; w++) {
                        hostile_setup(&d, false);
                        desc(&d, DESC_GPA, 3, buf(&d, 4, 0), 4, F_NEXT, 6);
                        desc(&d, DESC_GPA, 6, bad[i].addr, bad[i].len, w ? F_WRITE : 0, 0);
                        publish(&d, 3);
                        assert_broken(&d, "descriptor buffer outside guest RAM");
                        driver_done(&d);
                }
        }
}

static void test_hostile_ring(void **state) {
        static VqChain c;
        Driver d;

        /* avail->idx more than size ahead of what we took... */
        hostile_setup(&d, false);
        put16(&d, AVAIL_GPA + 2, d.avail_idx + 9);
        assert_broken(&d, "available index more than the queue size ahead");
        driver_done(&d);
        /* ...or behind it (the driver decremented idx). */
        hostile_setup(&d, false);
        put16(&d, AVAIL_GPA + 2, d.avail_idx - 1);
        assert_broken(&d, "available index more than the queue size ahead");
        driver_done(&d);
        /* Exactly size ahead is a full ring, fine. */
        hostile_setup(&d, false);
        for (int i = 0; i < 8; i++)
                publish(&d, 0);
        for (int i = 0; i < 8; i++)
                assert_int_equal(vq_pop(&d.vq, &c), 1);
        assert_int_equal(vq_pop(&d.vq, &c), 0);
        driver_done(&d);

        hostile_setup(&d, false);
        publish(&d, 8);
        assert_broken(&d, "available ring entry outside the descriptor table");
        driver_done(&d);
        hostile_setup(&d, false);
        publish(&d, UINT16_MAX);
        assert_broken(&d, "available ring entry outside the descriptor table");
        driver_done(&d);
}

static void test_hostile_chains(void **state) {
        uint64_t b;
        Driver d;

        /* A loop through next: 1 -> 2 -> 1. */
        hostile_setup(&d, false);
        b = buf(&d, 4, 0);
        desc(&d, DESC_GPA, 1, b, 4, F_NEXT, 2);
        desc(&d, DESC_GPA, 2, b, 4, F_NEXT, 1);
        publish(&d, 1);
        assert_broken(&d, "descriptor chain too long, or a loop");
        driver_done(&d);
        /* A descriptor that is its own next, zero-length so that no buffer is ever mapped. */
        hostile_setup(&d, false);
        desc(&d, DESC_GPA, 4, 0, 0, F_NEXT, 4);
        publish(&d, 4);
        assert_broken(&d, "descriptor chain too long, or a loop");
        driver_done(&d);
        /* next outside the table. */
        hostile_setup(&d, false);
        desc(&d, DESC_GPA, 1, buf(&d, 4, 0), 4, F_NEXT, 8);
        publish(&d, 1);
        assert_broken(&d, "next index outside the descriptor table");
        driver_done(&d);
        /* Readable after writable. */
        hostile_setup(&d, false);
        desc(&d, DESC_GPA, 1, buf(&d, 4, 0), 4, F_NEXT | F_WRITE, 2);
        desc(&d, DESC_GPA, 2, buf(&d, 4, 0), 4, 0, 0);
        publish(&d, 1);
        assert_broken(&d, "device-readable descriptor after a device-writable one");
        driver_done(&d);
}

static void test_hostile_indirect(void **state) {
        Driver d;

        /* Not negotiated. */
        hostile_setup(&d, false);
        indirect_table(&d, TABLE_GPA, 2);
        desc(&d, DESC_GPA, 1, TABLE_GPA, 32, F_INDIRECT, 0);
        publish(&d, 1);
        assert_broken(&d, "indirect descriptor, but VIRTIO_F_INDIRECT_DESC was not negotiated");
        driver_done(&d);
        /* A table inside a table. */
        hostile_setup(&d, true);
        indirect_table(&d, TABLE_GPA + 0x100, 2);
        indirect_table(&d, TABLE_GPA, 2);
        desc(&d, TABLE_GPA, 1, TABLE_GPA + 0x100, 32, F_INDIRECT, 0);
        desc(&d, DESC_GPA, 1, TABLE_GPA, 32, F_INDIRECT, 0);
        publish(&d, 1);
        assert_broken(&d, "indirect descriptor inside an indirect table");
        driver_done(&d);
        /* INDIRECT | NEXT. */
        hostile_setup(&d, true);
        indirect_table(&d, TABLE_GPA, 2);
        desc(&d, DESC_GPA, 1, TABLE_GPA, 32, F_INDIRECT | F_NEXT, 2);
        desc(&d, DESC_GPA, 2, buf(&d, 4, 0), 4, F_WRITE, 0);
        publish(&d, 1);
        assert_broken(&d, "indirect descriptor with NEXT set");
        driver_done(&d);
        /* Table lengths that are not a non-zero multiple of 16. */
        for (uint32_t len = 0; len < 64; len += 8) {
                if (len % 16 == 0 && len > 0)
                        continue;
                hostile_setup(&d, true);
                indirect_table(&d, TABLE_GPA, 4);
                desc(&d, DESC_GPA, 1, TABLE_GPA, len, F_INDIRECT, 0);
                publish(&d, 1);
                assert_broken(&d, "indirect table length not a non-zero multiple of 16");
                driver_done(&d);
        }
        /* Tables across the hole and past the end of RAM. */
        hostile_setup(&d, true);
        desc(&d, DESC_GPA, 1, HOLE_START - 16, 32, F_INDIRECT, 0);
        publish(&d, 1);
        assert_broken(&d, "indirect table outside guest RAM");
        driver_done(&d);
        hostile_setup(&d, true);
        desc(&d, DESC_GPA, 1, RAM_END - 16, 32, F_INDIRECT, 0);
        publish(&d, 1);
        assert_broken(&d, "indirect table outside guest RAM");
        driver_done(&d);
        /* next outside the table, though inside the queue's own table size. */
        hostile_setup(&d, true);
        indirect_table(&d, TABLE_GPA, 4);
        desc(&d, TABLE_GPA, 1, buf(&d, 4, 0), 4, F_NEXT, 4);
        desc(&d, DESC_GPA, 1, TABLE_GPA, 4 * 16, F_INDIRECT, 0);
        publish(&d, 1);
        assert_broken(&d, "next index outside the indirect table");
        driver_done(&d);
        /* A loop inside the table. */
        hostile_setup(&d, true);
        indirect_table(&d, TABLE_GPA, 4);
        desc(&d, TABLE_GPA, 3, buf(&d, 4, 0), 4, F_NEXT, 1);
        desc(&d, DESC_GPA, 1, TABLE_GPA, 4 * 16, F_INDIRECT, 0);
        publish(&d, 1);
        assert_broken(&d, "descriptor chain too long, or a loop");
        driver_done(&d);
        /* A bad buffer inside the table. */
        hostile_setup(&d, true);
        indirect_table(&d, TABLE_GPA, 4);
        desc(&d, TABLE_GPA, 2, RAM_END - 1, 2, F_NEXT, 3);
        desc(&d, DESC_GPA, 1, TABLE_GPA, 4 * 16, F_INDIRECT, 0);
        publish(&d, 1);
        assert_broken(&d, "descriptor buffer outside guest RAM");
        driver_done(&d);
}

/* A driver on another thread, as a guest's vCPU would be: request i carries its sequence number in its
 * readable buffer, the device answers with it plus one in the writable one, and the driver checks every
 * answer. Chain j (heads 2j and 2j+1) is reused once its answer came back. */
#define THREADED_REQUESTS 100000
#define THREADED_CHAINS 32

static uint64_t req_gpa(uint32_t j) {
        return BUF_GPA + 8 * (uint64_t) j;
}

static void *driver_thread(void *p) {
        Driver *d = p;
        uint16_t *avail_idx = guest_ptr(d->mem, AVAIL_GPA + 2, 2), *used_idx = guest_ptr(d->mem, USED_GPA + 2, 2);
        uint32_t sent = 0, seen = 0;

        while (seen < THREADED_REQUESTS) {
                uint16_t u = __atomic_load_n(used_idx, __ATOMIC_ACQUIRE);

                if ((uint16_t) seen == u && sent - seen == THREADED_CHAINS)
                        sched_yield(); /* all out, none back: let the device run on a busy host */

                for (; (uint16_t) seen != u; seen++) {
                        uint32_t id = *(uint32_t *) guest_ptr(d->mem, USED_GPA + 4 + 8 * (uint64_t) (seen % d->size), 4);
                        uint32_t j = id / 2;

                        if (id % 2 != 0 || j >= THREADED_CHAINS ||
                            *(uint32_t *) guest_ptr(d->mem, req_gpa(j) + 4, 4) !=
                                    *(uint32_t *) guest_ptr(d->mem, req_gpa(j), 4) + 1)
                                return (void *) "wrong answer";
                }
                for (; sent < THREADED_REQUESTS && sent - seen < THREADED_CHAINS; sent++) {
                        uint32_t j = sent % THREADED_CHAINS;

                        *(uint32_t *) guest_ptr(d->mem, req_gpa(j), 4) = sent;
                        *(uint16_t *) guest_ptr(d->mem, AVAIL_GPA + 4 + 2 * (uint64_t) (sent % d->size), 2) = 2 * j;
                        __atomic_store_n(avail_idx, (uint16_t) (sent + 1), __ATOMIC_RELEASE);
                }
        }
        return NULL;
}

static void test_threads(void **state) {
        static VqChain c;
        uint32_t done = 0;
        pthread_t t;
        void *ret;
        Driver d;

        driver_init(&d, 2 * THREADED_CHAINS, false, false);
        for (uint16_t j = 0; j < THREADED_CHAINS; j++) {
                desc(&d, DESC_GPA, 2 * j, req_gpa(j), 4, F_NEXT, 2 * j + 1);
                desc(&d, DESC_GPA, 2 * j + 1, req_gpa(j) + 4, 4, F_WRITE, 0);
        }
        assert_int_equal(pthread_create(&t, NULL, driver_thread, &d), 0);
        while (done < THREADED_REQUESTS) {
                uint32_t v;
                int r = vq_pop(&d.vq, &c);

                assert_true(r >= 0);
                if (r == 0) {
                        sched_yield();
                        continue;
                }
                assert_int_equal(vq_chain_read(&c, 0, &v, sizeof v), 4);
                assert_int_equal(v, done);
                v++;
                assert_int_equal(vq_chain_write(&c, 0, &v, sizeof v), 4);
                vq_push(&d.vq, c.head, 4);
                done++;
        }
        assert_int_equal(pthread_join(t, &ret), 0);
        assert_null(ret);
        driver_done(&d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_start),
                cmocka_unit_test(test_direct),
                cmocka_unit_test(test_copy),
                cmocka_unit_test(test_zero_length),
                cmocka_unit_test(test_indirect),
                cmocka_unit_test(test_chain_limit),
                cmocka_unit_test(test_wraparound),
                cmocka_unit_test(test_event_idx),
                cmocka_unit_test(test_no_interrupt),
                cmocka_unit_test(test_reset),
                cmocka_unit_test(test_hostile_buffers),
                cmocka_unit_test(test_hostile_ring),
                cmocka_unit_test(test_hostile_chains),
                cmocka_unit_test(test_hostile_indirect),
                cmocka_unit_test(test_threads),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
