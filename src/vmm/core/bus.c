/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"

int bus_register(Bus *bus, uint64_t base, uint64_t len, BusHandler handler, void *opaque, const char *name) {
        BusRange *n;
        size_t i;

        if (len == 0 || base + len < base || !handler)
                return -EINVAL;
        for (i = 0; i < bus->n_ranges; i++) {
                const BusRange *r = &bus->ranges[i];
                if (base < r->base + r->len && r->base < base + len)
                        return -EEXIST;
                if (r->base > base)
                        break;
        }
        n = realloc(bus->ranges, (bus->n_ranges + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        bus->ranges = n;
        memmove(&n[i + 1], &n[i], (bus->n_ranges - i) * sizeof *n);
        n[i] = (BusRange) { .base = base, .len = len, .handler = handler, .opaque = opaque, .name = name };
        bus->n_ranges++;
        return 0;
}

int bus_unregister(Bus *bus, uint64_t base) {
        for (size_t i = 0; i < bus->n_ranges; i++)
                if (bus->ranges[i].base == base) {
                        memmove(&bus->ranges[i], &bus->ranges[i + 1], (bus->n_ranges - i - 1) * sizeof *bus->ranges);
                        bus->n_ranges--;
                        return 0;
                }
        return -ENOENT;
}

const BusRange *bus_find(const Bus *bus, uint64_t addr) {
        size_t lo = 0, hi = bus->n_ranges;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const BusRange *r = &bus->ranges[mid];
                if (addr < r->base)
                        hi = mid;
                else if (addr - r->base >= r->len)
                        lo = mid + 1;
                else
                        return r;
        }
        return NULL;
}

bool bus_dispatch(const Bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write) {
        const BusRange *r = bus_find(bus, addr);

        if (!is_write)
                memset(data, 0xff, len);
        /* An access that straddles the end of a range is not the device's to handle. */
        if (!r || len > r->len - (addr - r->base))
                return false;
        r->handler(r->opaque, addr - r->base, data, len, is_write);
        return true;
}

void bus_done(Bus *bus) {
        free(bus->ranges);
        *bus = (Bus) {};
}
