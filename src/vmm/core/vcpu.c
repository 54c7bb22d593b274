/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "cleanup.h"
#include "core/thread.h"
#include "core/vcpu.h"
#include "log.h"
#include "string-table.h"
#include "time-util.h"

static const char *const vcpu_state_table[_VCPU_STATE_MAX] = {
        [VCPU_STATE_CREATED] = "created",
        [VCPU_STATE_RUNNING] = "running",
        [VCPU_STATE_PAUSED] = "paused",
        [VCPU_STATE_STOPPED] = "stopped",
};
DEFINE_STRING_TABLE_TO_STRING(vcpu_state, VcpuState);

static void kick_handler(int sig) {
        /* Nothing to do: the signal exists only to make KVM_RUN return -EINTR. */
}

int vcpu_setup_kick_signal(void) {
        struct sigaction sa = { .sa_handler = kick_handler }; /* no SA_RESTART: we want EINTR */

        sigemptyset(&sa.sa_mask);
        if (sigaction(THREAD_SIGNAL_KICK, &sa, NULL) < 0)
                return -errno;
        return 0;
}

int vcpu_init(Vcpu *v, const VcpuParams *p) {
        *v = (Vcpu) { .p = *p, .fd = -EBADF, .request = VCPU_STATE_CREATED, .state = VCPU_STATE_CREATED };
        pthread_mutex_init(&v->lock, NULL);
        pthread_cond_init(&v->cond, NULL);

        v->fd = ioctl(p->vm_fd, KVM_CREATE_VCPU, (unsigned long) p->index);
        if (v->fd < 0)
                return -errno;
        v->run = mmap(NULL, p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (v->run == MAP_FAILED) {
                v->run = NULL;
                return -errno;
        }
        return 0;
}

void vcpu_done(Vcpu *v) {
        if (v->thread_started) {
                vcpu_request(v, VCPU_STATE_STOPPED);
                vcpu_join(v);
        }
        if (v->run)
                (void) munmap(v->run, v->p.run_size);
        v->run = NULL;
        v->fd = safe_close(v->fd);
        pthread_cond_destroy(&v->cond);
        pthread_mutex_destroy(&v->lock);
}

void vcpu_request(Vcpu *v, VcpuState want) {
        bool started;

        pthread_mutex_lock(&v->lock);
        if (v->request != VCPU_STATE_STOPPED)
                v->request = want;
        started = v->thread_started;
        pthread_cond_broadcast(&v->cond);
        pthread_mutex_unlock(&v->lock);
        if (!v->run || !started || pthread_equal(v->thread, pthread_self()))
                return;
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        (void) pthread_kill(v->thread, THREAD_SIGNAL_KICK);
}

VcpuState vcpu_wait_out_of_guest(Vcpu *v) {
        VcpuState s;

        pthread_mutex_lock(&v->lock);
        while (v->thread_started && v->state != VCPU_STATE_PAUSED && v->state != VCPU_STATE_STOPPED)
                pthread_cond_wait(&v->cond, &v->lock);
        s = v->state == VCPU_STATE_STOPPED || v->request == VCPU_STATE_STOPPED ? VCPU_STATE_STOPPED : v->state;
        pthread_mutex_unlock(&v->lock);
        return s;
}

VcpuState vcpu_get_state(Vcpu *v) {
        VcpuState s;

        pthread_mutex_lock(&v->lock);
        s = v->state;
        pthread_mutex_unlock(&v->lock);
        return s;
}

/* KVM finishes an exit (an IN's value into the guest's register, RIP past an MMIO read) only at the
 * next KVM_RUN. A vCPU saved before that would replay the access after a restore, and an access with
 * side effects would happen twice: a second read of the UART's IIR finds its transmit interrupt already
 * taken, and the guest's console waits for it forever. With immediate_exit set, KVM_RUN completes the
 * exit and returns -EINTR without running guest code. */
static void handle_exit(Vcpu *v);

static void complete_exit(Vcpu *v) {
        for (unsigned i = 0; i < 1024; i++) {
                __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
                if (ioctl(v->fd, KVM_RUN, 0) < 0) {
                        if (errno != EINTR)
                                log_warning_errno(errno, "vCPU %u: completing its last exit failed: %m", v->p.index);
                        return;
                }
                /* A string I/O instruction goes on with its next piece: an exit like any other. */
                handle_exit(v);
        }
        log_warning("vCPU %u: its last exit did not complete.", v->p.index);
}

/* Waits while held (spawned, not yet started) or paused; returns false when the vCPU must stop. Before
 * it reports itself paused, the exit it handled last is completed (*exit_pending). */
static bool wait_runnable(Vcpu *v, bool *exit_pending) {
        bool run;

        pthread_mutex_lock(&v->lock);
        while (v->request == VCPU_STATE_CREATED || v->request == VCPU_STATE_PAUSED) {
                if (v->request == VCPU_STATE_PAUSED && *exit_pending) {
                        pthread_mutex_unlock(&v->lock);
                        complete_exit(v);
                        *exit_pending = false;
                        pthread_mutex_lock(&v->lock);
                        continue;
                }
                if (v->request == VCPU_STATE_PAUSED && v->state != VCPU_STATE_PAUSED) {
                        v->state = VCPU_STATE_PAUSED;
                        pthread_cond_broadcast(&v->cond);
                }
                pthread_cond_wait(&v->cond, &v->lock);
        }
        run = v->request == VCPU_STATE_RUNNING;
        v->state = run ? VCPU_STATE_RUNNING : VCPU_STATE_STOPPED;
        pthread_cond_broadcast(&v->cond);
        pthread_mutex_unlock(&v->lock);
        return run;
}

static void fault(Vcpu *v, VcpuFault f) {
        if (v->p.fault)
                v->p.fault(v->p.opaque, v->p.index, f);
}

static void *vcpu_thread(void *p) {
        Vcpu *v = p;
        bool exit_pending = false; /* the last KVM_RUN returned an exit that the next one completes */

        for (;;) {
                /* Cleared before the request is read: a kick after this point is seen either by the
                 * check or by KVM_RUN returning at once. */
                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                if (!wait_runnable(v, &exit_pending))
                        break;

                if (__atomic_load_n(&v->first_run_usec, __ATOMIC_RELAXED) == 0)
                        __atomic_store_n(&v->first_run_usec, now_usec(), __ATOMIC_RELAXED);

                exit_pending = false;
                if (ioctl(v->fd, KVM_RUN, 0) < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        log_error_errno(errno, "vCPU %u: KVM_RUN failed: %m", v->p.index);
                        fault(v, VCPU_FAULT_ERROR);
                        vcpu_request(v, VCPU_STATE_STOPPED);
                        continue;
                }

                exit_pending = true;
                handle_exit(v);
        }
        return NULL;
}

static void handle_exit(Vcpu *v) {
        switch (vcpu_exit_dispatch(v->run, v->p.run_size, v->p.pio, v->p.mmio, &v->stats)) {
        case VCPU_EXIT_CONTINUE:
                break;
        case VCPU_EXIT_TRIPLE_FAULT:
                log_error("vCPU %u: triple fault (KVM_EXIT_SHUTDOWN): the guest crashed", v->p.index);
                fault(v, VCPU_FAULT_CRASH);
                break;
        case VCPU_EXIT_FAILED:
                log_error("vCPU %u: stopping the VM after an exit it cannot handle", v->p.index);
                fault(v, VCPU_FAULT_CRASH);
                break;
        }
}

int vcpu_spawn(Vcpu *v) {
        char name[16];
        int r;

        if (v->thread_started)
                return 0;
        (void) snprintf(name, sizeof name, "vcpu%u", v->p.index);
        r = thread_spawn(THREAD_ROLE_VCPU, name, v->fd, vcpu_thread, v, &v->thread);
        if (r < 0)
                return r;
        pthread_mutex_lock(&v->lock);
        v->thread_started = true;
        pthread_mutex_unlock(&v->lock);
        return 0;
}

int vcpu_start(Vcpu *v) {
        int r = vcpu_spawn(v);
        if (r < 0)
                return r;
        vcpu_request(v, VCPU_STATE_RUNNING);
        return 0;
}

void vcpu_join(Vcpu *v) {
        if (!v->thread_started)
                return;
        (void) pthread_join(v->thread, NULL);
        pthread_mutex_lock(&v->lock);
        v->thread_started = false;
        v->state = VCPU_STATE_STOPPED;
        pthread_mutex_unlock(&v->lock);
}
