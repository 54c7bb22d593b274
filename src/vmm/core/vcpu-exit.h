/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Pure exit dispatch: what a vCPU does with one struct kvm_run after KVM_RUN returned. No ioctls,
 * no threads, so it is unit-tested with made-up exits. */

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"

typedef enum VcpuExitAction {
        VCPU_EXIT_CONTINUE,      /* run the vCPU again */
        VCPU_EXIT_TRIPLE_FAULT,  /* KVM_EXIT_SHUTDOWN: the guest reset the CPU the hard way */
        VCPU_EXIT_FAILED,        /* an exit vmm cannot or will not handle */
} VcpuExitAction;

/* Exit counts by reason, for inspection; kept per vCPU and only written by its thread. */
typedef enum VcpuExitKind {
        VCPU_EXIT_KIND_IO,
        VCPU_EXIT_KIND_MMIO,
        VCPU_EXIT_KIND_HLT,
        VCPU_EXIT_KIND_INTR,
        VCPU_EXIT_KIND_SHUTDOWN,
        VCPU_EXIT_KIND_OTHER,
        VCPU_EXIT_KIND_UNHANDLED_IO, /* port or MMIO accesses that no device claimed */
        _VCPU_EXIT_KIND_MAX,
} VcpuExitKind;

typedef struct VcpuExitStats {
        uint64_t count[_VCPU_EXIT_KIND_MAX];
} VcpuExitStats;

const char *vcpu_exit_kind_to_string(VcpuExitKind k);

/* run_size: the size of the kvm_run mapping, to bound the I/O data KVM points at. */
VcpuExitAction vcpu_exit_dispatch(struct kvm_run *run, size_t run_size, Bus *pio, Bus *mmio,
                                  VcpuExitStats *stats);
