/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "cleanup.h"
#include "log.h"
#include "core/vcpu.h"
#include "core/vm.h"

/* SIGUSR2 is ours: the main thread blocks it, vCPU threads take it only to leave KVM_RUN. */
#define SIG_VCPU_KICK SIGUSR2

static const char *const vcpu_state_names[_VCPU_STATE_MAX] = {
        [VCPU_STATE_CREATED] = "created",
        [VCPU_STATE_RUNNING] = "running",
        [VCPU_STATE_PAUSED] = "paused",
        [VCPU_STATE_STOPPED] = "stopped",
};

const char *vcpu_state_to_string(VcpuState s) {
        return s >= 0 && s < _VCPU_STATE_MAX ? vcpu_state_names[s] : NULL;
}

static void kick_handler(int sig) {
        /* Nothing to do: the signal exists only to make KVM_RUN return -EINTR. */
}

int vcpu_setup_kick_signal(void) {
        struct sigaction sa = { .sa_handler = kick_handler }; /* no SA_RESTART: we want EINTR */

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIG_VCPU_KICK, &sa, NULL) < 0)
                return -errno;
        return 0;
}

int vcpu_init(Vcpu *v, Vm *vm, uint32_t index, size_t run_size) {
        *v = (Vcpu) { .vm = vm, .index = index, .fd = -EBADF, .run_size = run_size };

        v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long) index);
        if (v->fd < 0)
                return -errno;
        v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (v->run == MAP_FAILED) {
                v->run = NULL;
                return -errno;
        }
        return 0;
}

void vcpu_done(Vcpu *v) {
        if (v->run)
                (void) munmap(v->run, v->run_size);
        v->run = NULL;
        v->fd = safe_close(v->fd);
}

void vcpu_kick(Vcpu *v) {
        if (!v->run || !v->thread_started)
                return;
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        (void) pthread_kill(v->thread, SIG_VCPU_KICK);
}

/* Waits while paused; returns false when the vCPU must stop. */
static bool vcpu_wait_runnable(Vcpu *v) {
        Vm *vm = v->vm;
        bool run;

        pthread_mutex_lock(&vm->lock);
        while (vm->pause_requested && !vm->stop_requested) {
                if (v->state != VCPU_STATE_PAUSED) {
                        v->state = VCPU_STATE_PAUSED;
                        pthread_cond_broadcast(&vm->cond);
                }
                pthread_cond_wait(&vm->cond, &vm->lock);
        }
        run = !vm->stop_requested;
        v->state = run ? VCPU_STATE_RUNNING : VCPU_STATE_STOPPED;
        pthread_cond_broadcast(&vm->cond);
        pthread_mutex_unlock(&vm->lock);
        return run;
}

static void *vcpu_thread(void *p) {
        Vcpu *v = p;
        Vm *vm = v->vm;
        sigset_t kick;
        char name[16];

        snprintf(name, sizeof name, "vcpu%u", v->index);
        (void) pthread_setname_np(pthread_self(), name);
        sigemptyset(&kick);
        sigaddset(&kick, SIG_VCPU_KICK);
        pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

        for (;;) {
                /* Cleared before the flags are read: a kick after this point is seen either by the
                 * flag check or by KVM_RUN returning at once. */
                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                if (!vcpu_wait_runnable(v))
                        break;

                if (v->index == 0 && __atomic_load_n(&vm->first_run_usec, __ATOMIC_RELAXED) == 0)
                        __atomic_store_n(&vm->first_run_usec, now_usec(), __ATOMIC_RELAXED);

                if (ioctl(v->fd, KVM_RUN, 0) < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        log_error_errno(errno, "vCPU %u: KVM_RUN failed: %m", v->index);
                        vm_request_stop(vm, VM_STOP_ERROR);
                        continue;
                }

                switch (vcpu_exit_dispatch(v->run, v->run_size, &vm->pio, &vm->mmio, &v->stats)) {
                case VCPU_EXIT_CONTINUE:
                        break;
                case VCPU_EXIT_TRIPLE_FAULT:
                        log_error("vCPU %u: triple fault (KVM_EXIT_SHUTDOWN): the guest crashed", v->index);
                        vm_request_stop(vm, VM_STOP_CRASH);
                        break;
                case VCPU_EXIT_FAILED:
                        log_error("vCPU %u: stopping the VM after an exit it cannot handle", v->index);
                        vm_request_stop(vm, VM_STOP_CRASH);
                        break;
                }
        }
        return NULL;
}

int vcpu_start(Vcpu *v) {
        sigset_t all, old;
        int r;

        /* The thread starts with every signal blocked; it unblocks only the kick. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(&v->thread, NULL, vcpu_thread, v);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0)
                return -r;
        v->thread_started = true;
        return 0;
}

void vcpu_join(Vcpu *v) {
        if (!v->thread_started)
                return;
        (void) pthread_join(v->thread, NULL);
        v->thread_started = false;
}
