/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The whole VM to a state file and back: vm_save()'s records (vCPUs, the VM's KVM state, every device),
 * guest RAM, and the identity of what the state belongs to (name, vCPUs, memory, each disk, the TSC
 * rate), in the format of snapshot/snapshot.h. The only path vmm writes is its own state directory
 * (systemd's StateDirectory=, $STATE_DIRECTORY): SUSPEND_FILE there is the suspended VM that the next
 * start resumes. Any other file is one a client opened and passed. Main thread. */

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/vm.h"
#include "vm-config.h"

#define SUSPEND_FILE VM_SUSPEND_FILE

typedef struct SuspendResult {
        char path[PATH_MAX + 32]; /* "" when the caller's fd was written */
        uint64_t bytes;
        char reason[256]; /* on failure, for the caller */
} SuspendResult;

/* Writes the paused VM's state to fd (taken; -EBADF: SUSPEND_FILE in the state directory, replaced
 * atomically). Logs. */
int suspend_save(Vm *vm, const VmConfig *config, int fd, SuspendResult *ret);

/* At start, before the vCPUs run: if the state directory holds SUSPEND_FILE, checks it against this VM,
 * restores it into vm (state CREATED) and removes it, so that it is never resumed twice (the guest's
 * disks move on from here). 1 if it did, 0 if there was none, negative (logged, the file left in place)
 * if it is not a state of this VM or cannot be restored. */
int suspend_restore(Vm *vm, const VmConfig *config);
