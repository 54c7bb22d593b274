/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "assemble.h"
#include "backend/disk.h"
#include "core/thread.h"
#include "device/pci/hotplug.h"
#include "device/pci/pci.h"
#include "device/virtio/blk.h"
#include "device/virtio/net.h"
#include "hotplug.h"
#include "log.h"

/* What the tree does not say about the device in a slot. */
typedef struct Slot {
        bool used;
        HotplugKind kind;
        bool runtime; /* added while the guest ran */
        char id[DEVICE_ID_MAX];
        char serial[VIRTIO_BLK_SERIAL_SIZE + 1]; /* disks */
        uint8_t mac[6];                          /* networks */
        /* A removal waiting for the guest's _EJ0. */
        HotplugDoneFn done;
        void *cookie;
        sd_event_source *timer;
        unsigned timeout_s;
} Slot;

struct Hotplug {
        Vm *vm;
        Board *board;
        const VmConfig *config;
        sd_event *event;
        sd_event_source *ejected_source;
        uint64_t eject_timeout_usec;
        HotplugEventFn event_fn;
        void *userdata;
        bool changed;
        char boot_disk[DEVICE_ID_MAX]; /* the disk root=/dev/vdX names, "" if none */
        Slot slots[PCI_SLOTS];
};

static const char *const kind_table[_HOTPLUG_KIND_MAX] = {
        [HOTPLUG_DISK] = "disk",
        [HOTPLUG_NETWORK] = "network",
};

const char *hotplug_kind_to_string(HotplugKind k) {
        return k >= 0 && k < _HOTPLUG_KIND_MAX ? kind_table[k] : NULL;
}

static const char *kind_type(HotplugKind k) {
        return k == HOTPLUG_DISK ? "virtio-blk" : "virtio-net";
}

static const char *kind_prefix(HotplugKind k) {
        return k == HOTPLUG_DISK ? "disk" : "net";
}

static Device *pci_node(Hotplug *h) {
        return board_pci_node(h->board);
}

static Slot *slot_by_name(Hotplug *h, HotplugKind kind, const char *name) {
        for (unsigned s = 0; s < PCI_SLOTS; s++)
                if (h->slots[s].used && h->slots[s].kind == kind && strcmp(h->slots[s].id, name) == 0)
                        return &h->slots[s];
        return NULL;
}

static unsigned slot_index(Hotplug *h, Slot *sl) {
        return (unsigned) (sl - h->slots);
}

/* The index N of "diskN"/"netN", or -1. */
static int name_index(const char *id, HotplugKind kind) {
        const char *p = kind_prefix(kind);
        size_t n = strlen(p);
        char *end;
        long v;

        if (strncmp(id, p, n) != 0 || id[n] < '0' || id[n] > '9')
                return -1;
        v = strtol(id + n, &end, 10);
        return *end || v < 0 || v > 1000 ? -1 : (int) v;
}

/* The devices the config gave, found in the tree by their names (assemble.c: "diskN" is the config's
 * Nth [Disk], "netN" its Nth [Network]). */
static void track_config_devices(Hotplug *h) {
        for (Device *d = pci_node(h)->children; d; d = d->next) {
                if (d->address_kind != DEVICE_ADDRESS_PCI || d->address >= PCI_SLOTS)
                        continue;
                for (HotplugKind k = 0; k < _HOTPLUG_KIND_MAX; k++) {
                        int i = name_index(d->id, k);
                        if (strcmp(d->ops->type, kind_type(k)) != 0 || i < 0)
                                continue;
                        Slot *sl = &h->slots[d->address];
                        *sl = (Slot) { .used = true, .kind = k };
                        (void) snprintf(sl->id, sizeof sl->id, "%s", d->id);
                        if (k == HOTPLUG_DISK && (size_t) i < h->config->n_disks)
                                (void) snprintf(sl->serial, sizeof sl->serial, "%s", h->config->disks[i].serial);
                        if (k == HOTPLUG_NETWORK && (size_t) i < h->config->n_networks)
                                memcpy(sl->mac, h->config->networks[i].mac, 6);
                }
        }
}

/* root=/dev/vdX on the kernel command line: the disk the guest's root file system is on. */
static void find_boot_disk(Hotplug *h) {
        const char *c = h->config->cmdline, *p;

        for (p = c; p && (p = strstr(p, "root=/dev/vd")); p++) {
                char letter = p[strlen("root=/dev/vd")];
                if ((p == c || p[-1] == ' ') && letter >= 'a' && letter <= 'z') {
                        (void) snprintf(h->boot_disk, sizeof h->boot_disk, "disk%d", letter - 'a');
                        return;
                }
        }
}

static void finish_removal(Slot *sl, int r, const char *reason) {
        HotplugDoneFn done = sl->done;
        void *cookie = sl->cookie;

        sl->timer = sd_event_source_disable_unref(sl->timer);
        sl->done = NULL;
        sl->cookie = NULL;
        if (done)
                done(cookie, r, reason);
}

/* Takes the device out of the tree: its slot, BARs and I/O thread stop, its fd (and lock) is closed. */
static void remove_now(Hotplug *h, Slot *sl) {
        char id[DEVICE_ID_MAX];
        HotplugKind kind = sl->kind;

        (void) snprintf(id, sizeof id, "%s", sl->id);
        (void) device_free(device_find(h->vm->devices, id));
        sl->used = false;
        h->changed = true;
        log_info("Removed %s %s from PCI slot %u.", hotplug_kind_to_string(kind), id, slot_index(h, sl));
        if (h->event_fn)
                h->event_fn(h->userdata, "device-removed", id, kind_type(kind));
}

static int on_ejected(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Hotplug *h = userdata;
        uint32_t slots = pci_hotplug_take_ejected(board_pci_hotplug(h->board));

        for (unsigned i = 1; i < PCI_SLOTS; i++) {
                Slot *sl = &h->slots[i];
                if (!(slots & (UINT32_C(1) << i)))
                        continue;
                if (!sl->used) {
                        log_debug("The guest ejected empty PCI slot %u.", i);
                        continue;
                }
                if (!sl->done)
                        log_info("The guest ejected %s on its own.", sl->id);
                remove_now(h, sl);
                finish_removal(sl, 0, NULL);
        }
        return 0;
}

static int on_eject_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Slot *sl = userdata;
        char reason[HOTPLUG_REASON_MAX];

        (void) snprintf(reason, sizeof reason,
                        "the guest did not release %s within %u s (the device stays; remove it with force to "
                        "take it away regardless)",
                        sl->id, sl->timeout_s);
        finish_removal(sl, -ETIMEDOUT, reason);
        return 0;
}

int hotplug_new(sd_event *event, Vm *vm, Board *board, const VmConfig *config, uint64_t eject_timeout_usec,
                HotplugEventFn event_fn, void *userdata, Hotplug **ret) {
        _cleanup_(hotplug_freep) Hotplug *h = NULL;
        int r;

        h = calloc(1, sizeof *h);
        if (!h)
                return log_oom();
        *h = (Hotplug) { .vm = vm, .board = board, .config = config, .event = sd_event_ref(event),
                         .eject_timeout_usec = eject_timeout_usec, .event_fn = event_fn, .userdata = userdata };
        track_config_devices(h);
        find_boot_disk(h);
        r = sd_event_add_io(event, &h->ejected_source, pci_hotplug_event_fd(board_pci_hotplug(board)), EPOLLIN,
                            on_ejected, h);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the PCI hotplug registers: %m");
        *ret = TAKE_PTR(h);
        return 0;
}

Hotplug *hotplug_free(Hotplug *h) {
        if (!h)
                return NULL;
        for (unsigned i = 0; i < PCI_SLOTS; i++)
                if (h->slots[i].done)
                        finish_removal(&h->slots[i], -ECANCELED, "vmm is stopping");
        sd_event_source_disable_unref(h->ejected_source);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

bool hotplug_devices_changed(Hotplug *h) {
        return h && h->changed;
}

/* The lowest "diskN"/"netN" that no device has. */
static int free_name(Hotplug *h, HotplugKind kind, char id[static DEVICE_ID_MAX], unsigned *ret_index) {
        for (unsigned i = 0; i < 1000; i++) {
                (void) snprintf(id, DEVICE_ID_MAX, "%s%u", kind_prefix(kind), i);
                if (!device_find(h->vm->devices, id)) {
                        *ret_index = i;
                        return 0;
                }
        }
        return -ENOSPC;
}

static bool slots_full(Hotplug *h) {
        /* Slot 0 is the host bridge; the rest may hold devices other than disks and NICs (rng0). */
        unsigned used = 1;
        for (Device *d = pci_node(h)->children; d; d = d->next)
                used += d->address_kind == DEVICE_ADDRESS_PCI;
        return used >= PCI_SLOTS;
}

/* Puts dev (taken) on the bus with the VM's vCPUs held, so that no guest access sees a half-built
 * function, then tells the guest. */
static int plug(Hotplug *h, HotplugKind kind, VirtioDevice *dev, HotplugResult *ret, Slot **ret_slot) {
        bool was_running = vm_get_state(h->vm) == VM_STATE_RUNNING;
        Device *node = NULL;
        Slot *sl;
        int r;

        if (was_running) {
                r = vm_pause(h->vm);
                if (r < 0) {
                        virtio_device_free(dev);
                        (void) snprintf(ret->reason, sizeof ret->reason, "could not pause the VM: %s", strerror(-r));
                        return r;
                }
        }
        r = vmm_add_virtio(h->vm, h->board, dev, &node);
        if (was_running)
                (void) vm_resume(h->vm);
        if (r < 0) {
                (void) snprintf(ret->reason, sizeof ret->reason, "could not put the device on the PCI bus: %s",
                                strerror(-r));
                return r;
        }
        sl = &h->slots[node->address];
        *sl = (Slot) { .used = true, .kind = kind, .runtime = true };
        (void) snprintf(sl->id, sizeof sl->id, "%s", node->id);
        (void) snprintf(ret->name, sizeof ret->name, "%s", node->id);
        (void) device_pci_address(node->address, ret->pci_address);
        h->changed = true;
        pci_hotplug_inserted(board_pci_hotplug(h->board), (unsigned) node->address);
        log_info("Added %s %s in PCI slot %u (%s).", hotplug_kind_to_string(kind), node->id,
                 (unsigned) node->address, ret->pci_address);
        if (h->event_fn)
                h->event_fn(h->userdata, "device-added", node->id, kind_type(kind));
        *ret_slot = sl;
        return 0;
}

/* What every add checks before it builds anything. */
static int check_room(Hotplug *h, HotplugResult *ret) {
        if (slots_full(h)) {
                (void) snprintf(ret->reason, sizeof ret->reason, "no free PCI slot (%d in all)", PCI_SLOTS - 1);
                return -ENOSPC;
        }
        if (thread_spares_free(THREAD_ROLE_DEVICE_IO) == 0) {
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "no spare I/O thread: at most %d devices can be added while the VM runs",
                                THREAD_SPARES_MAX);
                return -EAGAIN;
        }
        return 0;
}

static const char *disk_error(int r) {
        switch (r) {
        case -EBUSY:
                return "the image is in use by another VM (it holds the image's lock)";
        case -EBADF:
                return "the file descriptor is open read-only, but the disk was to be writable";
        case -EBADFD:
                return "the file descriptor is neither a regular file nor a block device";
        case -EINVAL:
                return "the image is empty or its size is not a multiple of 512 bytes";
        default:
                return NULL;
        }
}

int hotplug_add_disk(Hotplug *h, int fd, bool read_only, const char *serial, HotplugResult *ret) {
        _cleanup_close_ int owned = fd;
        _cleanup_free_ char *def = NULL;
        char id[DEVICE_ID_MAX], label[64];
        unsigned index;
        VirtioDevice *dev;
        Disk *disk;
        Slot *sl;
        int r;

        *ret = (HotplugResult) {};
        r = check_room(h, ret);
        if (r < 0)
                return r;
        r = free_name(h, HOTPLUG_DISK, id, &index);
        if (r < 0)
                return snprintf(ret->reason, sizeof ret->reason, "no free disk name"), r;
        if (!serial) {
                r = vm_config_default_serial(h->config->name ?: "vm", index, &def);
                if (r < 0)
                        return snprintf(ret->reason, sizeof ret->reason, "out of memory"), r;
                serial = def;
        }
        if (!*serial || strlen(serial) > VIRTIO_BLK_SERIAL_SIZE) {
                (void) snprintf(ret->reason, sizeof ret->reason, "the serial must have 1 to %d bytes",
                                VIRTIO_BLK_SERIAL_SIZE);
                return -EINVAL;
        }
        for (const char *p = serial; *p; p++)
                if (*p < 0x21 || *p > 0x7e) {
                        (void) snprintf(ret->reason, sizeof ret->reason, "the serial must be printable ASCII");
                        return -EINVAL;
                }
        for (unsigned s = 0; s < PCI_SLOTS; s++)
                if (h->slots[s].used && h->slots[s].kind == HOTPLUG_DISK && strcmp(h->slots[s].serial, serial) == 0) {
                        (void) snprintf(ret->reason, sizeof ret->reason, "disk %s already has serial '%s'",
                                        h->slots[s].id, serial);
                        return -EEXIST;
                }
        (void) snprintf(label, sizeof label, "The disk added as %s", id);
        r = disk_new(TAKE_FD(owned), &(DiskParams) { .label = label, .read_only = read_only }, &disk);
        if (r < 0) {
                const char *why = disk_error(r);
                (void) snprintf(ret->reason, sizeof ret->reason, "%s", why ?: strerror(-r));
                return r;
        }
        r = virtio_blk_new(h->vm->mem, id, disk, serial, &dev);
        if (r < 0)
                return snprintf(ret->reason, sizeof ret->reason, "cannot create the device: %s", strerror(-r)), r;
        r = plug(h, HOTPLUG_DISK, dev, ret, &sl);
        if (r < 0)
                return r;
        (void) snprintf(sl->serial, sizeof sl->serial, "%s", serial);
        return 0;
}

/* A tap as vmm opens its own: no packet information, a virtio-net header in front of each frame. */
static int check_tap(int fd) {
        struct ifreq ifr = {};

        if (ioctl(fd, TUNGETIFF, &ifr) < 0)
                return -EBADFD;
        if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)) != (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
                return -EBADFD;
        return 0;
}

int hotplug_add_network(Hotplug *h, int fd, const uint8_t *mac, HotplugResult *ret) {
        _cleanup_close_ int owned = fd;
        char id[DEVICE_ID_MAX];
        uint8_t def[6];
        unsigned index;
        VirtioDevice *dev;
        Slot *sl;
        int r, fl;

        *ret = (HotplugResult) {};
        r = check_room(h, ret);
        if (r < 0)
                return r;
        if (check_tap(owned) < 0) {
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "the file descriptor is not a tap opened with IFF_TAP, IFF_NO_PI and IFF_VNET_HDR");
                return -EBADFD;
        }
        r = free_name(h, HOTPLUG_NETWORK, id, &index);
        if (r < 0)
                return snprintf(ret->reason, sizeof ret->reason, "no free network name"), r;
        if (!mac) {
                vm_config_default_mac(h->config->name ?: "vm", index, def);
                mac = def;
        }
        if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) {
                (void) snprintf(ret->reason, sizeof ret->reason, "the MAC address must be a unicast, non-zero one");
                return -EINVAL;
        }
        for (unsigned s = 0; s < PCI_SLOTS; s++)
                if (h->slots[s].used && h->slots[s].kind == HOTPLUG_NETWORK && memcmp(h->slots[s].mac, mac, 6) == 0) {
                        (void) snprintf(ret->reason, sizeof ret->reason,
                                        "interface %s already has MAC address %02x:%02x:%02x:%02x:%02x:%02x",
                                        h->slots[s].id, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
                        return -EEXIST;
                }
        /* The device polls the tap: it must not block. */
        fl = fcntl(owned, F_GETFL);
        if (fl < 0 || fcntl(owned, F_SETFL, fl | O_NONBLOCK) < 0) {
                r = -errno;
                (void) snprintf(ret->reason, sizeof ret->reason, "cannot make the tap non-blocking: %s", strerror(-r));
                return r;
        }
        r = virtio_net_new(h->vm->mem, id, TAKE_FD(owned), mac, &dev);
        if (r < 0)
                return snprintf(ret->reason, sizeof ret->reason, "cannot create the device: %s", strerror(-r)), r;
        r = plug(h, HOTPLUG_NETWORK, dev, ret, &sl);
        if (r < 0)
                return r;
        memcpy(sl->mac, mac, 6);
        memcpy(ret->mac, mac, 6);
        return 0;
}

int hotplug_remove(Hotplug *h, HotplugKind kind, const char *name, bool force, HotplugDoneFn done, void *cookie,
                   char reason[static HOTPLUG_REASON_MAX]) {
        Slot *sl = slot_by_name(h, kind, name);
        int r;

        reason[0] = 0;
        if (!sl) {
                (void) snprintf(reason, HOTPLUG_REASON_MAX, "the VM has no %s called '%s'", hotplug_kind_to_string(kind),
                                name);
                return -ENOENT;
        }
        if (sl->done) {
                (void) snprintf(reason, HOTPLUG_REASON_MAX, "the removal of %s already waits for the guest", name);
                return -EBUSY;
        }
        if (!force && kind == HOTPLUG_DISK && strcmp(name, h->boot_disk) == 0) {
                (void) snprintf(reason, HOTPLUG_REASON_MAX,
                                "%s holds the guest's root file system (root= on the kernel command line); "
                                "remove it with force to take it away regardless",
                                name);
                return -EPERM;
        }
        if (force) {
                unsigned slot = slot_index(h, sl);
                remove_now(h, sl);
                /* An eject request for a slot that is empty now: a guest that handles it drops what it had
                 * there (acpiphp only rescans a slot for new functions on a device check) and calls _EJ0,
                 * which finds the slot empty. */
                pci_hotplug_request_eject(board_pci_hotplug(h->board), slot);
                return 0;
        }
        r = sd_event_add_time_relative(h->event, &sl->timer, CLOCK_MONOTONIC, h->eject_timeout_usec, 0,
                                       on_eject_timeout, sl);
        if (r < 0) {
                (void) snprintf(reason, HOTPLUG_REASON_MAX, "cannot arm the removal's timer: %s", strerror(-r));
                return r;
        }
        sl->done = done;
        sl->cookie = cookie;
        sl->timeout_s = (unsigned) (h->eject_timeout_usec / 1000000);
        log_info("Asking the guest to release %s %s (PCI slot %u).", hotplug_kind_to_string(kind), name,
                 slot_index(h, sl));
        pci_hotplug_request_eject(board_pci_hotplug(h->board), slot_index(h, sl));
        return 1;
}
