/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-parser.h"
#include "log.h"
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

static const ConfKey vm_keys[] = {
        { .name = "Description", .parse = conf_parse_string, .offset = offsetof(VmConfig, description),
          .max = VM_DESCRIPTION_MAX },
        { .name = "CPUs", .parse = conf_parse_uint32, .offset = offsetof(VmConfig, cpus),
          .min = VM_CPUS_MIN, .max = VM_CPUS_MAX },
        { .name = "Memory", .parse = parse_memory, .offset = offsetof(VmConfig, memory),
          .min = VM_MEMORY_MIN, .max = VM_MEMORY_MAX },
        { .name = "Autostart", .parse = conf_parse_bool, .offset = offsetof(VmConfig, autostart) },
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

static const ConfSection vm_sections[] = {
        { .name = "VM", .keys = vm_keys },
        { .name = "Boot", .keys = boot_keys },
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
