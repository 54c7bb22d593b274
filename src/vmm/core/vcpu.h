/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vCPU threads: one per vCPU, running KVM_RUN and dispatching exits. Pause and stop are requested
 * through the Vm's flags and delivered with a kick: kvm_run.immediate_exit plus a signal, so a
 * vCPU inside KVM_RUN leaves it at once and one about to enter returns immediately. */

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/vcpu-exit.h"

typedef struct Vm Vm;

typedef enum VcpuState {
        VCPU_STATE_CREATED,
        VCPU_STATE_RUNNING,
        VCPU_STATE_PAUSED,
        VCPU_STATE_STOPPED,
        _VCPU_STATE_MAX,
        _VCPU_STATE_INVALID = -22,
} VcpuState;

typedef struct Vcpu {
        Vm *vm;
        uint32_t index;
        int fd;
        struct kvm_run *run;
        size_t run_size;
        pthread_t thread;
        bool thread_started;
        VcpuState state; /* under vm->lock */
        VcpuExitStats stats;
} Vcpu;

const char *vcpu_state_to_string(VcpuState s);

int vcpu_init(Vcpu *v, Vm *vm, uint32_t index, size_t run_size);
void vcpu_done(Vcpu *v);
int vcpu_start(Vcpu *v);
void vcpu_kick(Vcpu *v);
void vcpu_join(Vcpu *v);
/* Installs the kick signal's (empty) handler; once per process, before any vcpu_start(). */
int vcpu_setup_kick_signal(void);
