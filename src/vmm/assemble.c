/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>

#include "assemble.h"
#include "backend/disk.h"
#include "backend/tap.h"
#include "device/virtio/blk.h"
#include "device/virtio/net.h"
#include "device/virtio/rng.h"
#include "device/virtio/virtio-pci.h"
#include "log.h"

/* The backends take plain parameters; the config's entries name themselves in their messages. */
static int open_disk(const VmDisk *vd, unsigned index, int inherited_fd, Disk **ret) {
        _cleanup_close_ int fd = inherited_fd;
        _cleanup_free_ char *label = NULL;
        int r;

        if (asprintf(&label, "[Disk] #%u (%s, line %u)", index + 1, vd->path, vd->line) < 0)
                return log_oom();
        if (fd < 0) {
                r = disk_open_path(vd->path, vd->read_only, label, &fd);
                if (r < 0)
                        return r;
        }
        return disk_new(TAKE_FD(fd), &(DiskParams) { .label = label, .read_only = vd->read_only }, ret);
}

static int open_tap(const VmNetwork *vn, unsigned index, int *ret_fd) {
        _cleanup_free_ char *label = NULL;

        if (asprintf(&label, "[Network] #%u (tap %s, line %u)", index + 1, vn->tap, vn->line) < 0)
                return log_oom();
        return tap_open_name(vn->tap, vn->bridge, label, ret_fd);
}

int vmm_add_virtio(Vm *vm, Board *board, VirtioDevice *dev, Device **ret) {
        VirtioPci *vp;
        Device *node;
        char id[DEVICE_ID_MAX];
        int r;

        (void) snprintf(id, sizeof id, "%s", dev->id);
        r = virtio_pci_new(board_pci_bus(board), vm->routing, vm->fd, dev, &vp);
        if (r < 0)
                return log_error_errno(r, "Failed to put %s on the PCI bus: %m", id);
        r = device_add(board_pci_node(board), id, virtio_pci_device_ops(vp), vp, DEVICE_ADDRESS_PCI,
                       virtio_pci_pci_device(vp)->slot, &node);
        if (r < 0)
                return log_error_errno(r, "Failed to add device %s: %m", id);
        r = virtio_device_start_thread(virtio_pci_device(vp));
        if (r < 0) {
                (void) device_free(node);
                return log_error_errno(r, "Failed to start the I/O thread of %s: %m", id);
        }
        if (ret)
                *ret = node;
        return 0;
}

static int add_virtio(Vm *vm, Board *board, VirtioDevice *dev) {
        return vmm_add_virtio(vm, board, dev, NULL);
}

static int add_disks(Vm *vm, Board *board, const VmConfig *config, int *disk_fds) {
        for (size_t i = 0; i < config->n_disks; i++) {
                const VmDisk *vd = &config->disks[i];
                VirtioDevice *dev;
                Disk *disk;
                char id[16];
                int r;

                r = open_disk(vd, (unsigned) i, disk_fds ? TAKE_FD(disk_fds[i]) : -EBADF, &disk);
                if (r < 0)
                        return r; /* the backend said which [Disk] and why */
                (void) snprintf(id, sizeof id, "disk%u", (unsigned) i);
                r = virtio_blk_new(vm->mem, id, disk, vd->serial, &dev);
                if (r < 0)
                        return log_error_errno(r, "[Disk] #%zu (%s, line %u): cannot create the device: %m", i + 1,
                                               vd->path, vd->line);
                r = add_virtio(vm, board, dev);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_networks(Vm *vm, Board *board, const VmConfig *config) {
        for (size_t i = 0; i < config->n_networks; i++) {
                const VmNetwork *vn = &config->networks[i];
                VirtioDevice *dev;
                char id[16];
                int r, fd;

                r = open_tap(vn, (unsigned) i, &fd);
                if (r < 0)
                        return r; /* the backend said which [Network] and why */
                (void) snprintf(id, sizeof id, "net%u", (unsigned) i);
                r = virtio_net_new(vm->mem, id, fd, vn->mac, &dev);
                if (r < 0)
                        return log_error_errno(r, "[Network] #%zu (tap %s, line %u): cannot create the device: %m",
                                               i + 1, vn->tap, vn->line);
                r = add_virtio(vm, board, dev);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vmm_assemble(const VmConfig *config, int *disk_fds, uint64_t start_usec, Vm **ret_vm, Board **ret_board) {
        _cleanup_(vm_freep) Vm *vm = NULL;
        _cleanup_(board_freep) Board *board = NULL;
        VirtioDevice *dev;
        int r;

        r = vm_new(&(VmParams) { .arch = board_vm_arch(),
                                 .n_vcpus = config->cpus,
                                 .memory = config->memory,
                                 .start_usec = start_usec },
                   &vm);
        if (r < 0)
                return r;
        r = board_new(vm, config, &board);
        if (r < 0)
                return r;
        /* PCI slots in the order the guest names things: disks first (vda, vdb, ...), then networks,
         * then the entropy source. */
        r = add_disks(vm, board, config, disk_fds);
        if (r < 0)
                return r;
        r = add_networks(vm, board, config);
        if (r < 0)
                return r;
        r = virtio_rng_new(vm->mem, "rng0", &dev);
        if (r < 0)
                return log_error_errno(r, "Failed to create the entropy device: %m");
        r = add_virtio(vm, board, dev);
        if (r < 0)
                return r;
        /* The board points into the Vm's device tree: it goes first (see board_free()). */
        *ret_board = TAKE_PTR(board);
        *ret_vm = TAKE_PTR(vm);
        return 0;
}
