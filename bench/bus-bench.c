/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ns per bus_dispatch(): N threads (vCPUs) each dispatching M port reads to a handler that does
 * almost nothing, on a bus laid out like vmm's port bus. Built twice: bus-bench with core/bus.c as vmm
 * has it, bus-bench-nolock with the same file built with BUS_NO_LOCK, so the difference is what the
 * lock costs on the exit path. Prints one JSON object; bench/bus-bench.sh runs both.
 *
 *   bus-bench [THREADS [DISPATCHES_PER_THREAD]] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/bus.h"

#ifdef BUS_NO_LOCK
#define VARIANT "none"
#else
#define VARIANT "rwlock-prefer-writer"
#endif

static Bus bus;
static unsigned long dispatches = 5000000;
static pthread_barrier_t start;

static void reg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        uint8_t *reg = opaque;

        if (is_write)
                *reg = data[0];
        else
                data[0] = *reg;
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

static void *run(void *arg) {
        uint64_t *ret_ns = arg, t0;
        uint8_t data[4];

        pthread_barrier_wait(&start);
        t0 = now_ns();
        /* The serial port's line status register: what a guest polls most while it prints. */
        for (unsigned long i = 0; i < dispatches; i++)
                if (!bus_dispatch(&bus, 0x3fd, data, 1, false))
                        abort();
        *ret_ns = now_ns() - t0;
        return NULL;
}

int main(int argc, char **argv) {
        static const struct {
                uint64_t base, len;
        } ranges[] = {{0x60, 1}, {0x64, 1}, {0x505, 1}, {0x600, 3}, {0x80, 1}, {0xcf8, 8}, {0x3f8, 8}};
        static uint8_t regs[sizeof ranges / sizeof ranges[0]];
        unsigned threads = argc > 1 ? (unsigned) strtoul(argv[1], NULL, 0) : 1;
        pthread_t tid[64];
        uint64_t ns[64], total = 0;

        if (argc > 2)
                dispatches = strtoul(argv[2], NULL, 0);
        if (threads == 0 || threads > 64 || dispatches == 0) {
                fprintf(stderr, "usage: %s [THREADS (1-64) [DISPATCHES_PER_THREAD]]\n", argv[0]);
                return 2;
        }
        if (bus_init(&bus) < 0)
                return 1;
        for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
                if (bus_register(&bus, ranges[i].base, ranges[i].len, reg_io, &regs[i], "r") < 0)
                        return 1;
        pthread_barrier_init(&start, NULL, threads);
        for (unsigned i = 0; i < threads; i++)
                if (pthread_create(&tid[i], NULL, run, &ns[i]) != 0)
                        return 1;
        for (unsigned i = 0; i < threads; i++) {
                pthread_join(tid[i], NULL);
                total += ns[i];
        }
        printf("{\"lock\": \"%s\", \"threads\": %u, \"dispatches_per_thread\": %lu, "
               "\"ns_per_dispatch\": %.2f}\n",
               VARIANT, threads, dispatches, (double) total / threads / dispatches);
        pthread_barrier_destroy(&start);
        bus_done(&bus);
        return 0;
}
