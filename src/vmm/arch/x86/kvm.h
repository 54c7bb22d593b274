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
_Static_assert(sizeof(X86VmState) == 8 + sizeof(struct kvm_pit_state2) + 8 + 3 * sizeof(struct kvm_irqchip),
               "X86VmState has no hidden padding");
