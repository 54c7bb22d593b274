/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The io.sdvm.VM varlink server (varlink/io.sdvm.VM.varlink): the control socket /run/vms/NAME/control.
 *
 * The server parses and answers; what a method does to the VM is a VarlinkBackend call (main.c wires
 * them to vm_* and machine_*; tests use made-up state). The varlink layer never touches KVM and vm_*
 * never sees JSON. Everything runs on the main thread, in the main sd-event loop.
 *
 * Bounds: at most VARLINK_CONNECTIONS_MAX connections, VARLINK_CONNECTIONS_PER_UID_MAX per client UID,
 * and sd-varlink's own limits on message size; a client that never reads only ever holds its own
 * connection's buffer, and the VM never waits for it. */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>
#include <systemd/sd-json.h>
#include <systemd/sd-varlink.h>

#include "cleanup.h"
#include "core/vm.h"

#define VARLINK_CONNECTIONS_MAX         64U
#define VARLINK_CONNECTIONS_PER_UID_MAX 32U
#define VARLINK_SUBSCRIBERS_MAX         VARLINK_CONNECTIONS_MAX

extern const sd_varlink_interface vl_interface_io_sdvm_VM;
/* systemd's io.systemd.MachineInstance (machinectl), served on the same socket: Pause, Resume, PowerOff,
 * Reboot, Terminate and Describe, mapped onto the same backend calls. */
extern const sd_varlink_interface vl_interface_io_systemd_MachineInstance;

/* What the methods do to the VM. Each returns >= 0 or a negative errno; -ESHUTDOWN means the VM is on
 * its way out (reported as io.sdvm.VM.InvalidState). The varlink layer checks the state first:
 * see varlink/io.sdvm.VM.varlink for which states allow what. */
typedef struct VarlinkSaveResult {
        char path[PATH_MAX + 32]; /* "" when the caller passed the file */
        uint64_t bytes;
        uint64_t paused_usec;
        char reason[256];     /* on failure */
} VarlinkSaveResult;

/* Devices added and removed while the VM runs (main.c maps these onto hotplug.h). */
typedef enum VarlinkDeviceKind {
        VARLINK_DEVICE_DISK,
        VARLINK_DEVICE_NETWORK,
} VarlinkDeviceKind;

typedef struct VarlinkDeviceResult {
        char name[32];
        char pci_address[16];
        uint8_t mac[6];   /* AddNetwork */
        char reason[256]; /* on failure */
} VarlinkDeviceResult;

/* The end of a removal that waited for the guest: r 0 or negative errno, with a reason. */
typedef void (*VarlinkRemoveDone)(void *cookie, int r, const char *reason);

typedef struct VarlinkBackend {
        VmState (*get_state)(void *userdata);
        int (*pause)(void *userdata);
        int (*resume)(void *userdata);
        int (*power_off)(void *userdata); /* press the ACPI power button */
        int (*reboot)(void *userdata);    /* reset: vmm exits with status 10 */
        int (*terminate)(void *userdata); /* stop now */
        /* Save the state to fd (taken; -EBADF: the state directory) and resume, or stop if stop is set.
         * Negative errno on failure, with a reason for the caller in ret->reason (the VM runs on). */
        int (*save)(void *userdata, int fd, bool stop, VarlinkSaveResult *ret);
        /* Describe's "devices": a JSON array of objects. */
        int (*describe_devices)(void *userdata, sd_json_variant **ret);
        /* Inspect's tree: a JSON object, see the IDL. */
        int (*inspect)(void *userdata, sd_json_variant **ret);
        /* AddDisk, AddNetwork: fd taken; mac NULL for the default. Negative errno with ret->reason: -EEXIST
         * (DeviceExists), -ENOSPC/-EAGAIN (NoRoom), anything else BadDevice. May be NULL: not served. */
        int (*add_disk)(void *userdata, int fd, bool read_only, const char *serial, VarlinkDeviceResult *ret);
        int (*add_network)(void *userdata, int fd, const uint8_t *mac, VarlinkDeviceResult *ret);
        /* RemoveDisk, RemoveNetwork: 0 done, 1 done(cookie, ...) follows, or negative errno with reason:
         * -ENOENT (NoSuchDevice), -EBUSY (DeviceBusy), -EPERM (DeviceProtected). */
        int (*remove_device)(void *userdata, VarlinkDeviceKind kind, const char *name, bool force,
                             VarlinkRemoveDone done, void *cookie, char reason[static 256]);
} VarlinkBackend;

/* ControlGroup= and MonitorGroup= in vm.conf: their members may connect as well as root; the first may
 * make every call, the second only those that change nothing (Describe, Inspect, SubscribeEvents,
 * MachineInstance.Describe), the others answer it org.varlink.service.PermissionDenied and the
 * connection stays. The socket's mode (from the generator's drop-in) is what the kernel enforces; the
 * server checks the peer's groups again (varlink_peer_access()), so that a socket left 0666 does not
 * open the VM to everyone. */
typedef struct VarlinkGrants {
        bool control;
        gid_t control_gid;
        bool monitor;
        gid_t monitor_gid;
} VarlinkGrants;

typedef enum VarlinkAccess {
        VARLINK_ACCESS_NONE,
        VARLINK_ACCESS_MONITOR,
        VARLINK_ACCESS_CONTROL,
} VarlinkAccess;

typedef struct VarlinkParams {
        sd_event *event;
        const char *name;
        const char *kernel;
        uint32_t vcpus;
        uint64_t memory;     /* bytes */
        uint64_t start_usec; /* CLOCK_MONOTONIC at vmm start, for uptimeUSec */
        const VarlinkBackend *backend;
        void *userdata;
        /* NULL: adopt the socket systemd passes as "varlink" (sd_varlink_server_listen_auto()), if any.
         * Otherwise listen on this AF_UNIX path (tests, or vmm run by hand). */
        const char *address;
        /* 0: SD_VARLINK_SERVER_ROOT_ONLY, unless a group is granted. Tests pass SD_VARLINK_SERVER_MYSELF_ONLY. */
        unsigned access_flags;
        VarlinkGrants grants;
} VarlinkParams;

typedef struct VarlinkServer VarlinkServer;

int varlink_server_new(const VarlinkParams *p, VarlinkServer **ret);
/* Tells subscribers what is left to tell, as far as their sockets take it without waiting. */
VarlinkServer *varlink_server_free(VarlinkServer *s);
DEFINE_FREEP(VarlinkServer, varlink_server_free);

/* Whether it listens on anything (false: vmm was started without a control socket). */
bool varlink_server_is_listening(VarlinkServer *s);
unsigned varlink_server_n_subscribers(VarlinkServer *s);

/* Call on every state change: subscribers get {"event":"state","state":...}, once per new state.
 * reason (VM_STOP_NONE: none) goes with "stopped". */
void varlink_emit_state(VarlinkServer *s, VmState state, VmStopReason reason);
/* The guest reported a panic (pvpanic): {"event":"panic"}. */
void varlink_emit_panic(VarlinkServer *s);
/* A device came or went: {"event":"device-added"|"device-removed","device":name,"type":type}. */
void varlink_emit_device(VarlinkServer *s, const char *event, const char *name, const char *type);

/* What a peer (uid, its primary gid and supplementary groups) may do under grants: root everything, a
 * member of both groups what the larger grant gives. Exposed for tests. */
VarlinkAccess varlink_peer_access(uid_t uid, gid_t primary_gid, const gid_t *groups, size_t n_groups,
                                  const VarlinkGrants *grants);

/* Selects path ("vcpus/0/exits"; NULL or "" is the whole tree) in tree. Returns 0 and a new reference,
 * or -ENOENT. Exposed for tests. */
int varlink_tree_lookup(sd_json_variant *tree, const char *path, sd_json_variant **ret);

/* The real VM's trees (inspect.c), for main.c's backend: they read the Vm's counters and state (no
 * ioctls), what each device in its tree says of itself, and the console's statistics (console may be
 * NULL). */
typedef struct Console Console;
int varlink_vm_inspect(Vm *vm, Console *console, sd_json_variant **ret);
int varlink_vm_devices(Vm *vm, sd_json_variant **ret);
