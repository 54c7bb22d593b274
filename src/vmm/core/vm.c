/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>

#include "log.h"
#include "string-table.h"
#include "core/vm.h"

static const char *const vm_state_table[_VM_STATE_MAX] = {
        [VM_STATE_CREATED] = "created",
        [VM_STATE_RUNNING] = "running",
        [VM_STATE_PAUSED] = "paused",
        [VM_STATE_SHUTTING_DOWN] = "shutting-down",
        [VM_STATE_STOPPED] = "stopped",
};

static const char *const vm_stop_reason_table[_VM_STOP_REASON_MAX] = {
        [VM_STOP_NONE] = "none",
        [VM_STOP_POWEROFF] = "poweroff",
        [VM_STOP_REBOOT] = "reboot",
        [VM_STOP_PANIC] = "panic",
        [VM_STOP_CRASH] = "crash",
        [VM_STOP_ERROR] = "error",
        [VM_STOP_TERMINATE] = "terminate",
        [VM_STOP_SAVED] = "saved",
};

DEFINE_STRING_TABLE_TO_STRING(vm_state, VmState);
DEFINE_STRING_TABLE_TO_STRING(vm_stop_reason, VmStopReason);


Vm *vm_free(Vm *vm) {
        if (!vm)
                return NULL;
        /* Threads must be gone before their memory is: vCPUs first, then the devices' own threads,
         * then the buses and the RAM they used. */
        for (uint32_t i = 0; i < vm->n_vcpus; i++)
                vcpu_done(&vm->vcpus[i]);
        free(vm->vcpus);
        device_free(vm->devices);
        irq_routing_free(vm->routing);
        bus_done(&vm->pio);
        bus_done(&vm->mmio);
        guest_memory_free(vm->mem);
        safe_close(vm->notify_fd);
        safe_close(vm->fd);
        safe_close(vm->kvm_fd);
        pthread_mutex_destroy(&vm->lock);
        free(vm);
        return NULL;
}

static int vm_check_caps(Vm *vm) {
        static const struct {
                long cap;
                const char *name;
        } caps[] = {
                { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
                { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
                { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
                { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
                { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
        };

        for (size_t i = 0; i < ELEMENTSOF(caps); i++)
                if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0)
                        return log_error_errno(ENOTSUP, "This KVM lacks %s, which vmm needs.", caps[i].name);
        return 0;
}

static void on_vcpu_fault(void *opaque, uint32_t index, VcpuFault f) {
        vm_request_stop(opaque, f == VCPU_FAULT_CRASH ? VM_STOP_CRASH : VM_STOP_ERROR);
}

int vm_new(const VmParams *p, Vm **ret) {
        _cleanup_(vm_freep) Vm *vm = NULL;
        int r, run_size, max_vcpus;

        assert(p->arch);
        vm = calloc(1, sizeof *vm);
        if (!vm)
                return log_oom();
        vm->kvm_fd = vm->fd = vm->notify_fd = -EBADF;
        pthread_mutex_init(&vm->lock, NULL);
        vm->start_usec = p->start_usec;
        vm->arch = p->arch;
        vm->devices = device_root_new();
        if (!vm->devices || bus_init(&vm->pio) < 0 || bus_init(&vm->mmio) < 0)
                return log_oom();

        vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (vm->kvm_fd < 0)
                return log_error_errno(errno, "Failed to open /dev/kvm: %m");
        if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
                return log_error_errno(ENOTSUP, "/dev/kvm speaks an unknown KVM API version.");
        r = vm_check_caps(vm);
        if (r < 0)
                return r;

        max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
        if (max_vcpus <= 0)
                max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
        if (p->n_vcpus == 0 || p->n_vcpus > 255 || (max_vcpus > 0 && p->n_vcpus > (uint32_t) max_vcpus))
                return log_error_errno(EINVAL, "Cannot create %u vCPUs: this host's KVM allows 1 to %d.",
                                       p->n_vcpus, max_vcpus > 255 ? 255 : max_vcpus);

        vm->fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
        if (vm->fd < 0)
                return log_error_errno(errno, "KVM_CREATE_VM failed: %m");
        r = vm->arch->init(vm);
        if (r < 0)
                return r;
        r = irq_routing_new(vm->fd, &vm->routing);
        if (r < 0)
                return log_oom();

        r = guest_memory_new(p->memory, vm->arch->ram_hole_start, vm->arch->ram_high_start, &vm->mem);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate %llu MiB of guest RAM: %m",
                                       (unsigned long long) (p->memory >> 20));
        for (size_t i = 0; i < vm->mem->n_regions; i++) {
                const GuestRegion *g = &vm->mem->regions[i];
                struct kvm_userspace_memory_region region = {
                        .slot = (uint32_t) i,
                        .guest_phys_addr = g->gpa,
                        .memory_size = g->size,
                        .userspace_addr = (uintptr_t) g->host,
                };
                if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
                        return log_error_errno(errno, "Failed to map guest RAM at 0x%llx: %m",
                                               (unsigned long long) g->gpa);
        }

        run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (run_size < (int) sizeof(struct kvm_run))
                return log_error_errno(errno, "KVM_GET_VCPU_MMAP_SIZE failed: %m");
        vm->vcpus = calloc(p->n_vcpus, sizeof *vm->vcpus);
        if (!vm->vcpus)
                return log_oom();
        for (uint32_t i = 0; i < p->n_vcpus; i++) {
                vm->n_vcpus++; /* vcpu_done() copes with a vCPU whose init failed half-way */
                r = vcpu_init(&vm->vcpus[i], &(VcpuParams) {
                                                     .vm_fd = vm->fd,
                                                     .index = i,
                                                     .run_size = (size_t) run_size,
                                                     .pio = &vm->pio,
                                                     .mmio = &vm->mmio,
                                                     .fault = on_vcpu_fault,
                                                     .opaque = vm,
                                             });
                if (r < 0)
                        return log_error_errno(r, "Failed to create vCPU %u: %m", i);
        }

        vm->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (vm->notify_fd < 0)
                return log_error_errno(errno, "eventfd: %m");
        vm->state = VM_STATE_CREATED;
        *ret = TAKE_PTR(vm);
        return 0;
}

void vm_irq_set_level(void *userdata, uint32_t gsi, bool level) {
        Vm *vm = userdata;
        struct kvm_irq_level irq = { .irq = gsi, .level = level };

        if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
                log_warning_errno(errno, "KVM_IRQ_LINE %u=%d failed: %m", gsi, level);
}

uint64_t vm_first_run_usec(Vm *vm) {
        return vm->n_vcpus > 0 ? __atomic_load_n(&vm->vcpus[0].first_run_usec, __ATOMIC_RELAXED) : 0;
}

static bool vm_stopping(Vm *vm) {
        bool s;

        pthread_mutex_lock(&vm->lock);
        s = vm->stop_requested || vm->state == VM_STATE_STOPPED;
        pthread_mutex_unlock(&vm->lock);
        return s;
}

/* Just before the vCPUs run again (after a pause or a restore): tell the guest's kvmclock it was stopped
 * on purpose, so that its soft-lockup watchdog does not fire. EINVAL: the guest has not enabled kvmclock
 * (yet); other architectures have no such thing. */
static void tell_kvmclock(Vm *vm) {
        for (uint32_t i = 0; i < vm->n_vcpus; i++)
                if (ioctl(vm->vcpus[i].fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL && errno != ENOTTY)
                        log_debug_errno(errno, "KVM_KVMCLOCK_CTRL on vCPU %u failed: %m", i);
}

int vm_spawn_vcpus(Vm *vm) {
        int r;

        if (!vm->kick_installed) {
                r = vcpu_setup_kick_signal();
                if (r < 0)
                        return log_error_errno(r, "Failed to install the vCPU kick signal: %m");
                vm->kick_installed = true;
        }
        for (uint32_t i = 0; i < vm->n_vcpus; i++) {
                r = vcpu_spawn(&vm->vcpus[i]);
                if (r < 0) {
                        vm_request_stop(vm, VM_STOP_ERROR);
                        return log_error_errno(r, "Failed to start vCPU thread %u: %m", i);
                }
        }
        return 0;
}

int vm_start(Vm *vm) {
        int r;

        r = vm_spawn_vcpus(vm);
        if (r < 0)
                return r;
        tell_kvmclock(vm); /* a restored guest has it on */
        vm_set_state(vm, VM_STATE_RUNNING);
        for (uint32_t i = 0; i < vm->n_vcpus; i++) {
                r = vcpu_start(&vm->vcpus[i]);
                if (r < 0) {
                        vm_request_stop(vm, VM_STOP_ERROR);
                        return log_error_errno(r, "Failed to start vCPU thread %u: %m", i);
                }
        }
        return 0;
}

static void request_all(Vm *vm, VcpuState want) {
        for (uint32_t i = 0; i < vm->n_vcpus; i++)
                vcpu_request(&vm->vcpus[i], want);
}

int vm_pause(Vm *vm) {
        VmState s = vm_get_state(vm);
        int r;

        if (vm_stopping(vm))
                return -ESHUTDOWN;
        if (s == VM_STATE_PAUSED)
                return 0;
        request_all(vm, VCPU_STATE_PAUSED);
        for (uint32_t i = 0; i < vm->n_vcpus; i++)
                if (vcpu_wait_out_of_guest(&vm->vcpus[i]) == VCPU_STATE_STOPPED)
                        return -ESHUTDOWN;
        /* Only with every vCPU out of the guest: a device's pause must not race a vCPU's access. */
        r = device_tree_pause(vm->devices);
        if (r < 0) {
                request_all(vm, VCPU_STATE_RUNNING);
                return r;
        }

        pthread_mutex_lock(&vm->lock);
        if (vm->stop_requested) {
                pthread_mutex_unlock(&vm->lock);
                device_tree_resume(vm->devices);
                return -ESHUTDOWN;
        }
        vm->state = VM_STATE_PAUSED;
        pthread_mutex_unlock(&vm->lock);
        return 0;
}

int vm_resume(Vm *vm) {
        bool resume = false;

        pthread_mutex_lock(&vm->lock);
        if (vm->stop_requested || vm->state == VM_STATE_STOPPED) {
                pthread_mutex_unlock(&vm->lock);
                return -ESHUTDOWN;
        }
        if (vm->state == VM_STATE_PAUSED) {
                vm->state = VM_STATE_RUNNING;
                resume = true;
        }
        pthread_mutex_unlock(&vm->lock);
        if (!resume)
                return 0;
        tell_kvmclock(vm);
        device_tree_resume(vm->devices);
        request_all(vm, VCPU_STATE_RUNNING);
        return 0;
}

void vm_request_stop(Vm *vm, VmStopReason reason) {
        bool first;

        pthread_mutex_lock(&vm->lock);
        first = !vm->stop_requested;
        if (first) {
                vm->stop_requested = true;
                vm->stop_reason = reason;
        }
        pthread_mutex_unlock(&vm->lock);
        if (!first)
                return;
        request_all(vm, VCPU_STATE_STOPPED);
        (void) eventfd_write(vm->notify_fd, 1);
}

VmStopReason vm_stop(Vm *vm) {
        VmStopReason reason;

        pthread_mutex_lock(&vm->lock);
        if (!vm->stop_requested) {
                vm->stop_requested = true;
                vm->stop_reason = VM_STOP_ERROR;
        }
        pthread_mutex_unlock(&vm->lock);
        request_all(vm, VCPU_STATE_STOPPED);
        for (uint32_t i = 0; i < vm->n_vcpus; i++)
                vcpu_join(&vm->vcpus[i]);
        /* A VM stopped while paused: its devices' threads are parked and must be let go to exit. */
        device_tree_resume(vm->devices);

        pthread_mutex_lock(&vm->lock);
        vm->state = VM_STATE_STOPPED;
        reason = vm->stop_reason;
        pthread_mutex_unlock(&vm->lock);
        return reason;
}

int vm_save(Vm *vm, StateWriter *w) {
        int r;

        if (vm_get_state(vm) != VM_STATE_PAUSED)
                return -EBUSY;
        r = vm->arch->save(vm, w);
        for (uint32_t i = 0; r >= 0 && i < vm->n_vcpus; i++)
                r = vm->arch->vcpu_save(vm, &vm->vcpus[i], w);
        if (r < 0)
                return r;
        return device_tree_save(vm->devices, w);
}

int vm_restore(Vm *vm, StateReader *r) {
        VmState s = vm_get_state(vm);
        int k;

        if (s != VM_STATE_PAUSED && s != VM_STATE_CREATED)
                return -EBUSY;
        k = vm->arch->restore(vm, r);
        for (uint32_t i = 0; k >= 0 && i < vm->n_vcpus; i++)
                k = vm->arch->vcpu_restore(vm, &vm->vcpus[i], r);
        if (k < 0)
                return k;
        /* Before the first start the devices' threads run (idle: no guest yet); restore wants them still. */
        if (s == VM_STATE_CREATED) {
                k = device_tree_pause(vm->devices);
                if (k < 0)
                        return k;
        }
        k = device_tree_restore(vm->devices, r);
        if (s == VM_STATE_CREATED)
                device_tree_resume(vm->devices);
        return k;
}

VmStopReason vm_get_stop_reason(Vm *vm) {
        VmStopReason r;

        pthread_mutex_lock(&vm->lock);
        r = vm->stop_requested ? vm->stop_reason : VM_STOP_NONE;
        pthread_mutex_unlock(&vm->lock);
        return r;
}

void vm_set_state(Vm *vm, VmState state) {
        pthread_mutex_lock(&vm->lock);
        vm->state = state;
        pthread_mutex_unlock(&vm->lock);
}

VmState vm_get_state(Vm *vm) {
        VmState s;
        pthread_mutex_lock(&vm->lock);
        s = vm->state;
        pthread_mutex_unlock(&vm->lock);
        return s;
}

void vm_get_vcpu_states(Vm *vm, VcpuState *ret) {
        for (uint32_t i = 0; i < vm->n_vcpus; i++)
                ret[i] = vcpu_get_state(&vm->vcpus[i]);
}
