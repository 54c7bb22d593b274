/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The VM a vm.conf describes, put together from generic parts: the Vm, the architecture's board, and
 * on the board's PCI bus the devices of the config ([Disk]s, [Network]s, an entropy source), each a
 * Device in the Vm's tree. */

#include "arch/board.h"
#include "device/virtio/virtio.h"
#include "core/vm.h"
#include "vm-config.h"

/* Takes dev (also on failure), puts it on the board's PCI bus (the lowest free slot) as a Device under
 * the bus's node and starts its I/O thread; on failure nothing of it is left. ret: the node, or NULL. */
int vmm_add_virtio(Vm *vm, Board *board, VirtioDevice *dev, Device **ret);

/* disk_fds: config->n_disks fds systemd opened for the [Disk]s (-EBADF where none: the path is opened
 * here), or NULL; taken (entries become -EBADF). Logs. */
int vmm_assemble(const VmConfig *config, int *disk_fds, uint64_t start_usec, Vm **ret_vm, Board **ret_board);
