/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "core/vcpu-exit.h"

#define RUN_SIZE 4096

typedef struct Port {
        uint8_t last[8];
        uint32_t last_len;
        int writes, reads;
} Port;

static void port_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Port *p = opaque;
        if (is_write) {
                memcpy(p->last, data, len);
                p->writes++;
        } else {
                memset(data, 0x5a, len);
                p->reads++;
        }
        p->last_len = len;
}

static _Alignas(8) uint8_t page[RUN_SIZE];

static struct kvm_run *fresh_run(uint32_t reason) {
        struct kvm_run *run = (struct kvm_run *) page;
        memset(page, 0, sizeof page);
        run->exit_reason = reason;
        return run;
}

static void buses_init(Bus *pio, Bus *mmio) {
        assert_int_equal(bus_init(pio), 0);
        assert_int_equal(bus_init(mmio), 0);
}

static void buses_done(Bus *pio, Bus *mmio) {
        bus_done(pio);
        bus_done(mmio);
}

static void test_io(void **state) {
        Bus pio, mmio;
        Port p = {};
        VcpuExitStats st = {};
        struct kvm_run *run;

        buses_init(&pio, &mmio);
        assert_int_equal(bus_register(&pio, 0x3f8, 8, port_io, &p, "com1"), 0);

        /* rep outsb of 3 bytes */
        run = fresh_run(KVM_EXIT_IO);
        run->io.direction = KVM_EXIT_IO_OUT;
        run->io.size = 1;
        run->io.port = 0x3f8;
        run->io.count = 3;
        run->io.data_offset = 1024;
        memcpy(page + 1024, "abc", 3);
        assert_int_equal(vcpu_exit_dispatch(run, RUN_SIZE, &pio, &mmio, &st), VCPU_EXIT_CONTINUE);
        assert_int_equal(p.writes, 3);
        assert_int_equal(p.last[0], 'c');
        assert_int_equal(st.count[VCPU_EXIT_KIND_IO], 1);

        /* a read fills the data KVM hands back to the guest */
        run = fresh_run(KVM_EXIT_IO);
        run->io.direction = KVM_EXIT_IO_IN;
        run->io.size = 2;
        run->io.port = 0x3fa;
        run->io.count = 1;
        run->io.data_offset = 2048;
        assert_int_equal(vcpu_exit_dispatch(run, RUN_SIZE, &pio, &mmio, &st), VCPU_EXIT_CONTINUE);
        assert_int_equal(page[2048], 0x5a);
        assert_int_equal(page[2049], 0x5a);

        /* nobody at the port: all-ones, counted, not fatal */
        run->io.port = 0x2f8;
        assert_int_equal(vcpu_exit_dispatch(run, RUN_SIZE, &pio, &mmio, &st), VCPU_EXIT_CONTINUE);
        assert_int_equal(page[2048], 0xff);
        assert_int_equal(st.count[VCPU_EXIT_KIND_UNHANDLED_IO], 1);

        /* geometry that would point outside the kvm_run mapping */
        run->io.data_offset = RUN_SIZE - 1;
        run->io.size = 4;
        assert_int_equal(vcpu_exit_dispatch(run, RUN_SIZE, &pio, &mmio, &st), VCPU_EXIT_FAILED);
        run->io.data_offset = 16;
        run->io.size = 3;
        assert_int_equal(vcpu_exit_dispatch(run, RUN_SIZE, &pio, &mmio, &st), VCPU_EXIT_FAILED);
        run->io.size = 4;
        run->io.count = 0x40000000;
        assert_int_equal(vcpu_exit_dispatch(run, RUN_SIZE, &pio, &mmio, &st), VCPU_EXIT_FAILED);
        buses_done(&pio, &mmio);
}

static void test_mmio(void **state) {
        Bus pio, mmio;
        Port p = {};
        VcpuExitStats st = {};
        struct kvm_run *run = fresh_run(KVM_EXIT_MMIO);

        buses_init(&pio, &mmio);
        assert_int_equal(bus_register(&mmio, 0xd0000000, 0x1000, port_io, &p, "dev"), 0);
        run->mmio.phys_addr = 0xd0000010;
        run->mmio.len = 8;
        run->mmio.is_write = 1;
        memcpy(run->mmio.data, "12345678", 8);
        assert_int_equal(vcpu_exit_dispatch(run, RUN_SIZE, &pio, &mmio, &st), VCPU_EXIT_CONTINUE);
        assert_int_equal(p.last_len, 8);
        assert_memory_equal(p.last, "12345678", 8);
        run->mmio.len = 9;
        assert_int_equal(vcpu_exit_dispatch(run, RUN_SIZE, &pio, &mmio, &st), VCPU_EXIT_FAILED);
        buses_done(&pio, &mmio);
}

static void test_fatal(void **state) {
        Bus pio, mmio;
        VcpuExitStats st = {};

        buses_init(&pio, &mmio);
        assert_int_equal(vcpu_exit_dispatch(fresh_run(KVM_EXIT_SHUTDOWN), RUN_SIZE, &pio, &mmio, &st),
                         VCPU_EXIT_TRIPLE_FAULT);
        assert_int_equal(vcpu_exit_dispatch(fresh_run(KVM_EXIT_INTERNAL_ERROR), RUN_SIZE, &pio, &mmio, &st),
                         VCPU_EXIT_FAILED);
        assert_int_equal(vcpu_exit_dispatch(fresh_run(KVM_EXIT_FAIL_ENTRY), RUN_SIZE, &pio, &mmio, &st),
                         VCPU_EXIT_FAILED);
        assert_int_equal(vcpu_exit_dispatch(fresh_run(9999), RUN_SIZE, &pio, &mmio, &st), VCPU_EXIT_FAILED);
        assert_int_equal(vcpu_exit_dispatch(fresh_run(KVM_EXIT_HLT), RUN_SIZE, &pio, &mmio, &st),
                         VCPU_EXIT_CONTINUE);
        assert_int_equal(st.count[VCPU_EXIT_KIND_SHUTDOWN], 1);
        assert_int_equal(st.count[VCPU_EXIT_KIND_OTHER], 3);
        assert_string_equal(vcpu_exit_kind_to_string(VCPU_EXIT_KIND_UNHANDLED_IO), "unhandled-io");
        assert_null(vcpu_exit_kind_to_string(_VCPU_EXIT_KIND_MAX));
        buses_done(&pio, &mmio);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_io),
                cmocka_unit_test(test_mmio),
                cmocka_unit_test(test_fatal),
        };
        log_set_max_level(-1); /* the failures above log by design */
        return cmocka_run_group_tests(tests, NULL, NULL);
}
