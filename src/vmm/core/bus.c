/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"

/* bench/bus-bench builds this file a second time with BUS_NO_LOCK, to measure what the lock costs on
 * the exit path against the same code without it. Never defined in vmm. */
#ifdef BUS_NO_LOCK
static void read_lock(Bus *bus) {
}
static void write_lock(Bus *bus) {
}
static void unlock(Bus *bus) {
}
#else
static void read_lock(Bus *bus) {
        int r = pthread_rwlock_rdlock(&bus->lock);
        assert(r == 0);
        (void) r;
}

static void write_lock(Bus *bus) {
        int r = pthread_rwlock_wrlock(&bus->lock);
        assert(r == 0);
        (void) r;
}

static void unlock(Bus *bus) {
        (void) pthread_rwlock_unlock(&bus->lock);
}
#endif

int bus_init(Bus *bus) {
        pthread_rwlockattr_t attr;
        int r;

        *bus = (Bus) {};
        r = pthread_rwlockattr_init(&attr);
        if (r != 0)
                return -r;
        r = pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        if (r == 0)
                r = pthread_rwlock_init(&bus->lock, &attr);
        (void) pthread_rwlockattr_destroy(&attr);
        if (r != 0)
                return -r;
        bus->initialized = true;
        return 0;
}

void bus_done(Bus *bus) {
        if (bus->initialized)
                (void) pthread_rwlock_destroy(&bus->lock);
        free(bus->ranges);
        *bus = (Bus) {};
}

int bus_register(Bus *bus, uint64_t base, uint64_t len, BusHandler handler, void *opaque, const char *name) {
        BusRange *n;
        size_t i;
        int ret = 0;

        assert(bus->initialized);
        if (len == 0 || base + len < base || !handler)
                return -EINVAL;
        write_lock(bus);
        for (i = 0; i < bus->n_ranges; i++) {
                const BusRange *r = &bus->ranges[i];
                if (base < r->base + r->len && r->base < base + len) {
                        ret = -EEXIST;
                        goto out;
                }
                if (r->base > base)
                        break;
        }
        /* Readers are locked out: the array may move. */
        n = realloc(bus->ranges, (bus->n_ranges + 1) * sizeof *n);
        if (!n) {
                ret = -ENOMEM;
                goto out;
        }
        bus->ranges = n;
        memmove(&n[i + 1], &n[i], (bus->n_ranges - i) * sizeof *n);
        n[i] = (BusRange) { .base = base, .len = len, .handler = handler, .opaque = opaque, .name = name };
        bus->n_ranges++;
out:
        unlock(bus);
        return ret;
}

int bus_unregister(Bus *bus, uint64_t base) {
        int ret = -ENOENT;

        assert(bus->initialized);
        /* Granted only once every dispatch that found the range has returned from its handler; a
         * dispatch that starts after this cannot find it. */
        write_lock(bus);
        for (size_t i = 0; i < bus->n_ranges; i++) {
                if (bus->ranges[i].base != base)
                        continue;
                memmove(&bus->ranges[i], &bus->ranges[i + 1],
                        (bus->n_ranges - i - 1) * sizeof bus->ranges[0]);
                bus->n_ranges--;
                ret = 0;
                break;
        }
        unlock(bus);
        return ret;
}

/* With the lock held. */
static const BusRange *find(const Bus *bus, uint64_t addr) {
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

int bus_find(Bus *bus, uint64_t addr, BusRange *ret) {
        const BusRange *r;

        assert(bus->initialized);
        read_lock(bus);
        r = find(bus, addr);
        if (r)
                *ret = *r;
        unlock(bus);
        return r ? 0 : -ENOENT;
}

bool bus_dispatch(Bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write) {
        const BusRange *r;
        bool found = false;

        if (!is_write)
                memset(data, 0xff, len);
        read_lock(bus);
        r = find(bus, addr);
        /* An access that straddles the end of a range is not the device's to handle. */
        if (r && len <= r->len - (addr - r->base)) {
                r->handler(r->opaque, addr - r->base, data, len, is_write);
                found = true;
        }
        unlock(bus);
        return found;
}
