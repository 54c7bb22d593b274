/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Every thread vmm starts comes from thread_spawn(): named, with every signal blocked except what its
 * role takes (vCPUs: the kick), and confined by the sandbox hook for its role before it runs any of
 * its own code, so before it touches guest state. */

#include <pthread.h>
#include <signal.h>

typedef enum ThreadRole {
        THREAD_ROLE_MAIN,
        THREAD_ROLE_VCPU,
        THREAD_ROLE_DEVICE_IO,
        _THREAD_ROLE_MAX,
        _THREAD_ROLE_INVALID = -22,
} ThreadRole;

/* The vCPU kick: main blocks it, vCPU threads take it only to leave KVM_RUN (vcpu.c). */
#define THREAD_SIGNAL_KICK SIGUSR2

/* Applies the sandbox for a role to the calling thread; own_fd is the fd the thread was started for
 * (a vCPU's), or -EBADF. A negative errno refuses the thread. */
typedef int (*ThreadSandboxFn)(ThreadRole role, int own_fd);

/* The process's one sandbox hook (sandbox.c's filters), set by main before the first thread_spawn()
 * and applied by the main thread to itself when it calls thread_enter_main(). NULL: none. */
void thread_set_sandbox(ThreadSandboxFn fn);
int thread_enter_main(void);

/* Starts fn(arg) on a new thread named name (at most 15 characters are kept); own_fd goes to the
 * sandbox hook (a vCPU's fd, else -EBADF). Returns once the thread has applied its sandbox: a negative
 * errno if that failed (the thread is gone again), else 0 with *ret set. */
int thread_spawn(ThreadRole role, const char *name, int own_fd, void *(*fn)(void *), void *arg, pthread_t *ret);

const char *thread_role_to_string(ThreadRole r);
