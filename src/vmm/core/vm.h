/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The VM: /dev/kvm, the KVM VM (its architecture's part from VmArch), guest memory, the I/O buses, the
 * device tree, the vCPUs and the state machine created -> running <-> paused -> shutting-down ->
 * stopped. Pausing stops the vCPUs and then quiesces every device, so a paused VM's memory and device
 * state hold still.
 * Threads: the main thread calls vm_*; vm_request_stop() and vm_irq_set_level() are for any thread
 * (vCPU faults and device callbacks). The vCPUs know nothing of the Vm: their faults come back through
 * a callback. */

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "core/bus.h"
#include "core/device.h"
#include "core/irq-routing.h"
#include "core/state.h"
#include "core/memory.h"
#include "core/vcpu.h"
#include "time-util.h"

typedef enum VmState {
        VM_STATE_CREATED,
        VM_STATE_RUNNING,
        VM_STATE_PAUSED,
        VM_STATE_SHUTTING_DOWN,
        VM_STATE_STOPPED,
        _VM_STATE_MAX,
        _VM_STATE_INVALID = -22,
} VmState;

/* Why the guest stopped running; decides vmm's exit status (see vmm(8)). */
typedef enum VmStopReason {
        VM_STOP_NONE,
        VM_STOP_POWEROFF, /* the guest powered off (ACPI S5) */
        VM_STOP_REBOOT,   /* the guest asked for a reset */
        VM_STOP_PANIC,    /* the guest reported a panic through pvpanic */
        VM_STOP_CRASH,    /* triple fault or an exit vmm cannot handle */
        VM_STOP_ERROR,    /* vmm itself failed while running the guest */
        VM_STOP_TERMINATE, /* stopped now from outside (io.sdvm.VM.Terminate), without asking the guest */
        VM_STOP_SAVED,     /* suspended: its state was saved (Save with stop, or SIGTERM with OnStop=save) */
        _VM_STOP_REASON_MAX,
        _VM_STOP_REASON_INVALID = -22,
} VmStopReason;

typedef struct Vm Vm;

/* What the architecture adds to a KVM VM (arch/<arch>/kvm.c): its guest-physical RAM layout and the
 * VM-wide state KVM keeps for it (x86: the in-kernel irqchip, the PIT, Intel's TSS and identity map). */
typedef struct VmArch {
        const char *name;
        uint64_t ram_hole_start; /* RAM is [0, hole) and, beyond that, from ram_high_start */
        uint64_t ram_high_start;
        /* After KVM_CREATE_VM, before guest memory and vCPUs exist; logs. */
        int (*init)(Vm *vm);
        /* The VM-wide KVM state (x86: PIT, clock, irqchips) as records, with the vCPUs paused. restore()
         * refuses a record it could not have written. */
        int (*save)(Vm *vm, StateWriter *w);
        int (*restore)(Vm *vm, StateReader *r);
        /* One paused vCPU's registers and in-kernel state (x86: MP state, registers, FPU/XSAVE, XCRs,
         * debug registers, local APIC, MSRs, pending events), from and into its own fd. */
        int (*vcpu_save)(Vm *vm, Vcpu *v, StateWriter *w);
        int (*vcpu_restore)(Vm *vm, Vcpu *v, StateReader *r);
} VmArch;

struct Vm {
        int kvm_fd;
        int fd;
        GuestMemory *mem;
        Bus pio;
        Bus mmio;
        Vcpu *vcpus;
        uint32_t n_vcpus;
        const VmArch *arch;
        IrqRouting *routing; /* MSIs of PCI devices */
        Device *devices;     /* the device tree's root */
        bool kick_installed; /* the vCPU kick's handler (main thread only) */

        pthread_mutex_t lock; /* guards everything below */
        VmState state;
        bool stop_requested;
        VmStopReason stop_reason;
        int notify_fd; /* eventfd the main loop watches: a stop was requested */

        uint64_t start_usec; /* CLOCK_MONOTONIC at vmm start */
};

typedef struct VmParams {
        const VmArch *arch;
        uint32_t n_vcpus;
        uint64_t memory;
        uint64_t start_usec;
} VmParams;

const char *vm_state_to_string(VmState s);
const char *vm_stop_reason_to_string(VmStopReason r);

int vm_new(const VmParams *p, Vm **ret);
Vm *vm_free(Vm *vm);
DEFINE_TRIVIAL_CLEANUP_FUNC(Vm *, vm_free);

/* Starts the vCPU threads, each confined by its sandbox and held before its first KVM_RUN, so that the
 * main thread can confine itself after them and before the guest runs (sandbox.h). */
int vm_spawn_vcpus(Vm *vm);
/* Lets the vCPUs run the guest (spawning their threads first if vm_spawn_vcpus() was not called). */
int vm_start(Vm *vm);
/* Stops every vCPU, waits until all have left KVM_RUN, then pauses the devices (device_tree_pause()).
 * Pausing a paused VM succeeds and does nothing; so does resuming a running one. -ESHUTDOWN once the
 * VM is stopping or stopped. */
int vm_pause(Vm *vm);
int vm_resume(Vm *vm);
/* Records why the guest must stop (the first reason wins), stops the vCPUs from running guest
 * code and wakes the main loop through notify_fd. Safe from any thread. */
void vm_request_stop(Vm *vm, VmStopReason reason);
/* Main thread, after a stop request: joins the vCPU threads. Returns the reason. */
VmStopReason vm_stop(Vm *vm);
/* A paused VM's state: the architecture's VM-wide KVM state, each vCPU's, then the device tree's
 * records. -EBUSY unless paused (or, for restore, not started yet). Guest RAM is not in it. */
int vm_save(Vm *vm, StateWriter *w);
int vm_restore(Vm *vm, StateReader *r);

/* Why the VM stops: VM_STOP_NONE before vm_request_stop(). */
VmStopReason vm_get_stop_reason(Vm *vm);
void vm_set_state(Vm *vm, VmState state);
VmState vm_get_state(Vm *vm);
/* Snapshot of each vCPU's state, n_vcpus entries. */
void vm_get_vcpu_states(Vm *vm, VcpuState *ret);

/* IRQ line for devices (Irq.set_level). */
void vm_irq_set_level(void *vm, uint32_t gsi, bool level);

/* CLOCK_MONOTONIC when the boot vCPU first entered the guest; 0 before. */
uint64_t vm_first_run_usec(Vm *vm);
