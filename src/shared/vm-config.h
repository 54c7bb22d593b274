/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /etc/vms/NAME.conf: what a VM is made of. Documented key by key in vm.conf(5).
 *
 *         [VM]
 *         Description=free text
 *         CPUs=2                      1 .. 128, default 1
 *         Memory=1G                   128M .. 1T, a multiple of 1M, default 512M
 *         Autostart=yes               default no
 *         ControlGroup=vmadmin        an existing group whose members may use /run/vms/NAME/control
 *         MonitorGroup=vmmon          the same for the calls that change nothing (Describe, Inspect, events)
 *         ConsoleGroup=vmadmin        the same for /run/vms/NAME/console
 *         OnStop=poweroff             what SIGTERM (systemctl stop) does: poweroff (the ACPI power
 *                                     button) or save (suspend to the state directory, restored at the
 *                                     next start)
 *         [Boot]
 *         Kernel=/path/vmlinuz        required, absolute
 *         Initrd=/path/initrd.img     optional, absolute
 *         CommandLine=console=ttyS0   optional, at most 4095 bytes
 *         [Resources]                 cgroup settings for vm@NAME.service, written by sdvm-generator
 *         CPUQuota=150%               1% .. 102400%
 *         CPUWeight=100               1 .. 10000, or idle
 *         AllowedCPUs=0-3,6           ascending CPU numbers and ranges, 0 .. 8191
 *         IOWeight=100                1 .. 10000
 *         TasksMax=256                at least 1, or infinity
 *         MemoryOverhead=96M          16M .. 1T, default 64M + Memory/32 (see vm_config_memory_max())
 *         [Disk]                      repeatable, up to VM_DISKS_MAX; in guest order (vda, vdb, ...)
 *         Path=/var/lib/vms/NAME/root.img   required, absolute: a raw image or a block device
 *         ReadOnly=no
 *         Serial=ID                   1..20 bytes of printable ASCII (virtio-blk's ID), default
 *                                     "sdvm-NAME-N", NAME shortened to fit
 *         [Network]                   repeatable, up to VM_NETWORKS_MAX
 *         Tap=NAME                    an existing tap, or created if vmm may; default vm-NAME-N, or for a
 *                                     NAME of more than 9 characters vm-PREFIXHASH-N (15 characters)
 *         Bridge=br0                  optional: attach the tap to this bridge
 *         MACAddress=52:54:00:..      unicast, not all zeros; default derived from the VM name and index
 *                                     (vm_config_default_mac())
 * N is the 0-based index of the section among those of its kind. Two disks with one Path= or Serial=,
 * two networks with one Tap= or MACAddress= are errors. Without a VM name, "vm" stands in for NAME.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"

#define VM_NAME_MAX        64
#define VM_DESCRIPTION_MAX 1024
#define VM_CPUS_MIN        1
#define VM_CPUS_MAX        128
#define VM_CPUS_DEFAULT    1
#define VM_MEMORY_MIN      (UINT64_C(128) << 20)
#define VM_MEMORY_MAX      (UINT64_C(1) << 40)
#define VM_MEMORY_DEFAULT  (UINT64_C(512) << 20)
#define VM_MEMORY_ALIGN    (UINT64_C(1) << 20)
#define VM_CMDLINE_MAX     4095
#define VM_GROUP_NAME_MAX  31

#define VM_CONFIG_DIR "/etc/vms"
/* StateDirectory=vms/NAME of vm@.service, and the suspended VM in it that the next start resumes. */
#define VM_STATE_DIR    "/var/lib/vms"
#define VM_SUSPEND_FILE "suspend.vmstate"

#define VM_CPU_QUOTA_MIN       1 /* percent of one CPU */
#define VM_CPU_QUOTA_MAX       (100 * 1024)
#define VM_WEIGHT_MIN          1 /* CPUWeight= and IOWeight=, as cgroup v2 has them */
#define VM_WEIGHT_MAX          10000
#define VM_CPU_WEIGHT_IDLE     UINT32_MAX
#define VM_CPU_INDEX_MAX       8191 /* the highest CPU number systemd accepts in a CPU list */
#define VM_TASKS_MAX_INFINITY  UINT64_MAX
#define VM_MEMORY_OVERHEAD_MIN (UINT64_C(16) << 20)
#define VM_MEMORY_OVERHEAD_MAX (UINT64_C(1) << 40)
#define VM_DISKS_MAX           16
#define VM_NETWORKS_MAX        8
#define VM_DISK_SERIAL_MAX     20 /* VIRTIO_BLK_ID_BYTES */

typedef struct VmDisk {
        char *path;     /* absolute */
        bool read_only;
        char *serial;   /* always set (the default filled in), 1..VM_DISK_SERIAL_MAX printable ASCII bytes */
        unsigned line;  /* of the [Disk] header, for messages: "[Disk] #2 (line 14)" */
} VmDisk;

typedef struct VmNetwork {
        char *tap;      /* always set (the default filled in), a valid interface name (< IFNAMSIZ) */
        char *bridge;   /* NULL if not set */
        uint8_t mac[6]; /* always set: unicast; the default from vm_config_default_mac() */
        unsigned line;
} VmNetwork;

typedef enum VmOnStop {
        VM_ON_STOP_POWEROFF,
        VM_ON_STOP_SAVE,
        _VM_ON_STOP_MAX,
        _VM_ON_STOP_INVALID = -22,
} VmOnStop;

const char *vm_on_stop_to_string(VmOnStop v);

typedef struct VmConfig {
        char *name;        /* from the file name: /etc/vms/web.conf is "web"; NULL if none was given */
        char *path;        /* where it was read from, for messages */
        char *description; /* NULL if not set */
        uint32_t cpus;
        uint64_t memory; /* bytes */
        bool autostart;
        VmOnStop on_stop;
        char *control_group; /* NULL: root only */
        char *monitor_group; /* NULL: none; read-only calls on the control socket */
        char *console_group; /* NULL: root only */
        char *kernel; /* always set */
        char *initrd; /* NULL if not set */
        char *cmdline; /* NULL if not set */

        /* [Resources]: 0 or NULL where not set, which leaves systemd's default. */
        uint32_t cpu_quota;       /* percent */
        uint32_t cpu_weight;      /* or VM_CPU_WEIGHT_IDLE */
        char *allowed_cpus;       /* normalised: ascending, ranges merged ("0-3,6") */
        uint32_t io_weight;
        uint64_t tasks_max;       /* or VM_TASKS_MAX_INFINITY */
        uint64_t memory_overhead; /* bytes; 0: the default, see vm_config_memory_max() */

        VmDisk *disks; /* in file order */
        size_t n_disks;
        VmNetwork *networks;
        size_t n_networks;
} VmConfig;

VmConfig *vm_config_free(VmConfig *c);
DEFINE_FREEP(VmConfig, vm_config_free);

/* Parses size bytes of config text (any bytes at all). path_for_messages names it in errors, name
 * becomes c->name (NULL for none; otherwise it must be valid). Logs every problem, one line each, and
 * returns -EINVAL if there was any. */
int vm_config_parse(const char *data, size_t size, const char *path_for_messages, const char *name,
                    VmConfig **ret);

/* Reads and parses a config file; the VM's name comes from the file name. Logs its errors. */
int vm_config_load(const char *path, VmConfig **ret);

/* The memory budget of vm@NAME.service, the whole formula in one place. Guest RAM is a memfd charged to
 * the unit's cgroup, and so are KVM's page tables (kernel memory), so the cgroup needs room for Memory=
 * plus an overhead for vmm itself: MemoryOverhead= if set, otherwise 64M + Memory/32. Returns
 * MemoryMax= = Memory + overhead (where the OOM killer steps in) and, if ret_high is not NULL, sets it to
 * MemoryHigh= = Memory + 3/4 of the overhead, so that the kernel throttles and reclaims before that. */
uint64_t vm_config_memory_max(const VmConfig *c, uint64_t *ret_high);

/* 1..64 characters of A-Z a-z 0-9 _ . - not starting with '.' or '-': the name becomes a systemd unit
 * instance (vm@NAME.service) and a directory name (/run/vms/NAME). */
bool vm_name_is_valid(const char *name);

/* "/etc/vms/web.conf" -> "web". -EINVAL if the file name is not NAME.conf with a valid NAME. */
int vm_name_from_path(const char *path, char **ret);

/* The default MAC of the VM's network index: 52:54:00 followed by three bytes of a hash of name and
 * index, so that it is stable across restarts and differs between VMs. */
void vm_config_default_mac(const char *name, unsigned index, uint8_t ret[static 6]);
/* The default Serial= of the index-th disk: "sdvm-NAME-N", NAME shortened so that N always fits in
 * VM_DISK_SERIAL_MAX. -ENOMEM or 0. */
int vm_config_default_serial(const char *name, unsigned index, char **ret);
