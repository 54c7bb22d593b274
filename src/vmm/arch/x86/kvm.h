/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/kvm.h>

#include "core/vm.h"

extern const VmArch x86_vm_arch;

#define X86_VM_STATE_VERSION 1
#define X86_VM_STATE_TAG STATE_TAG('X', '8', '6', 'V')

/* KVM's own structs, as KVM_GET_* hand them out (host byte order; x86 only). */
typedef struct X86VmState {
        uint32_t version;
        uint32_t reserved;
        struct kvm_pit_state2 pit;
        uint64_t clock_ns; /* KVM_GET_CLOCK's clock; its flags are not KVM_SET_CLOCK's to take */
        struct kvm_irqchip chips[3]; /* PIC master, PIC slave, I/O APIC */
} X86VmState;
#define X86_VCPU_STATE_VERSION 1
#define X86_VCPU_STATE_TAG STATE_TAG('X', '8', '6', 'C')
#define X86_VCPU_MSRS_MAX 256

/* One vCPU, in the order KVM wants it back (after the CPUID, which the board sets from the config
 * before a restore and which is therefore not stored): MP state, registers, special registers, XSAVE
 * area, XCRs, debug registers, local APIC, MSRs (IA32_TSC before TSC_DEADLINE), then the pending
 * events. KVM's own structs, host byte order. */
typedef struct X86VcpuState {
        uint32_t version;
        uint32_t n_msrs;
        struct kvm_mp_state mp;
        uint32_t reserved; /* 0 */
        struct kvm_regs regs;
        struct kvm_sregs sregs;
        uint32_t xsave[1024]; /* struct kvm_xsave's legacy 4 KiB region (KVM_GET_XSAVE) */
        struct kvm_xcrs xcrs;
        struct kvm_debugregs debugregs;
        struct kvm_lapic_state lapic;
        struct kvm_vcpu_events events;
        struct kvm_msr_entry msrs[X86_VCPU_MSRS_MAX];
} X86VcpuState;

_Static_assert(sizeof(X86VmState) == 8 + sizeof(struct kvm_pit_state2) + 8 + 3 * sizeof(struct kvm_irqchip),
               "X86VmState has no hidden padding");
