/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vCPU threads: one per vCPU, running KVM_RUN and dispatching exits to the buses. Each vCPU has its
 * own lock and a requested state (run, pause, stop) that the Vm sets; a request is delivered with a
 * kick, kvm_run.immediate_exit plus a signal, so a vCPU inside KVM_RUN leaves it at once and one about
 * to enter returns immediately. A vCPU knows nothing of the Vm: what it cannot handle goes to the fault
 * callback. */

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/bus.h"
#include "core/vcpu-exit.h"

typedef enum VcpuState {
        VCPU_STATE_CREATED,
        VCPU_STATE_RUNNING,
        VCPU_STATE_PAUSED,
        VCPU_STATE_STOPPED,
        _VCPU_STATE_MAX,
        _VCPU_STATE_INVALID = -22,
} VcpuState;

typedef enum VcpuFault {
        VCPU_FAULT_CRASH, /* triple fault, or an exit nobody can handle: the guest's doing */
        VCPU_FAULT_ERROR, /* KVM_RUN itself failed: ours or the host's */
        _VCPU_FAULT_MAX,
        _VCPU_FAULT_INVALID = -22,
} VcpuFault;

typedef struct VcpuParams {
        int vm_fd;
        uint32_t index;
        size_t run_size;
        Bus *pio, *mmio;
        /* Called on the vCPU's thread, no lock held; the vCPU goes on as requested afterwards. */
        void (*fault)(void *opaque, uint32_t index, VcpuFault f);
        void *opaque;
} VcpuParams;

typedef struct Vcpu {
        VcpuParams p;
        int fd;
        struct kvm_run *run;
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        VcpuState request; /* CREATED (held), RUNNING, PAUSED or STOPPED: what the owner wants */
        VcpuState state;   /* what the thread is doing */
        uint64_t first_run_usec; /* CLOCK_MONOTONIC of the first KVM_RUN; 0 before */
        VcpuExitStats stats;     /* written by the thread alone, read with relaxed atomics */
} Vcpu;

const char *vcpu_state_to_string(VcpuState s);

int vcpu_init(Vcpu *v, const VcpuParams *p);
/* Joins the thread first if there is one: stop it before. */
void vcpu_done(Vcpu *v);
/* Starts the vCPU's thread, confined by its sandbox and held before its first KVM_RUN; idempotent. */
int vcpu_spawn(Vcpu *v);
/* Lets the thread run the guest, spawning it first if need be. */
int vcpu_start(Vcpu *v);
/* Sets the requested state and kicks the thread; a STOPPED request is final. Any thread. */
void vcpu_request(Vcpu *v, VcpuState want);
/* Waits until the thread is no longer running guest code: PAUSED or STOPPED, which it returns. */
VcpuState vcpu_wait_out_of_guest(Vcpu *v);
VcpuState vcpu_get_state(Vcpu *v);
void vcpu_join(Vcpu *v);
/* Installs the kick signal's (empty) handler; once per process, before any vcpu_start(). */
int vcpu_setup_kick_signal(void);
