/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The x86 part of a KVM VM: the in-kernel irqchip (PIC, I/O APIC, local APICs) and PIT, and the pages
 * Intel's VMX needs for real mode. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/kvm.h"
#include "arch/x86/layout.h"
#include "cleanup.h"
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

/* The MSRs KVM says a VMM should save, IA32_TSC first and TSC_DEADLINE last, so that a restored
 * deadline is relative to the restored TSC. Cached: the list is KVM's, the same for every vCPU. */
#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0

static int msr_rank(uint32_t index) {
        return index == MSR_IA32_TSC ? 0 : index == MSR_IA32_TSC_DEADLINE ? 2 : 1;
}

static int msr_index_list(Vm *vm, uint32_t *ret, uint32_t *ret_n) {
        struct {
                struct kvm_msr_list l;
                uint32_t indices[X86_VCPU_MSRS_MAX];
        } list = { .l.nmsrs = X86_VCPU_MSRS_MAX };
        uint32_t n = 0;

        if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &list) < 0)
                return -errno;
        for (int rank = 0; rank < 3; rank++)
                for (uint32_t i = 0; i < list.l.nmsrs && i < X86_VCPU_MSRS_MAX; i++)
                        if (msr_rank(list.indices[i]) == rank)
                                ret[n++] = list.indices[i];
        *ret_n = n;
        return 0;
}

typedef struct Msrs {
        struct kvm_msrs head;
        struct kvm_msr_entry entries[X86_VCPU_MSRS_MAX];
} Msrs;

static int x86_vcpu_save(Vm *vm, Vcpu *v, StateWriter *w) {
        _cleanup_free_ X86VcpuState *st = NULL;
        _cleanup_free_ Msrs *msrs = NULL;
        uint32_t indices[X86_VCPU_MSRS_MAX], n = 0;
        int r;

        st = calloc(1, sizeof *st);
        msrs = calloc(1, sizeof *msrs);
        if (!st || !msrs)
                return -ENOMEM;
        st->version = X86_VCPU_STATE_VERSION;
        if (ioctl(v->fd, KVM_GET_MP_STATE, &st->mp) < 0 || ioctl(v->fd, KVM_GET_REGS, &st->regs) < 0 ||
            ioctl(v->fd, KVM_GET_SREGS, &st->sregs) < 0 || ioctl(v->fd, KVM_GET_XSAVE, st->xsave) < 0 ||
            ioctl(v->fd, KVM_GET_XCRS, &st->xcrs) < 0 || ioctl(v->fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0 ||
            ioctl(v->fd, KVM_GET_LAPIC, &st->lapic) < 0 || ioctl(v->fd, KVM_GET_VCPU_EVENTS, &st->events) < 0)
                return -errno;

        r = msr_index_list(vm, indices, &n);
        if (r < 0)
                return r;
        /* KVM_GET_MSRS stops at the first MSR it cannot read (one the host CPU lacks): skip that one and
         * go on, so what is saved is exactly what this vCPU has. */
        for (uint32_t i = 0; i < n;) {
                uint32_t k = 0;
                for (uint32_t j = i; j < n; j++)
                        msrs->entries[k++] = (struct kvm_msr_entry) { .index = indices[j] };
                msrs->head.nmsrs = k;
                r = ioctl(v->fd, KVM_GET_MSRS, msrs);
                if (r < 0)
                        return -errno;
                for (int j = 0; j < r; j++)
                        st->msrs[st->n_msrs++] = msrs->entries[j];
                i += (uint32_t) r + 1;
        }
        return state_write(w, X86_VCPU_STATE_TAG, st, sizeof *st);
}

static int x86_vcpu_restore(Vm *vm, Vcpu *v, StateReader *r) {
        _cleanup_free_ X86VcpuState *st = NULL;
        _cleanup_free_ Msrs *msrs = NULL;
        int k;

        st = malloc(sizeof *st);
        msrs = calloc(1, sizeof *msrs);
        if (!st || !msrs)
                return -ENOMEM;
        k = state_read(r, X86_VCPU_STATE_TAG, st, sizeof *st);
        if (k < 0)
                return k;
        if (st->version != X86_VCPU_STATE_VERSION || st->reserved != 0 || st->n_msrs > X86_VCPU_MSRS_MAX)
                return -EINVAL;
        for (uint32_t i = 0; i < st->n_msrs; i++)
                if (st->msrs[i].reserved != 0)
                        return -EINVAL;
        memcpy(msrs->entries, st->msrs, st->n_msrs * sizeof st->msrs[0]);
        msrs->head.nmsrs = st->n_msrs;

        if (ioctl(v->fd, KVM_SET_MP_STATE, &st->mp) < 0 || ioctl(v->fd, KVM_SET_REGS, &st->regs) < 0 ||
            ioctl(v->fd, KVM_SET_SREGS, &st->sregs) < 0 || ioctl(v->fd, KVM_SET_XSAVE, st->xsave) < 0 ||
            ioctl(v->fd, KVM_SET_XCRS, &st->xcrs) < 0 || ioctl(v->fd, KVM_SET_DEBUGREGS, &st->debugregs) < 0 ||
            ioctl(v->fd, KVM_SET_LAPIC, &st->lapic) < 0)
                return -errno;
        k = ioctl(v->fd, KVM_SET_MSRS, msrs);
        if (k < 0)
                return -errno;
        if ((uint32_t) k != st->n_msrs)
                return log_debug_errno(EINVAL, "vCPU %u: KVM refused MSR 0x%x of the saved state.", v->p.index,
                                       st->msrs[k].index);
        if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &st->events) < 0)
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
        .vcpu_save = x86_vcpu_save,
        .vcpu_restore = x86_vcpu_restore,
};
