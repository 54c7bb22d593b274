/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device/virtio/blk.h"
#include "device/virtio/virtio-pci.h"
#include "log.h"
#include "snapshot/snapshot.h"
#include "suspend.h"

/* The state directory systemd made for us (StateDirectory=vms/NAME, the first of $STATE_DIRECTORY's
 * list); none when run by hand. */
static int state_dir(char path[static PATH_MAX], int *ret_fd) {
        const char *dir = getenv("STATE_DIRECTORY");
        size_t n = dir ? strcspn(dir, ":") : 0;
        int fd;

        if (n == 0 || n >= PATH_MAX)
                return -ENOENT;
        memcpy(path, dir, n);
        path[n] = 0;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static uint32_t host_tsc_khz(Vm *vm) {
        int r = vm->n_vcpus > 0 ? ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0) : -1;
        return r > 0 ? (uint32_t) r : 0;
}

/* The disks under the virtio-blk functions, in the tree's order (disk0, disk1, ...). Nothing of vmm's
 * setup changes an image (disk_new() does not touch it), so at a restore the times are still those the
 * last run left. */
static int identity_of(Vm *vm, const VmConfig *config, SnapshotIdentity *ret) {
        SnapshotIdentity id = { .memory = vm->mem->ram_size, .cpus = vm->n_vcpus, .tsc_khz = host_tsc_khz(vm) };
        struct stat st;

        (void) snprintf(id.name, sizeof id.name, "%s", config->name ?: "vm");
        DEVICE_FOREACH(d, vm->devices) {
                const Disk *disk;
                if (strcmp(d->ops->type, "virtio-blk") != 0)
                        continue;
                disk = virtio_blk_disk(virtio_pci_device(d->impl));
                if (!disk || id.n_disks >= SNAPSHOT_DISKS_MAX)
                        return -EINVAL;
                if (fstat(disk->fd, &st) < 0)
                        return -errno;
                id.disks[id.n_disks++] = (SnapshotDisk) {
                        .size = disk->size,
                        .dev = st.st_dev,
                        .ino = st.st_ino,
                        .mtime_sec = st.st_mtim.tv_sec,
                        .mtime_nsec = (uint32_t) st.st_mtim.tv_nsec,
                };
        }
        *ret = id;
        return 0;
}

/* Makes what the guest wrote durable before the state that remembers it is: otherwise a crash of the
 * host could keep the state and lose writes the guest saw complete. The VM is paused: nothing writes
 * meanwhile. */
static int flush_disks(Vm *vm, char reason[static 256]) {
        unsigned i = 0;

        DEVICE_FOREACH(d, vm->devices) {
                const Disk *disk;
                if (strcmp(d->ops->type, "virtio-blk") != 0)
                        continue;
                disk = virtio_blk_disk(virtio_pci_device(d->impl));
                i++;
                if (!disk || disk->read_only)
                        continue;
                if (fdatasync(disk->fd) < 0) {
                        int r = -errno;
                        (void) snprintf(reason, 256, "cannot flush %s (%s): %s", d->id, disk->label, strerror(-r));
                        return log_error_errno(r, "Cannot save: failed to flush %s: %m", disk->label);
                }
        }
        return 0;
}

/* Progress for large VMs: a line at each quarter. */
static int progress(uint64_t done, uint64_t total, void *userdata) {
        unsigned *last = userdata;
        unsigned q = total ? (unsigned) (done * 4 / total) : 4;

        if (total >= (UINT64_C(1) << 30) && q > *last && q < 4) {
                *last = q;
                log_info("State file: %u%% of %llu MiB.", q * 25, (unsigned long long) (total >> 20));
        }
        return 0;
}

int suspend_save(Vm *vm, const VmConfig *config, int fd, SuspendResult *ret) {
        _cleanup_close_ int owned = fd, dir = -EBADF;
        _cleanup_(state_writer_done) StateWriter w = {};
        char dir_path[PATH_MAX];
        SnapshotIdentity id;
        unsigned quarter = 0;
        struct stat st;
        int r;

        *ret = (SuspendResult) {};
        r = flush_disks(vm, ret->reason);
        if (r < 0)
                return r;
        r = identity_of(vm, config, &id);
        if (r >= 0)
                r = vm_save(vm, &w);
        if (r < 0) {
                (void) snprintf(ret->reason, sizeof ret->reason, "cannot collect the VM's state: %s", strerror(-r));
                return log_error_errno(r, "Failed to collect the VM's state: %m");
        }
        SnapshotParams p = {
                .identity = &id,
                .state = w.data,
                .state_size = w.size,
                .memory = vm->mem,
                .progress = progress,
                .userdata = &quarter,
        };
        if (owned >= 0) {
                r = snapshot_write_fd(owned, &p);
                if (r >= 0 && fstat(owned, &st) >= 0)
                        ret->bytes = (uint64_t) st.st_blocks * 512;
        } else {
                r = state_dir(dir_path, &dir);
                if (r < 0) {
                        (void) snprintf(ret->reason, sizeof ret->reason,
                                        "no state directory (vmm runs outside vm@.service): pass a file");
                        return log_error_errno(r, "Cannot save: no state directory ($STATE_DIRECTORY); pass a "
                                               "file instead.");
                }
                r = snapshot_write_at(dir, SUSPEND_FILE, &p);
                if (r >= 0) {
                        (void) snprintf(ret->path, sizeof ret->path, "%s/%s", dir_path, SUSPEND_FILE);
                        if (fstatat(dir, SUSPEND_FILE, &st, 0) >= 0)
                                ret->bytes = (uint64_t) st.st_blocks * 512;
                }
        }
        if (r < 0) {
                (void) snprintf(ret->reason, sizeof ret->reason, "%s", strerror(-r));
                return r; /* the snapshot writer logged */
        }
        return 0;
}

/* Everything a state may be restored onto: the same VM, the same disks, unchanged since the save. */
static int check_identity(Vm *vm, const VmConfig *config, const char *path, const SnapshotIdentity *saved) {
        SnapshotIdentity now;
        int r;

        r = identity_of(vm, config, &now);
        if (r < 0)
                return log_error_errno(r, "Failed to look at this VM's disks: %m");
        if (strcmp(saved->name, now.name) != 0)
                return log_error_errno(EINVAL, "State file %s is of VM '%s', not '%s'.", path, saved->name, now.name);
        if (saved->cpus != now.cpus || saved->memory != now.memory)
                return log_error_errno(EINVAL,
                                       "State file %s is of a VM with %u vCPUs and %llu MiB; the config says %u vCPUs "
                                       "and %llu MiB.",
                                       path, saved->cpus, (unsigned long long) (saved->memory >> 20), now.cpus,
                                       (unsigned long long) (now.memory >> 20));
        if (saved->n_disks != now.n_disks)
                return log_error_errno(EINVAL, "State file %s is of a VM with %u disks; the config has %u.", path,
                                       saved->n_disks, now.n_disks);
        for (uint32_t i = 0; i < now.n_disks; i++) {
                const SnapshotDisk *a = &saved->disks[i], *b = &now.disks[i];
                if (a->size != b->size || a->dev != b->dev || a->ino != b->ino)
                        return log_error_errno(EINVAL, "State file %s: [Disk] #%u is another image than when the VM "
                                               "was saved.", path, i + 1);
                if (a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec)
                        return log_error_errno(EINVAL, "State file %s: [Disk] #%u was modified after the VM was "
                                               "saved; resuming would corrupt it.", path, i + 1);
        }
        /* The guest calibrated its clocks at the saved rate: keep it, or refuse if KVM cannot. */
        if (saved->tsc_khz && now.tsc_khz && saved->tsc_khz != now.tsc_khz)
                for (uint32_t i = 0; i < vm->n_vcpus; i++)
                        if (ioctl(vm->vcpus[i].fd, KVM_SET_TSC_KHZ, (unsigned long) saved->tsc_khz) < 0)
                                return log_error_errno(errno, "State file %s: the guest ran with a %u kHz TSC, this "
                                                       "host's is %u kHz, and KVM cannot scale it: %m",
                                                       path, saved->tsc_khz, now.tsc_khz);
        return 0;
}

/* A save killed between naming its temporary file and the rename leaves ".#suspend.vmstate.XXXXXXXX"
 * behind (snapshot_write_at()); nothing reads it, and it may be as large as the VM's RAM. At the start,
 * no save of ours runs: whatever is there is such a leftover. */
static void remove_stale_temporaries(int dir) {
        _cleanup_close_ int fd = fcntl(dir, F_DUPFD_CLOEXEC, 3);
        const char *prefix = ".#" SUSPEND_FILE ".";
        struct dirent *de;
        DIR *d;

        if (fd < 0 || !(d = fdopendir(fd)))
                return;
        fd = -EBADF; /* the DIR has it */
        while ((de = readdir(d)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
                    strlen(de->d_name) == strlen(prefix) + 8 && unlinkat(dirfd(d), de->d_name, 0) >= 0)
                        log_info("Removed %s, left by a save that did not finish.", de->d_name);
        (void) closedir(d);
}

int suspend_restore(Vm *vm, const VmConfig *config) {
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        _cleanup_close_ int dir = -EBADF, fd = -EBADF;
        _cleanup_free_ char *path = NULL;
        char dir_path[PATH_MAX];
        unsigned quarter = 0;
        StateReader r;
        int k;

        if (state_dir(dir_path, &dir) < 0)
                return 0;
        remove_stale_temporaries(dir);
        fd = openat(dir, SUSPEND_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? 0 : log_error_errno(errno, "Failed to open the state file: %m");
        if (asprintf(&path, "%s/%s", dir_path, SUSPEND_FILE) < 0)
                return log_oom();
        log_info("Resuming the VM from its state file %s.", path);
        k = snapshot_open(fd, path, &s);
        if (k < 0)
                return k; /* logged, naming the file and the problem */
        k = check_identity(vm, config, path, snapshot_identity(s));
        if (k < 0)
                return k;
        k = snapshot_read_ram(s, vm->mem, progress, &quarter);
        if (k < 0)
                return k;
        r = snapshot_state(s);
        k = vm_restore(vm, &r);
        if (k < 0)
                return log_error_errno(k, "State file %s cannot be restored into this VM: %m", path);
        if (r.offset != r.size)
                return log_error_errno(EBADMSG, "State file %s holds more state than this VM has.", path);
        /* Consumed before the guest runs: from here its disks move on, and the old state would undo that. */
        if (unlinkat(dir, SUSPEND_FILE, 0) < 0)
                return log_error_errno(errno, "Failed to remove the state file %s after restoring it: %m", path);
        (void) fsync(dir);
        log_info("Restored the VM from %s: %llu MiB of RAM data.", path,
                 (unsigned long long) (snapshot_ram_data_size(s) >> 20));
        return 1;
}
