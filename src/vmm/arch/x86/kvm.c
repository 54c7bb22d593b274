/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The x86 part of a KVM VM: the in-kernel irqchip (PIC, I/O APIC, local APICs) and PIT, and the pages
 * Intel's VMX needs for real mode. */
#include <errno.h>
#include <sys/ioctl.h>

#include "arch/x86/kvm.h"
#include "arch/x86/layout.h"
#include "log.h"

/* Intel VMX needs these three pages below 4 GiB for real-mode emulation; AMD ignores them. They sit
 * in the PCI hole, below the IOAPIC, where no RAM or device lives. */
#define KVM_TSS_ADDR 0xfeffd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL

static int x86_vm_init(Vm *vm) {
        static const struct {
                long cap;
                const char *name;
        } caps[] = {
                { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
                { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
                { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
        };
        uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
        struct kvm_pit_config pit = {};

        for (size_t i = 0; i < ELEMENTSOF(caps); i++)
                if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0)
                        return log_error_errno(ENOTSUP, "This KVM lacks %s, which vmm needs.", caps[i].name);
        if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long) KVM_TSS_ADDR) < 0)
                return log_error_errno(errno, "KVM_SET_TSS_ADDR failed: %m");
        if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
                return log_error_errno(errno, "KVM_SET_IDENTITY_MAP_ADDR failed: %m");
        if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
                return log_error_errno(errno, "KVM_CREATE_IRQCHIP failed: %m");
        if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0)
                return log_error_errno(errno, "KVM_CREATE_PIT2 failed: %m");
        return 0;
}

static int x86_vm_save(Vm *vm, StateWriter *w) {
        X86VmState st = { .version = X86_VM_STATE_VERSION };
        struct kvm_clock_data clock = {};

        if (ioctl(vm->fd, KVM_GET_PIT2, &st.pit) < 0 || ioctl(vm->fd, KVM_GET_CLOCK, &clock) < 0)
                return -errno;
        st.clock_ns = clock.clock;
        for (uint32_t i = 0; i < ELEMENTSOF(st.chips); i++) {
                st.chips[i].chip_id = i;
                if (ioctl(vm->fd, KVM_GET_IRQCHIP, &st.chips[i]) < 0)
                        return -errno;
        }
        return state_write(w, X86_VM_STATE_TAG, &st, sizeof st);
}

/* In the order KVM wants them: the PIT, the clock, then the irqchips. */
static int x86_vm_restore(Vm *vm, StateReader *r) {
        X86VmState st;
        struct kvm_clock_data clock = {};
        int k;

        k = state_read(r, X86_VM_STATE_TAG, &st, sizeof st);
        if (k < 0)
                return k;
        if (st.version != X86_VM_STATE_VERSION || st.reserved != 0)
                return -EINVAL;
        for (uint32_t i = 0; i < ELEMENTSOF(st.chips); i++)
                if (st.chips[i].chip_id != i || st.chips[i].pad != 0)
                        return -EINVAL;
        clock.clock = st.clock_ns;
        if (ioctl(vm->fd, KVM_SET_PIT2, &st.pit) < 0 || ioctl(vm->fd, KVM_SET_CLOCK, &clock) < 0)
                return -errno;
        for (uint32_t i = 0; i < ELEMENTSOF(st.chips); i++)
                if (ioctl(vm->fd, KVM_SET_IRQCHIP, &st.chips[i]) < 0)
                        return -errno;
        return 0;
}

const VmArch x86_vm_arch = {
        .name = "x86_64",
        .ram_hole_start = X86_PCI_HOLE_START,
        .ram_high_start = X86_HIGH_RAM_START,
        .init = x86_vm_init,
        .save = x86_vm_save,
        .restore = x86_vm_restore,
};
