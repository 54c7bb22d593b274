/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-parser.h"
#include "log.h"
#include "parse-util.h"
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

/* ControlGroup=, ConsoleGroup=: a group that exists here, by name. The generator writes it into a socket
 * unit (SocketGroup=), so only the characters of a portable group name get through. */
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

static const ConfKey vm_keys[] = {
        { .name = "Description", .parse = parse_description, .offset = offsetof(VmConfig, description),
          .max = VM_DESCRIPTION_MAX },
        { .name = "CPUs", .parse = conf_parse_uint32, .offset = offsetof(VmConfig, cpus),
          .min = VM_CPUS_MIN, .max = VM_CPUS_MAX },
        { .name = "Memory", .parse = parse_memory, .offset = offsetof(VmConfig, memory),
          .min = VM_MEMORY_MIN, .max = VM_MEMORY_MAX },
        { .name = "Autostart", .parse = conf_parse_bool, .offset = offsetof(VmConfig, autostart) },
        { .name = "ControlGroup", .parse = parse_group, .offset = offsetof(VmConfig, control_group) },
        { .name = "ConsoleGroup", .parse = parse_group, .offset = offsetof(VmConfig, console_group) },
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
        {},
};

VmConfig *vm_config_free(VmConfig *c) {
        if (!c)
                return NULL;
        free(c->name);
        free(c->path);
        free(c->description);
        free(c->kernel);
        free(c->initrd);
        free(c->cmdline);
        free(c->allowed_cpus);
        free(c->control_group);
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
