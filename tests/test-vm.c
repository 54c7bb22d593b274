/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pause/resume/stop API over real KVM (testbed suite; exits 77 without /dev/kvm): the boot vCPU
 * spins writing to a port, the other waits for a SIPI in the kernel; pausing must stop the writes
 * and put every vCPU in "paused", resuming must restart them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "cleanup.h"
#include "log.h"
#include "arch/x86/kvm.h"
#include "core/vm.h"

#define SPIN_PORT 0x700

static uint64_t spins;

static void spin_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        __atomic_add_fetch(&spins, 1, __ATOMIC_RELAXED);
}

static uint64_t spins_now(void) {
        return __atomic_load_n(&spins, __ATOMIC_RELAXED);
}

static bool wait_spins_beyond(uint64_t n) {
        for (int i = 0; i < 1000; i++) {
                if (spins_now() > n + 50)
                        return true;
                usleep(10000);
        }
        return false;
}

static void setup_guest(Vm *vm) {
        static const uint8_t code[] = { 0xba, SPIN_PORT & 0xff, SPIN_PORT >> 8, /* mov dx, port */
                                        0xee,                                  /* 1: out dx, al */
                                        0xeb, 0xfd };                          /* jmp 1b */
        struct kvm_sregs sregs;
        struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };

        assert_int_equal(guest_write(vm->mem, 0x1000, code, sizeof code), 0);
        assert_int_equal(ioctl(vm->vcpus[0].fd, KVM_GET_SREGS, &sregs), 0);
        sregs.cs.base = sregs.cs.selector = 0;
        assert_int_equal(ioctl(vm->vcpus[0].fd, KVM_SET_SREGS, &sregs), 0);
        assert_int_equal(ioctl(vm->vcpus[0].fd, KVM_SET_REGS, &regs), 0);
        assert_int_equal(bus_register(&vm->pio, SPIN_PORT, 1, spin_io, NULL, "spin"), 0);
}

static void assert_all_vcpus(Vm *vm, VcpuState want) {
        VcpuState st[4];
        vm_get_vcpu_states(vm, st);
        for (uint32_t i = 0; i < vm->n_vcpus; i++)
                assert_string_equal(vcpu_state_to_string(st[i]), vcpu_state_to_string(want));
}

static void test_pause_resume(void **state) {
        Vm *vm = NULL;
        uint64_t n;

        assert_int_equal(vm_new(&(VmParams) { .arch = &x86_vm_arch, .n_vcpus = 2, .memory = 128 << 20, .start_usec = now_usec() }, &vm),
                         0);
        setup_guest(vm);
        assert_int_equal(vm_get_state(vm), VM_STATE_CREATED);
        assert_int_equal(vm_start(vm), 0);
        assert_int_equal(vm_get_state(vm), VM_STATE_RUNNING);
        assert_true(wait_spins_beyond(0));

        assert_int_equal(vm_pause(vm), 0);
        assert_int_equal(vm_get_state(vm), VM_STATE_PAUSED);
        assert_all_vcpus(vm, VCPU_STATE_PAUSED);
        n = spins_now();
        usleep(300000);
        assert_true(spins_now() == n); /* not one instruction of guest I/O while paused */

        assert_int_equal(vm_pause(vm), 0); /* pausing a paused VM: documented no-op */
        assert_int_equal(vm_get_state(vm), VM_STATE_PAUSED);

        assert_int_equal(vm_resume(vm), 0);
        assert_int_equal(vm_get_state(vm), VM_STATE_RUNNING);
        assert_true(wait_spins_beyond(n));
        assert_int_equal(vm_resume(vm), 0); /* resuming a running VM: no-op */

        /* A second round, to catch a kick that is lost after the first. */
        assert_int_equal(vm_pause(vm), 0);
        n = spins_now();
        usleep(100000);
        assert_true(spins_now() == n);
        assert_int_equal(vm_resume(vm), 0);
        assert_true(wait_spins_beyond(n));

        assert_true(vm->vcpus[0].stats.count[VCPU_EXIT_KIND_IO] > 0);

        vm_request_stop(vm, VM_STOP_POWEROFF);
        vm_request_stop(vm, VM_STOP_PANIC); /* the first reason wins */
        assert_int_equal(vm_stop(vm), VM_STOP_POWEROFF);
        assert_int_equal(vm_get_state(vm), VM_STATE_STOPPED);
        assert_all_vcpus(vm, VCPU_STATE_STOPPED);
        assert_int_equal(vm_pause(vm), -ESHUTDOWN);
        assert_int_equal(vm_resume(vm), -ESHUTDOWN);
        vm_free(vm);
}

/* The boot vCPU's rip in a saved state. */
static uint64_t a_rip(const StateWriter *w) {
        _cleanup_free_ X86VcpuState *c = malloc(sizeof *c);
        X86VmState vs;
        StateReader r = state_reader(w->data, w->size);
        assert_int_equal(state_read(&r, X86_VM_STATE_TAG, &vs, sizeof vs), 0);
        assert_int_equal(state_read(&r, X86_VCPU_STATE_TAG, c, sizeof *c), 0);
        return c->regs.rip;
}

/* The VM-wide KVM state (PIT, clock, irqchips) and each vCPU's through vm_save()/vm_restore(): what
 * comes back is what went in, a record KVM could not have written is refused before any ioctl, and a
 * second VM restored from the first runs on where the first stopped. */
static void test_vm_state(void **state) {
        StateWriter w1 = {}, w2 = {};
        StateReader r;
        X86VmState a, b;
        Vm *vm = NULL;

        assert_int_equal(vm_new(&(VmParams) { .arch = &x86_vm_arch, .n_vcpus = 2, .memory = 128 << 20,
                                              .start_usec = now_usec() },
                                &vm),
                         0);
        setup_guest(vm);
        assert_int_equal(vm_save(vm, &w1), -EBUSY); /* only a paused VM */
        assert_int_equal(vm_start(vm), 0);
        assert_true(wait_spins_beyond(0));
        assert_int_equal(vm_pause(vm), 0);
        assert_int_equal(vm_save(vm, &w1), 0);
        r = state_reader(w1.data, w1.size);
        assert_int_equal(vm_restore(vm, &r), 0);
        assert_int_equal(r.offset, r.size);
        assert_int_equal(vm_save(vm, &w2), 0);
        r = state_reader(w1.data, w1.size);
        assert_int_equal(state_read(&r, X86_VM_STATE_TAG, &a, sizeof a), 0);
        r = state_reader(w2.data, w2.size);
        assert_int_equal(state_read(&r, X86_VM_STATE_TAG, &b, sizeof b), 0);
        assert_memory_equal(a.chips, b.chips, sizeof a.chips);
        for (int i = 0; i < 3; i++) { /* count_load_time is the kernel's clock at the restore */
                assert_int_equal(a.pit.channels[i].count, b.pit.channels[i].count);
                assert_int_equal(a.pit.channels[i].mode, b.pit.channels[i].mode);
        }
        assert_true(b.clock_ns >= a.clock_ns);
        for (int i = 0; i < 2; i++) {
                _cleanup_free_ X86VcpuState *ca = malloc(sizeof *ca), *cb = malloc(sizeof *cb);
                assert_int_equal(state_read(&r, X86_VCPU_STATE_TAG, cb, sizeof *cb), 0);
                StateReader ra = state_reader(w1.data, w1.size);
                assert_int_equal(state_read(&ra, X86_VM_STATE_TAG, &a, sizeof a), 0);
                for (int j = 0; j <= i; j++)
                        assert_int_equal(state_read(&ra, X86_VCPU_STATE_TAG, ca, sizeof *ca), 0);
                assert_memory_equal(&ca->regs, &cb->regs, sizeof ca->regs);
                assert_memory_equal(&ca->sregs, &cb->sregs, sizeof ca->sregs);
                assert_int_equal(ca->mp.mp_state, cb->mp.mp_state);
                assert_int_equal(ca->n_msrs, cb->n_msrs);
                assert_true(ca->n_msrs > 10);
        }
        assert_int_equal(r.offset, r.size);

        /* hostile: wrong version, a chip id out of place, a truncated record */
        log_set_max_level(-1);
        X86VmState bad = a;
        bad.version = 99;
        StateWriter wb = {};
        assert_int_equal(state_write(&wb, X86_VM_STATE_TAG, &bad, sizeof bad), 0);
        r = state_reader(wb.data, wb.size);
        assert_int_equal(vm_restore(vm, &r), -EINVAL);
        state_writer_done(&wb);
        bad = a;
        bad.chips[0].chip_id = 2;
        assert_int_equal(state_write(&wb, X86_VM_STATE_TAG, &bad, sizeof bad), 0);
        r = state_reader(wb.data, wb.size);
        assert_int_equal(vm_restore(vm, &r), -EINVAL);
        state_writer_done(&wb);
        r = state_reader(w1.data, w1.size / 2);
        assert_int_equal(vm_restore(vm, &r), -EBADMSG);
        log_set_max_level(LOG_INFO);

        /* A second VM with the same memory contents, restored from the first: it runs on. */
        Vm *vm2 = NULL;
        assert_int_equal(vm_new(&(VmParams) { .arch = &x86_vm_arch, .n_vcpus = 2, .memory = 128 << 20,
                                              .start_usec = now_usec() },
                                &vm2),
                         0);
        setup_guest(vm2);
        struct kvm_regs regs2;
        r = state_reader(w1.data, w1.size);
        assert_int_equal(vm_restore(vm2, &r), 0);
        assert_int_equal(ioctl(vm2->vcpus[0].fd, KVM_GET_REGS, &regs2), 0);
        assert_int_equal(regs2.rip, a_rip(&w1));
        uint64_t n = spins_now();
        assert_int_equal(vm_start(vm2), 0);
        assert_true(wait_spins_beyond(n));
        vm_request_stop(vm2, VM_STOP_POWEROFF);
        (void) vm_stop(vm2);
        vm_free(vm2);

        assert_int_equal(vm_resume(vm), 0);
        assert_true(wait_spins_beyond(spins_now()));
        state_writer_done(&w1);
        state_writer_done(&w2);
        vm_request_stop(vm, VM_STOP_POWEROFF);
        (void) vm_stop(vm);
        vm_free(vm);
}

static void test_bad_params(void **state) {
        Vm *vm = NULL;

        log_set_max_level(-1);
        assert_int_equal(vm_new(&(VmParams) { .arch = &x86_vm_arch, .n_vcpus = 0, .memory = 128 << 20 }, &vm), -EINVAL);
        assert_int_equal(vm_new(&(VmParams) { .arch = &x86_vm_arch, .n_vcpus = 256, .memory = 128 << 20 }, &vm), -EINVAL);
        assert_null(vm);
        log_set_max_level(LOG_INFO);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pause_resume),
                cmocka_unit_test(test_vm_state),
                cmocka_unit_test(test_bad_params),
        };
        if (access("/dev/kvm", F_OK) < 0) {
                printf("no /dev/kvm: skipping\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
