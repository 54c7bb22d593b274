/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vmm's seccomp filters: one allow-list per thread role (core/thread.h), each applied by the thread
 * itself before it runs its own code, and by the main thread before the first KVM_RUN. A call outside
 * the list kills the whole process (SIGSYS), so that code that took over a thread cannot probe.
 *
 * Filters stack: a thread started after the main thread's filter is on also carries that one, and may
 * make only what both allow. vmm therefore starts every thread before the main thread confines itself
 * (main.c); a thread started later (hotplug) needs its calls in the main list too. */

#include <stdbool.h>

#include "core/thread.h"

typedef enum SandboxAction {
        SANDBOX_KILL, /* the default: a forbidden call kills the process */
        SANDBOX_LOG,  /* debugging (--seccomp=log): the call goes through, the kernel logs it */
        _SANDBOX_ACTION_MAX,
        _SANDBOX_ACTION_INVALID = -22,
} SandboxAction;

const char *sandbox_action_to_string(SandboxAction a);
SandboxAction sandbox_action_from_string(const char *s);

typedef struct SandboxParams {
        SandboxAction action;
        int vm_fd;  /* the KVM VM: the only fd a vCPU thread may issue VM ioctls on; -EBADF: any */
} SandboxParams;

/* Records the parameters and installs sandbox_apply() as the process's thread sandbox hook. */
void sandbox_setup(const SandboxParams *p);

/* Confines the calling thread to role's list. own_fd: for a vCPU thread its vCPU fd, the only one it may
 * call KVM_RUN on (-EBADF: any). Returns a negative errno if the filter could not be built or loaded. */
int sandbox_apply(ThreadRole role, int own_fd);
