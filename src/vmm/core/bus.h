/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Port-I/O and MMIO range registries: one per address space, owned by the Vm. Handlers run on vCPU
 * threads; a device that also has state touched elsewhere (e.g. by the main loop) locks it itself.
 * Ranges are registered before vCPUs start and never removed while they run, so dispatch takes no
 * lock. */

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
        BusRange *ranges; /* sorted by base, non-overlapping */
        size_t n_ranges;
} Bus;

/* -EEXIST if the range overlaps one already registered, -EINVAL for an empty or wrapping range. */
int bus_register(Bus *bus, uint64_t base, uint64_t len, BusHandler handler, void *opaque, const char *name);
/* Returns false if no range covers [addr, addr+len); reads of nothing return all-ones. */
bool bus_dispatch(const Bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);
/* -ENOENT if no range starts at base. */
int bus_unregister(Bus *bus, uint64_t base);
const BusRange *bus_find(const Bus *bus, uint64_t addr);
void bus_done(Bus *bus);
