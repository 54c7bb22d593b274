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
 * errno if that failed (the thread is gone again), else 0 with *ret set.
 *
 * Once the main thread has confined itself (thread_enter_main()) it may not create threads: a thread
 * made then would run under the main thread's filter too. A device added while the VM runs gets one of
 * the spare threads made beforehand (thread_make_spares()): the call hands fn(arg) to a parked spare of
 * the role (its sandbox applied long ago) and renames it; -EAGAIN when none is left. */
int thread_spawn(ThreadRole role, const char *name, int own_fd, void *(*fn)(void *), void *arg, pthread_t *ret);
/* Waits for a thread from thread_spawn() to return from fn: pthread_join(), or for a spare, until it is
 * parked again (it stays, for the next device). */
void thread_join(pthread_t t);

/* Makes n parked spare threads of role (own_fd -EBADF), before thread_enter_main(). At most
 * THREAD_SPARES_MAX in all. */
#define THREAD_SPARES_MAX 8
int thread_make_spares(ThreadRole role, unsigned n);
/* Spares of role that are parked now. */
unsigned thread_spares_free(ThreadRole role);

const char *thread_role_to_string(ThreadRole r);
