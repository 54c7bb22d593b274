/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Port-I/O and MMIO range registries: one per address space, owned by the Vm. Handlers run on vCPU
 * threads; a device that also has state touched elsewhere (e.g. by the main loop) locks it itself.
 *
 * Ranges may be registered and unregistered while vCPUs run. Dispatch holds the bus's rwlock for
 * reading across the lookup and the handler; register and unregister take it for writing. The lock
 * prefers writers (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), so a stream of exits cannot starve a
 * remover: once one waits, new dispatches wait behind it, for as long as the handlers already running
 * take to return.
 *
 * Why a lock and not an RCU-like scheme (a published immutable array and per-reader quiescent states):
 * the read lock is two atomic operations on the exit path. bench/bus-bench.sh measured a dispatch at
 * 16 ns with it against 5 ns without, and 30-75 ns when two threads dispatch nonstop and bounce the
 * lock's cache line: small against the microseconds of a KVM exit to userspace, and the hot paths
 * (virtio kicks, MSIs) do not exit to userspace at all. RCU would save those ns, at the price of registering
 * every reader thread and of grace periods; not worth it here.
 *
 * The rules that follow from holding the lock across the handler:
 *   - a handler must never call bus_register() or bus_unregister(): on its own bus the write lock
 *     waits forever for the read lock its own thread holds; on another, two such handlers can wait
 *     for each other. Nor bus_dispatch() on its own bus: a remover queued in between makes the second
 *     read lock wait for the remover, which waits for the first (the lock is not recursive);
 *   - bus_register() and bus_unregister() must not be called with a lock held that a handler may take
 *     (a device's or the PCI bus's lock): the handler would wait for it while holding the read lock
 *     that the caller waits for. */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* offset is relative to the range's base; len is 1, 2, 4 or 8; data is little-endian. For a read
 * the handler fills data[0..len); the bus pre-fills it with 0xff. */
typedef void (*BusHandler)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

typedef struct BusRange {
        uint64_t base;
        uint64_t len;
        BusHandler handler;
        void *opaque;
        const char *name;
} BusRange;

typedef struct Bus {
        pthread_rwlock_t lock;
        BusRange *ranges; /* sorted by base, non-overlapping; under lock */
        size_t n_ranges;
        bool initialized; /* by bus_init(): bus_done() on a zeroed Bus is fine */
} Bus;

int bus_init(Bus *bus);
/* Frees the ranges and destroys the lock; no thread may dispatch any more. A zeroed Bus is fine. */
void bus_done(Bus *bus);

/* -EEXIST if the range overlaps one already registered, -EINVAL for an empty or wrapping range.
 * Any thread but a handler's (see above). */
int bus_register(Bus *bus, uint64_t base, uint64_t len, BusHandler handler, void *opaque, const char *name);
/* Removes the range that starts at base; -ENOENT if none does. Once it returns, no handler call for
 * that range is running or will start, so the caller may free its opaque. Waits for the handlers of
 * the bus that are running to return. Any thread but a handler's (see above). */
int bus_unregister(Bus *bus, uint64_t base);

/* Returns false if no range covers [addr, addr+len); reads of nothing return all-ones. */
bool bus_dispatch(Bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);
/* A copy of the range that covers addr, or -ENOENT. Only a snapshot: the range may be gone by the time
 * the caller looks at it. */
int bus_find(Bus *bus, uint64_t addr, BusRange *ret);
