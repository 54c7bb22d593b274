/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <grp.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-parser.h"
#include "log.h"
#include "parse-util.h"
#include "string-table.h"
#include "vm-config.h"

static int parse_memory(const ConfKey *key, const char *value, void *data, char *reason) {
        uint64_t v;
        int r;

        r = conf_parse_size(key, value, &v, reason);
        if (r < 0)
                return r;
        /* Guest RAM is mapped in whole 1M units (and huge pages want at least 2M alignment anyway). */
        if (v % VM_MEMORY_ALIGN != 0) {
                (void) snprintf(reason, CONF_REASON_MAX, "not a multiple of 1M");
                return -EINVAL;
        }
        *(uint64_t *) data = v;
        return 0;
}

/* Any text, except that it must not end in a backslash: the generator writes it into a unit file as
 * Description=, where a trailing backslash would join the next line to it. */
static int parse_description(const ConfKey *key, const char *value, void *data, char *reason) {
        size_t n = strlen(value);

        if (n > 0 && value[n - 1] == '\\') {
                (void) snprintf(reason, CONF_REASON_MAX,
                                "ends in a backslash, which would continue the line in the unit file");
                return -EINVAL;
        }
        return conf_parse_string(key, value, data, reason);
}

/* "150%": a whole percentage of one CPU within [key->min, key->max]. */
static int parse_cpu_quota(const ConfKey *key, const char *value, void *data, char *reason) {
        _cleanup_free_ char *digits = NULL;
        size_t n = strlen(value);
        uint32_t v;
        int r;

        if (n < 2 || value[n - 1] != '%') {
                (void) snprintf(reason, CONF_REASON_MAX,
                                "invalid percentage, expected a whole number followed by '%%', e.g. 150%%");
                return -EINVAL;
        }
        digits = strndup(value, n - 1);
        if (!digits)
                return -ENOMEM;
        r = parse_uint32(digits, &v);
        if (r == -EINVAL) {
                (void) snprintf(reason, CONF_REASON_MAX,
                                "invalid percentage, expected a whole number followed by '%%', e.g. 150%%");
                return -EINVAL;
        }
        if (r < 0 || v < key->min || v > key->max) {
                (void) snprintf(reason, CONF_REASON_MAX, "out of range, must be between %llu%% and %llu%%",
                                (unsigned long long) key->min, (unsigned long long) key->max);
                return -ERANGE;
        }
        *(uint32_t *) data = v;
        return 0;
}

/* A weight within [key->min, key->max], or "idle" (cgroup v2's cpu.idle: run only when nothing else
 * wants the CPU). */
static int parse_cpu_weight(const ConfKey *key, const char *value, void *data, char *reason) {
        uint32_t v;
        int r;

        if (strcmp(value, "idle") == 0) {
                *(uint32_t *) data = VM_CPU_WEIGHT_IDLE;
                return 0;
        }
        r = parse_uint32(value, &v);
        if (r == -EINVAL) {
                (void) snprintf(reason, CONF_REASON_MAX,
                                "invalid weight, expected a number between %llu and %llu, or idle",
                                (unsigned long long) key->min, (unsigned long long) key->max);
                return -EINVAL;
        }
        if (r < 0 || v < key->min || v > key->max) {
                (void) snprintf(reason, CONF_REASON_MAX, "out of range, must be between %llu and %llu, or idle",
                                (unsigned long long) key->min, (unsigned long long) key->max);
                return -ERANGE;
        }
        *(uint32_t *) data = v;
        return 0;
}

/* A number of at least 1, or "infinity". */
static int parse_tasks_max(const ConfKey *key, const char *value, void *data, char *reason) {
        uint64_t v;
        int r;

        if (strcmp(value, "infinity") == 0) {
                *(uint64_t *) data = VM_TASKS_MAX_INFINITY;
                return 0;
        }
        r = parse_uint64(value, &v);
        if (r == -EINVAL) {
                (void) snprintf(reason, CONF_REASON_MAX, "invalid number, expected a number or infinity");
                return -EINVAL;
        }
        if (r < 0 || v < 1 || v == VM_TASKS_MAX_INFINITY) {
                (void) snprintf(reason, CONF_REASON_MAX, "out of range, must be at least 1, or infinity");
                return -ERANGE;
        }
        *(uint64_t *) data = v;
        return 0;
}

/* One CPU number of a CPU list: n > 0 decimal digits, at most VM_CPU_INDEX_MAX. */
static int parse_cpu_index(const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                if (v <= VM_CPU_INDEX_MAX) /* once above, stays above: no overflow */
                        v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v > VM_CPU_INDEX_MAX)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* Appends CPU a, or the range a-b, to the normalised list at out (which has room: see below). */
static void append_cpus(char *out, size_t *len, size_t size, unsigned a, unsigned b) {
        int k;

        if (a == b)
                k = snprintf(out + *len, size - *len, "%s%u", *len > 0 ? "," : "", a);
        else
                k = snprintf(out + *len, size - *len, "%s%u-%u", *len > 0 ? "," : "", a, b);
        assert(k > 0 && (size_t) k < size - *len);
        *len += (size_t) k;
}

/* "0-3,6": CPU numbers and inclusive ranges separated by commas, in ascending order without repeats.
 * Stored normalised: adjacent CPUs and ranges merged ("0,1,2-3,6" is "0-3,6"), "5-5" is "5", no leading
 * zeros. That is never longer than the input: a merged run keeps its first and last number and at least
 * one separator between them. */
static int parse_allowed_cpus(const ConfKey *key, const char *value, void *data, char *reason) {
        size_t size = strlen(value) + 1, len = 0;
        unsigned run_first = 0, run_last = 0;
        _cleanup_free_ char *out = NULL;
        bool have_run = false;
        char **s = data;

        out = malloc(size);
        if (!out)
                return -ENOMEM;
        out[0] = 0;

        for (const char *p = value;;) {
                size_t n = strcspn(p, ","), m;
                unsigned a, b;
                int r;

                m = strcspn(p, "-");
                if (m > n) /* a '-' only in a later item */
                        m = n;
                r = parse_cpu_index(p, m, &a);
                b = a;
                if (r >= 0 && m < n)
                        r = parse_cpu_index(p + m + 1, n - m - 1, &b);
                if (r == -ERANGE) {
                        (void) snprintf(reason, CONF_REASON_MAX,
                                        "CPU number out of range, must be between 0 and %d", VM_CPU_INDEX_MAX);
                        return -ERANGE;
                }
                if (r < 0) {
                        (void) snprintf(reason, CONF_REASON_MAX,
                                        "invalid CPU list, expected CPU numbers and ranges separated by "
                                        "commas, e.g. 0-3,6");
                        return -EINVAL;
                }
                if (a > b) {
                        (void) snprintf(reason, CONF_REASON_MAX,
                                        "invalid range %u-%u, its first CPU is above its last", a, b);
                        return -EINVAL;
                }
                if (have_run && a <= run_last) {
                        (void) snprintf(reason, CONF_REASON_MAX,
                                        "CPUs must be listed in ascending order without repeats "
                                        "(%u comes after %u)", a, run_last);
                        return -EINVAL;
                }

                if (have_run && a == run_last + 1)
                        run_last = b;
                else {
                        if (have_run)
                                append_cpus(out, &len, size, run_first, run_last);
                        run_first = a;
                        run_last = b;
                        have_run = true;
                }

                if (p[n] == 0)
                        break;
                p += n + 1;
        }
        append_cpus(out, &len, size, run_first, run_last);

        free(*s);
        *s = TAKE_PTR(out);
        return 0;
}

/* ControlGroup=, MonitorGroup=, ConsoleGroup=: a group that exists here, by name. The generator writes it into a socket
 * unit (SocketGroup=), so only the characters of a portable group name get through. */
static const char *const vm_on_stop_table[_VM_ON_STOP_MAX] = {
        [VM_ON_STOP_POWEROFF] = "poweroff",
        [VM_ON_STOP_SAVE] = "save",
};
DEFINE_STRING_TABLE_TO_STRING(vm_on_stop, VmOnStop);

static int parse_on_stop(const ConfKey *key, const char *value, void *data, char *reason) {
        for (int i = 0; i < _VM_ON_STOP_MAX; i++)
                if (strcmp(value, vm_on_stop_table[i]) == 0) {
                        *(VmOnStop *) data = (VmOnStop) i;
                        return 0;
                }
        (void) snprintf(reason, CONF_REASON_MAX, "expected poweroff or save");
        return -EINVAL;
}

static int parse_group(const ConfKey *key, const char *value, void *data, char *reason) {
        size_t n = strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");

        if (n == 0 || value[n] || n > VM_GROUP_NAME_MAX || value[0] == '-' || value[0] == '.') {
                (void) snprintf(reason, CONF_REASON_MAX,
                                "invalid group name, expected 1-%d characters of A-Z a-z 0-9 _ . - not starting "
                                "with '-' or '.'", VM_GROUP_NAME_MAX);
                return -EINVAL;
        }
        errno = 0;
        if (!getgrnam(value)) {
                if (errno == ENOMEM)
                        return -ENOMEM;
                (void) snprintf(reason, CONF_REASON_MAX, "no such group");
                return -EINVAL;
        }
        return conf_parse_string(key, value, data, reason);
}

/* [Disk] and [Network]: repeatable sections, one array element per header. Each instance gets its
 * defaults and is checked against the ones before it in verify(), when it ends. Messages number them
 * from 1 in file order ("[Disk] #2"); the names derived from them (the fd name diskN, the default
 * serial and tap) count from 0, as the guest's devices do. */

/* The name that derived defaults are made from when the config has none (vm_config_parse() without a
 * name, as in tests). */
static const char *name_or_default(const VmConfig *c) {
        return c->name ?: "vm";
}

/* FNV-1a, 64 bits, over the VM name, a NUL and the index (4 bytes, little endian). The default MACs
 * and hashed tap names come from it: changing it changes guests' MACs, so it must stay as it is. */
static uint64_t name_index_hash(const char *name, unsigned index) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (const char *p = name;; p++) {
                h = (h ^ (uint8_t) *p) * UINT64_C(0x100000001b3);
                if (!*p)
                        break;
        }
        for (unsigned i = 0; i < 4; i++)
                h = (h ^ ((index >> (8 * i)) & 0xff)) * UINT64_C(0x100000001b3);
        return h;
}

void vm_config_default_mac(const char *name, unsigned index, uint8_t ret[static 6]) {
        uint64_t h = name_index_hash(name, index);

        /* 52:54:00 is the locally administered, unicast prefix that QEMU and libvirt use too. */
        ret[0] = 0x52;
        ret[1] = 0x54;
        ret[2] = 0x00;
        ret[3] = (uint8_t) (h >> 16);
        ret[4] = (uint8_t) (h >> 8);
        ret[5] = (uint8_t) h;
}

/* "sdvm-NAME-N", cut to VIRTIO_BLK_ID_BYTES by shortening NAME, so that N (which tells a VM's disks
 * apart) always survives. */
int vm_config_default_serial(const char *name, unsigned index, char **ret) {
        char suffix[16];
        int n, keep;

        n = snprintf(suffix, sizeof suffix, "-%u", index);
        keep = VM_DISK_SERIAL_MAX - (int) strlen("sdvm-") - n;
        if (asprintf(ret, "sdvm-%.*s%s", keep, name, suffix) < 0)
                return -ENOMEM;
        return 0;
}

/* "vm-NAME-N" when NAME has at most 9 characters (at most 14 in all); otherwise "vm-" the first 5
 * characters of NAME, 5 hex digits of a hash of name and index, "-N": always 15 characters, so the two
 * forms never collide, and within IFNAMSIZ - 1. VM names are valid interface name characters. */
static int default_tap(const char *name, unsigned index, char **ret) {
        int r;

        assert(index < 10);
        if (strlen(name) <= 9)
                r = asprintf(ret, "vm-%s-%u", name, index);
        else
                r = asprintf(ret, "vm-%.5s%05x-%u", name, (unsigned) (name_index_hash(name, index) & 0xfffff),
                             index);
        return r < 0 ? -ENOMEM : 0;
}

/* Serial=: what the guest sees as the disk's ID (/dev/disk/by-id/virtio-SERIAL). */
static int parse_serial(const ConfKey *key, const char *value, void *data, char *reason) {
        size_t n = strlen(value);

        if (n == 0 || n > VM_DISK_SERIAL_MAX) {
                (void) snprintf(reason, CONF_REASON_MAX, "must be 1 to %d bytes long", VM_DISK_SERIAL_MAX);
                return -ERANGE;
        }
        for (size_t i = 0; i < n; i++)
                if (value[i] < 0x20 || value[i] > 0x7e) {
                        (void) snprintf(reason, CONF_REASON_MAX, "must be printable ASCII");
                        return -EINVAL;
                }
        return conf_parse_string(key, value, data, reason);
}

/* Tap= and Bridge=: an interface name the kernel accepts (1..15 bytes, not "." or "..", no '/', ':' or
 * whitespace), further limited to printable ASCII, and without '%', which TUNSETIFF would take as a
 * template for a name of its own choosing ("tap%d"). */
static int parse_ifname(const ConfKey *key, const char *value, void *data, char *reason) {
        size_t n = strlen(value);

        if (n == 0 || n >= IFNAMSIZ) {
                (void) snprintf(reason, CONF_REASON_MAX, "not a valid interface name: must be 1 to %d bytes long",
                                IFNAMSIZ - 1);
                return -ERANGE;
        }
        if (strcmp(value, ".") == 0 || strcmp(value, "..") == 0 || strcspn(value, "/:% \t") != n) {
                (void) snprintf(reason, CONF_REASON_MAX,
                                "not a valid interface name: must not be '.' or '..', or contain '/', ':', '%%' "
                                "or whitespace");
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++)
                if (value[i] < 0x21 || value[i] > 0x7e) {
                        (void) snprintf(reason, CONF_REASON_MAX, "not a valid interface name: must be ASCII");
                        return -EINVAL;
                }
        return conf_parse_string(key, value, data, reason);
}

/* MACAddress=: see parse_ether_addr(); a unicast address, not all zeros (which the instance uses for
 * "not set"). */
static int parse_mac(const ConfKey *key, const char *value, void *data, char *reason) {
        uint8_t mac[6];

        if (parse_ether_addr(value, mac) < 0) {
                (void) snprintf(reason, CONF_REASON_MAX,
                                "invalid MAC address, expected six hex octets separated by ':', e.g. 52:54:00:12:34:56");
                return -EINVAL;
        }
        if (mac[0] & 1) {
                (void) snprintf(reason, CONF_REASON_MAX, "a multicast address, expected a unicast one");
                return -EINVAL;
        }
        if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) {
                (void) snprintf(reason, CONF_REASON_MAX, "the all-zero address is not a valid MAC address");
                return -EINVAL;
        }
        memcpy(data, mac, sizeof mac);
        return 0;
}

static int disk_section_open(void *userdata, unsigned index, unsigned line, char *reason, void **ret_instance) {
        VmConfig *c = userdata;
        VmDisk *d;

        if (index >= VM_DISKS_MAX) {
                (void) snprintf(reason, CONF_REASON_MAX, "too many disks, at most %d", VM_DISKS_MAX);
                return -ERANGE;
        }
        d = reallocarray(c->disks, c->n_disks + 1, sizeof *d);
        if (!d)
                return -ENOMEM;
        c->disks = d;
        d[c->n_disks] = (VmDisk) { .line = line };
        *ret_instance = &d[c->n_disks++];
        return 0;
}

static int disk_verify(void *userdata, void *instance, char *reason) {
        VmConfig *c = userdata;
        VmDisk *d = instance;
        size_t i = (size_t) (d - c->disks);

        if (!d->serial && vm_config_default_serial(name_or_default(c), (unsigned) i, &d->serial) < 0)
                return -ENOMEM;

        for (size_t j = 0; j < i; j++) {
                const VmDisk *o = c->disks + j;

                if (o->path && strcmp(o->path, d->path) == 0) {
                        (void) snprintf(reason, CONF_REASON_MAX,
                                        "#%zu: Path=%s is already used by [Disk] #%zu on line %u", i + 1,
                                        d->path, j + 1, o->line);
                        return -EINVAL;
                }
                if (o->serial && strcmp(o->serial, d->serial) == 0) {
                        (void) snprintf(reason, CONF_REASON_MAX,
                                        "#%zu: Serial=%s is already used by [Disk] #%zu on line %u", i + 1,
                                        d->serial, j + 1, o->line);
                        return -EINVAL;
                }
        }
        return 0;
}

static int network_section_open(void *userdata, unsigned index, unsigned line, char *reason, void **ret_instance) {
        VmConfig *c = userdata;
        VmNetwork *n;

        if (index >= VM_NETWORKS_MAX) {
                (void) snprintf(reason, CONF_REASON_MAX, "too many networks, at most %d", VM_NETWORKS_MAX);
                return -ERANGE;
        }
        n = reallocarray(c->networks, c->n_networks + 1, sizeof *n);
        if (!n)
                return -ENOMEM;
        c->networks = n;
        n[c->n_networks] = (VmNetwork) { .line = line };
        *ret_instance = &n[c->n_networks++];
        return 0;
}

static bool mac_is_set(const uint8_t mac[static 6]) {
        return mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5];
}

static int network_verify(void *userdata, void *instance, char *reason) {
        VmConfig *c = userdata;
        VmNetwork *n = instance;
        size_t i = (size_t) (n - c->networks);

        if (!n->tap && default_tap(name_or_default(c), (unsigned) i, &n->tap) < 0)
                return -ENOMEM;
        if (!mac_is_set(n->mac))
                vm_config_default_mac(name_or_default(c), (unsigned) i, n->mac);

        if (n->bridge && strcmp(n->bridge, n->tap) == 0) {
                (void) snprintf(reason, CONF_REASON_MAX, "#%zu: Bridge=%s names the tap itself", i + 1,
                                n->bridge);
                return -EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
                const VmNetwork *o = c->networks + j;

                if (o->tap && strcmp(o->tap, n->tap) == 0) {
                        (void) snprintf(reason, CONF_REASON_MAX,
                                        "#%zu: Tap=%s is already used by [Network] #%zu on line %u", i + 1,
                                        n->tap, j + 1, o->line);
                        return -EINVAL;
                }
                if (memcmp(o->mac, n->mac, sizeof n->mac) == 0) {
                        (void) snprintf(reason, CONF_REASON_MAX,
                                        "#%zu: MACAddress=%02x:%02x:%02x:%02x:%02x:%02x is already used by "
                                        "[Network] #%zu on line %u", i + 1, n->mac[0], n->mac[1], n->mac[2],
                                        n->mac[3], n->mac[4], n->mac[5], j + 1, o->line);
                        return -EINVAL;
                }
        }
        return 0;
}

static const ConfKey disk_keys[] = {
        { .name = "Path", .parse = conf_parse_path, .offset = offsetof(VmDisk, path), .required = true },
        { .name = "ReadOnly", .parse = conf_parse_bool, .offset = offsetof(VmDisk, read_only) },
        { .name = "Serial", .parse = parse_serial, .offset = offsetof(VmDisk, serial) },
        {},
};

static const ConfKey network_keys[] = {
        { .name = "Tap", .parse = parse_ifname, .offset = offsetof(VmNetwork, tap) },
        { .name = "Bridge", .parse = parse_ifname, .offset = offsetof(VmNetwork, bridge) },
        { .name = "MACAddress", .parse = parse_mac, .offset = offsetof(VmNetwork, mac) },
        {},
};

static void devices_free(VmConfig *c) {
        for (size_t i = 0; i < c->n_disks; i++) {
                free(c->disks[i].path);
                free(c->disks[i].serial);
        }
        free(c->disks);
        for (size_t i = 0; i < c->n_networks; i++) {
                free(c->networks[i].tap);
                free(c->networks[i].bridge);
        }
        free(c->networks);
}

static const ConfKey vm_keys[] = {
        { .name = "Description", .parse = parse_description, .offset = offsetof(VmConfig, description),
          .max = VM_DESCRIPTION_MAX },
        { .name = "CPUs", .parse = conf_parse_uint32, .offset = offsetof(VmConfig, cpus),
          .min = VM_CPUS_MIN, .max = VM_CPUS_MAX },
        { .name = "Memory", .parse = parse_memory, .offset = offsetof(VmConfig, memory),
          .min = VM_MEMORY_MIN, .max = VM_MEMORY_MAX },
        { .name = "Autostart", .parse = conf_parse_bool, .offset = offsetof(VmConfig, autostart) },
        { .name = "ControlGroup", .parse = parse_group, .offset = offsetof(VmConfig, control_group) },
        { .name = "MonitorGroup", .parse = parse_group, .offset = offsetof(VmConfig, monitor_group) },
        { .name = "ConsoleGroup", .parse = parse_group, .offset = offsetof(VmConfig, console_group) },
        { .name = "OnStop", .parse = parse_on_stop, .offset = offsetof(VmConfig, on_stop) },
        {},
};

static const ConfKey boot_keys[] = {
        { .name = "Kernel", .parse = conf_parse_path, .offset = offsetof(VmConfig, kernel),
          .required = true },
        { .name = "Initrd", .parse = conf_parse_path, .offset = offsetof(VmConfig, initrd) },
        { .name = "CommandLine", .parse = conf_parse_string, .offset = offsetof(VmConfig, cmdline),
          .max = VM_CMDLINE_MAX },
        {},
};

static const ConfKey resources_keys[] = {
        { .name = "CPUQuota", .parse = parse_cpu_quota, .offset = offsetof(VmConfig, cpu_quota),
          .min = VM_CPU_QUOTA_MIN, .max = VM_CPU_QUOTA_MAX },
        { .name = "CPUWeight", .parse = parse_cpu_weight, .offset = offsetof(VmConfig, cpu_weight),
          .min = VM_WEIGHT_MIN, .max = VM_WEIGHT_MAX },
        { .name = "AllowedCPUs", .parse = parse_allowed_cpus, .offset = offsetof(VmConfig, allowed_cpus) },
        { .name = "IOWeight", .parse = conf_parse_uint32, .offset = offsetof(VmConfig, io_weight),
          .min = VM_WEIGHT_MIN, .max = VM_WEIGHT_MAX },
        { .name = "TasksMax", .parse = parse_tasks_max, .offset = offsetof(VmConfig, tasks_max) },
        { .name = "MemoryOverhead", .parse = conf_parse_size, .offset = offsetof(VmConfig, memory_overhead),
          .min = VM_MEMORY_OVERHEAD_MIN, .max = VM_MEMORY_OVERHEAD_MAX },
        {},
};

static const ConfSection vm_sections[] = {
        { .name = "VM", .keys = vm_keys },
        { .name = "Boot", .keys = boot_keys },
        { .name = "Resources", .keys = resources_keys },
        { .name = "Disk", .keys = disk_keys, .repeatable = true, .open = disk_section_open, .verify = disk_verify },
        { .name = "Network", .keys = network_keys, .repeatable = true, .open = network_section_open,
          .verify = network_verify },
        {},
};

VmConfig *vm_config_free(VmConfig *c) {
        if (!c)
                return NULL;
        devices_free(c);
        free(c->name);
        free(c->path);
        free(c->description);
        free(c->kernel);
        free(c->initrd);
        free(c->cmdline);
        free(c->allowed_cpus);
        free(c->control_group);
        free(c->monitor_group);
        free(c->console_group);
        free(c);
        return NULL;
}

int vm_config_parse(const char *data, size_t size, const char *path_for_messages, const char *name,
                    VmConfig **ret) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL;
        int r;

        if (name && !vm_name_is_valid(name))
                return log_error_invalid("%s: invalid VM name", path_for_messages ?: "<input>");

        c = calloc(1, sizeof *c);
        if (!c)
                return log_oom();
        c->cpus = VM_CPUS_DEFAULT;
        c->memory = VM_MEMORY_DEFAULT;
        if (name) {
                c->name = strdup(name);
                if (!c->name)
                        return log_oom();
        }
        if (path_for_messages) {
                c->path = strdup(path_for_messages);
                if (!c->path)
                        return log_oom();
        }

        r = conf_parse(path_for_messages, data, size, vm_sections, c);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

int vm_config_load(const char *path, VmConfig **ret) {
        _cleanup_free_ char *name = NULL, *data = NULL;
        size_t size;
        int r;

        r = vm_name_from_path(path, &name);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r,
                                       "%s: invalid file name, expected NAME.conf where NAME is 1-%d "
                                       "characters of A-Z a-z 0-9 _ . - not starting with '.' or '-'",
                                       path, VM_NAME_MAX);

        r = conf_read_file(path, &data, &size);
        if (r < 0)
                return r;
        return vm_config_parse(data, size, path, name, ret);
}

uint64_t vm_config_memory_max(const VmConfig *c, uint64_t *ret_high) {
        uint64_t overhead;

        assert(c);

        /* 64M: vmm itself (about 1M PSS measured), its libraries, thread stacks, the kernel and initrd while
         * they are loaded, and headroom. Memory/32: what grows with guest RAM, KVM's page tables and
         * memory-map bookkeeping above all. No overflow: Memory and MemoryOverhead are at most 1T each. */
        overhead = c->memory_overhead > 0 ? c->memory_overhead : (UINT64_C(64) << 20) + c->memory / 32;
        if (ret_high)
                *ret_high = c->memory + overhead * 3 / 4;
        return c->memory + overhead;
}

bool vm_name_is_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strnlen(name, VM_NAME_MAX + 1);
        if (n == 0 || n > VM_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = name[i];

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '_' || ch == '.' || ch == '-'))
                        return false;
        }
        return true;
}

int vm_name_from_path(const char *path, char **ret) {
        static const char suffix[] = ".conf";
        const char *base;
        char *name;
        size_t n;

        if (!path)
                return -EINVAL;
        base = strrchr(path, '/');
        base = base ? base + 1 : path;
        n = strlen(base);
        if (n <= strlen(suffix) || strcmp(base + n - strlen(suffix), suffix) != 0)
                return -EINVAL;

        name = strndup(base, n - strlen(suffix));
        if (!name)
                return -ENOMEM;
        if (!vm_name_is_valid(name)) {
                free(name);
                return -EINVAL;
        }
        *ret = name;
        return 0;
}
