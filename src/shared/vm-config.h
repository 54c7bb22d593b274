/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /etc/vms/NAME.conf: what a VM is made of. Documented key by key in vm.conf(5).
 *
 *         [VM]
 *         Description=free text
 *         CPUs=2                      1 .. 128, default 1
 *         Memory=1G                   128M .. 1T, a multiple of 1M, default 512M
 *         Autostart=yes               default no
 *         [Boot]
 *         Kernel=/path/vmlinuz        required, absolute
 *         Initrd=/path/initrd.img     optional, absolute
 *         CommandLine=console=ttyS0   optional, at most 4095 bytes
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

typedef struct VmConfig {
        char *name;        /* from the file name: /etc/vms/web.conf is "web"; NULL if none was given */
        char *path;        /* where it was read from, for messages */
        char *description; /* NULL if not set */
        uint32_t cpus;
        uint64_t memory; /* bytes */
        bool autostart;
        char *kernel; /* always set */
        char *initrd; /* NULL if not set */
        char *cmdline; /* NULL if not set */
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

/* 1..64 characters of A-Z a-z 0-9 _ . - not starting with '.' or '-': the name becomes a systemd unit
 * instance (vm@NAME.service) and a directory name (/run/vms/NAME). */
bool vm_name_is_valid(const char *name);

/* "/etc/vms/web.conf" -> "web". -EINVAL if the file name is not NAME.conf with a valid NAME. */
int vm_name_from_path(const char *path, char **ret);
