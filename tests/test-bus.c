/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

#include "core/bus.h"

typedef struct Dev {
        uint64_t last_offset;
        uint32_t last_len;
        bool last_write;
        int calls;
} Dev;

static void dev_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Dev *d = opaque;
        d->last_offset = offset;
        d->last_len = len;
        d->last_write = is_write;
        d->calls++;
        if (!is_write)
                memset(data, 0x42, len);
}

static void test_bus(void **state) {
        Bus bus;
        Dev a = {}, b = {};
        BusRange r;
        uint8_t data[8];

        assert_int_equal(bus_init(&bus), 0);
        assert_int_equal(bus_register(&bus, 0x3f8, 8, dev_io, &a, "serial"), 0);
        assert_int_equal(bus_register(&bus, 0x60, 1, dev_io, &b, "i8042"), 0);
        assert_int_equal(bus_register(&bus, 0x3fc, 1, dev_io, &b, "overlap"), -EEXIST);
        assert_int_equal(bus_register(&bus, 0x3f0, 9, dev_io, &b, "overlap"), -EEXIST);
        assert_int_equal(bus_register(&bus, 0x3f0, 8, dev_io, &b, "adjacent"), 0);
        assert_int_equal(bus_register(&bus, 0, 0, dev_io, &b, "empty"), -EINVAL);
        assert_int_equal(bus_register(&bus, UINT64_MAX, 2, dev_io, &b, "wraps"), -EINVAL);
        assert_int_equal(bus.n_ranges, 3);
        assert_true(bus.ranges[0].base < bus.ranges[1].base && bus.ranges[1].base < bus.ranges[2].base);

        assert_true(bus_dispatch(&bus, 0x3fd, data, 1, false));
        assert_int_equal(a.calls, 1);
        assert_int_equal(a.last_offset, 5);
        assert_int_equal(data[0], 0x42);

        /* Nothing there: all-ones, no handler called. */
        assert_false(bus_dispatch(&bus, 0x61, data, 1, false));
        assert_int_equal(data[0], 0xff);
        /* Straddling the end of a range is refused. */
        assert_false(bus_dispatch(&bus, 0x3fe, data, 4, true));
        assert_int_equal(a.calls, 1);

        assert_true(bus_dispatch(&bus, 0x60, data, 1, true));
        assert_int_equal(b.calls, 1);
        assert_true(b.last_write);
        assert_int_equal(bus_find(&bus, 0x3f3, &r), 0);
        assert_string_equal(r.name, "adjacent");
        assert_int_equal(r.base, 0x3f0);
        assert_int_equal(bus_find(&bus, 0x400, &r), -ENOENT);
        bus_done(&bus);
        assert_int_equal(bus.n_ranges, 0);
}

static void test_unregister(void **state) {
        Bus bus, never = {};
        Dev a = {}, b = {}, c = {}, d = {};
        uint8_t data[8];

        assert_int_equal(bus_init(&bus), 0);
        assert_int_equal(bus_register(&bus, 0x1000, 0x100, dev_io, &a, "a"), 0);
        assert_int_equal(bus_register(&bus, 0x1100, 0x100, dev_io, &b, "b"), 0);
        assert_int_equal(bus_register(&bus, 0x1200, 0x100, dev_io, &c, "c"), 0);

        /* Only a range's base names it. */
        assert_int_equal(bus_unregister(&bus, 0x1180), -ENOENT);
        assert_int_equal(bus_unregister(&bus, 0x2000), -ENOENT);
        assert_int_equal(bus_unregister(&bus, 0x1100), 0);
        assert_int_equal(bus_unregister(&bus, 0x1100), -ENOENT);
        assert_int_equal(bus.n_ranges, 2);

        /* The hole reads as nothing; the neighbours still answer. */
        assert_false(bus_dispatch(&bus, 0x1100, data, 4, false));
        assert_int_equal(data[0], 0xff);
        assert_false(bus_dispatch(&bus, 0x11fc, data, 4, true));
        assert_int_equal(b.calls, 0);
        assert_true(bus_dispatch(&bus, 0x10fc, data, 4, false));
        assert_true(bus_dispatch(&bus, 0x1200, data, 4, false));
        assert_int_equal(a.calls, 1);
        assert_int_equal(c.calls, 1);

        /* The freed hole takes a new range that fills it exactly, but not one that spills over. */
        assert_int_equal(bus_register(&bus, 0x10ff, 0x101, dev_io, &d, "spills"), -EEXIST);
        assert_int_equal(bus_register(&bus, 0x1100, 0x101, dev_io, &d, "spills"), -EEXIST);
        assert_int_equal(bus_register(&bus, 0x1100, 0x100, dev_io, &d, "d"), 0);
        assert_true(bus_dispatch(&bus, 0x1104, data, 2, true));
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.last_offset, 4);
        assert_int_equal(bus.n_ranges, 3);
        assert_true(bus.ranges[0].base < bus.ranges[1].base && bus.ranges[1].base < bus.ranges[2].base);

        /* Down to nothing, and back. */
        assert_int_equal(bus_unregister(&bus, 0x1000), 0);
        assert_int_equal(bus_unregister(&bus, 0x1200), 0);
        assert_int_equal(bus_unregister(&bus, 0x1100), 0);
        assert_int_equal(bus.n_ranges, 0);
        assert_false(bus_dispatch(&bus, 0x1000, data, 1, false));
        assert_int_equal(bus_unregister(&bus, 0x1000), -ENOENT);
        assert_int_equal(bus_register(&bus, 0x1000, 0x300, dev_io, &a, "all"), 0);
        assert_true(bus_dispatch(&bus, 0x12ff, data, 1, false));
        assert_int_equal(a.calls, 2);
        bus_done(&bus);

        /* bus_done() is fine on a Bus that bus_init() never saw (a half-built owner). */
        bus_done(&never);
}

/* Threads dispatch in a loop while the main thread unregisters a range, frees its handler's opaque and
 * registers a fresh one at the same place, many times over. */
#define N_THREADS 4
#define ROUNDS 200
#define VICTIM 0x2000
#define STABLE 0x3000

typedef struct Counter {
        uint64_t calls;
        bool dead; /* set once bus_unregister() has returned: no handler may see it */
} Counter;

typedef struct Shared {
        Bus bus;
        bool stop;
        uint64_t attempts; /* dispatches to VICTIM, found or not */
        uint64_t violations;
} Shared;

static Shared shared;

static void counter_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Counter *c = opaque;

        if (__atomic_load_n(&c->dead, __ATOMIC_ACQUIRE))
                __atomic_add_fetch(&shared.violations, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
        /* A handler that takes a while, so that an unregister often finds one running. */
        for (volatile int i = 0; i < 100; i++)
                ;
        if (__atomic_load_n(&c->dead, __ATOMIC_ACQUIRE))
                __atomic_add_fetch(&shared.violations, 1, __ATOMIC_RELAXED);
        if (!is_write)
                memset(data, 0, len);
}

static void *dispatcher(void *arg) {
        uint8_t data[4];

        while (!__atomic_load_n(&shared.stop, __ATOMIC_RELAXED)) {
                (void) bus_dispatch(&shared.bus, VICTIM + 4, data, 4, false);
                __atomic_add_fetch(&shared.attempts, 1, __ATOMIC_RELAXED);
                (void) bus_dispatch(&shared.bus, STABLE, data, 4, true);
        }
        return NULL;
}

static uint64_t attempts(void) {
        return __atomic_load_n(&shared.attempts, __ATOMIC_RELAXED);
}

static void test_unregister_while_dispatching(void **state) {
        pthread_t threads[N_THREADS];
        Counter stable = {};
        uint64_t stable_before;

        shared = (Shared) {};
        assert_int_equal(bus_init(&shared.bus), 0);
        assert_int_equal(bus_register(&shared.bus, STABLE, 4, counter_io, &stable, "stable"), 0);
        for (unsigned i = 0; i < N_THREADS; i++)
                assert_int_equal(pthread_create(&threads[i], NULL, dispatcher, NULL), 0);

        for (unsigned round = 0; round < ROUNDS; round++) {
                Counter *c = calloc(1, sizeof *c);
                uint64_t calls, seen;

                assert_non_null(c);
                assert_int_equal(bus_register(&shared.bus, VICTIM, 0x100, counter_io, c, "victim"), 0);
                /* In use before it goes. */
                while (__atomic_load_n(&c->calls, __ATOMIC_RELAXED) == 0)
                        sched_yield();

                assert_int_equal(bus_unregister(&shared.bus, VICTIM), 0);
                __atomic_store_n(&c->dead, true, __ATOMIC_RELEASE);
                calls = __atomic_load_n(&c->calls, __ATOMIC_RELAXED);
                /* The dispatchers keep trying it for a while: the counter stays. */
                seen = attempts();
                while (attempts() < seen + 2 * N_THREADS)
                        sched_yield();
                assert_int_equal(__atomic_load_n(&c->calls, __ATOMIC_RELAXED), calls);
                free(c); /* while they still dispatch to where it was (ASan would see a late call) */
        }

        stable_before = __atomic_load_n(&stable.calls, __ATOMIC_RELAXED);
        while (__atomic_load_n(&stable.calls, __ATOMIC_RELAXED) < stable_before + N_THREADS)
                sched_yield();
        __atomic_store_n(&shared.stop, true, __ATOMIC_RELAXED);
        for (unsigned i = 0; i < N_THREADS; i++)
                assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(shared.violations, 0);
        assert_int_equal(shared.bus.n_ranges, 1);
        bus_done(&shared.bus);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bus),
                cmocka_unit_test(test_unregister),
                cmocka_unit_test(test_unregister_while_dispatching),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
