/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A virtio 1.x split virtqueue seen from the device (virtio spec 1.2, 2.7). The guest owns the rings
 * and may rewrite them at any moment, so every index, address, length and chain is checked against
 * guest memory before use: a malformed ring marks the queue broken and is never a read or write
 * outside guest RAM. One thread at a time drives a queue (the device's). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/memory.h"

#define VQ_SIZE_MAX 256  /* the largest queue a device offers (QueueSizeMax) */
#define VQ_CHAIN_MAX 256 /* the longest chain, indirect tables included */

/* Feature bits the queue code implements (virtio spec 6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29

typedef struct VqChain {
        uint16_t head;           /* what vq_push() hands back */
        uint32_t n_out;          /* iov[0, n_out): device-readable buffers, in chain order */
        uint32_t n_in;           /* iov[n_out, n_out + n_in): device-writable buffers */
        uint64_t out_len, in_len; /* byte totals of each side */
        struct iovec iov[VQ_CHAIN_MAX];
} VqChain;

typedef struct Virtqueue {
        /* Set by the transport from what the driver wrote, before vq_start(). */
        const GuestMemory *mem;
        uint16_t size; /* a power of two, 1..VQ_SIZE_MAX */
        uint64_t desc_gpa, avail_gpa, used_gpa;
        bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
        bool indirect;  /* VIRTIO_F_INDIRECT_DESC negotiated */

        /* Owned by the queue code. */
        bool started;
        bool broken;               /* set on the first malformed ring; every call is then a no-op */
        const char *broken_reason; /* static string, for logs and Inspect */
        void *desc, *avail, *used; /* host pointers, valid while started */
        uint16_t last_avail;       /* next avail ring entry to take */
        uint16_t used_idx;         /* our copy of used->idx */
        uint16_t signalled_used;   /* used_idx at the last vq_should_notify() */
        bool signalled_used_valid;
        bool no_notify;            /* vq_set_notification(false) in effect */
        uint64_t n_popped, n_pushed; /* counters for Inspect */
} Virtqueue;

/* Checks size and that the three rings lie wholly in guest RAM, then resolves them.
 * -EINVAL (the queue stays stopped) if not. */
int vq_start(Virtqueue *vq);
/* Back to the just-constructed state, keeping mem (device reset). */
void vq_reset(Virtqueue *vq);

#define VQ_STATE_VERSION 1
/* The reason a queue restored as broken gives (the original one is not stored). */
#define VQ_BROKEN_BEFORE_SNAPSHOT "broken before the snapshot"

/* One queue's state, fixed layout, host byte order (little-endian on every arch we build for). The flag
 * bytes are 0 or 1. Not stored: mem (the device's), the host ring pointers (re-resolved from the GPAs,
 * with vq_start()'s checks), the broken reason (a pointer; a restored broken queue says
 * VQ_BROKEN_BEFORE_SNAPSHOT). The rings themselves, avail_event and the used flags included, are guest
 * RAM and come back with it. */
typedef struct VirtqueueState {
        uint32_t version; /* VQ_STATE_VERSION */
        uint16_t size;
        uint16_t last_avail;
        uint16_t used_idx;
        uint16_t signalled_used;
        uint8_t started;
        uint8_t broken;
        uint8_t event_idx;
        uint8_t indirect;
        uint8_t signalled_used_valid;
        uint8_t no_notify;
        uint8_t reserved[6]; /* 0 */
        uint64_t desc_gpa, avail_gpa, used_gpa;
        uint64_t n_popped, n_pushed;
} VirtqueueState;
_Static_assert(sizeof(VirtqueueState) == 64, "VirtqueueState is a fixed on-disk layout");

/* Called while the queue is quiesced (nothing pops or pushes). */
void vq_save(const Virtqueue *vq, VirtqueueState *ret);
/* -EINVAL if st is not a state this queue could be in: flags other than 0/1, a size that is not a power
 * of two <= VQ_SIZE_MAX, indices and counters that do not agree, a stopped queue with more than its size,
 * GPAs and feature flags set, or a started one whose rings vq_start() would refuse (checked against
 * vq->mem). Pure. */
int vq_restore_check(const Virtqueue *vq, const VirtqueueState *st);
/* Checks as above (-EINVAL, vq untouched), then loads st and re-resolves the rings of a started queue.
 * Writes nothing to guest memory. */
int vq_restore(Virtqueue *vq, const VirtqueueState *st);

/* Takes the next available chain. Returns 1 with *c filled, 0 if the driver has made nothing new
 * available (or the queue is not started), -EINVAL if the ring or chain is malformed: the queue is
 * then broken (vq->broken, vq->broken_reason), *c holds nothing usable, and every later call
 * returns -EINVAL until vq_reset(). Zero-length descriptors are accepted and add no iovec. The iovecs
 * point into guest RAM and stay valid while the memory does; the guest may write to them at any
 * time, so device models read each header field once. */
int vq_pop(Virtqueue *vq, VqChain *c);
/* Publishes a chain as used, with len bytes written into its device-writable buffers. */
void vq_push(Virtqueue *vq, uint16_t head, uint32_t len);
/* Whether the driver wants an interrupt for what was pushed since the previous call
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX); false if nothing was. Call it after
 * a batch of vq_push(), and send the interrupt if it says so. */
bool vq_should_notify(Virtqueue *vq);
/* Tells the driver whether the device wants kicks (VIRTQ_USED_F_NO_NOTIFY, or avail_event with
 * EVENT_IDX). After enabling, callers re-check with vq_pop() to close the race with the driver.
 * Kicks are wanted from vq_start() on; with EVENT_IDX vq_pop() keeps avail_event current, so a model
 * that never calls this loses no kick either. */
void vq_set_notification(Virtqueue *vq, bool enable);

/* Copies between a chain and a flat buffer; offset counts within the readable (out) or the writable
 * (in) side only. They return the bytes copied, which is less than len when that side is shorter. */
size_t vq_chain_read(const VqChain *c, uint64_t offset, void *dst, size_t len);
size_t vq_chain_write(const VqChain *c, uint64_t offset, const void *src, size_t len);
