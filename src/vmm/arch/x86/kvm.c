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

const VmArch x86_vm_arch = {
        .name = "x86_64",
        .ram_hole_start = X86_PCI_HOLE_START,
        .ram_high_start = X86_HIGH_RAM_START,
        .init = x86_vm_init,
};
