/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl: the command-line interface to sdvm. validate reads config files; the VM verbs talk
 * io.sdvm.VM on /run/vms/NAME/control (list/start/stop over sd-bus and console are still to come). */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-json.h>
#include <systemd/sd-varlink.h>

#include "log.h"
#include "parse-util.h"
#include "vm-config.h"

static bool arg_json;

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Control sdvm virtual machines.\n\n"
               "Commands:\n"
               "  validate FILE...    Check VM configuration files; print every error with its\n"
               "                      file, line and key (the same lines sdvm-generator logs)\n"
               "  describe NAME       Show a running VM's name, state, vCPUs, memory, uptime\n"
               "  inspect NAME [PATH] Show live state (vcpus/N/exits, memory, devices/...)\n"
               "  pause NAME          Stop all vCPUs (a paused VM stays paused)\n"
               "  resume NAME         Let a paused VM run again\n"
               "  poweroff NAME       Press the ACPI power button\n"
               "  reboot NAME         Reset the guest (its unit starts it again)\n"
               "  kill NAME           Stop the VM at once\n\n"
               "Options:\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n"
               "     --json           Print results as JSON (one object per file, one per line)\n\n"
               "Exit status: 0 success; 1 a file is invalid or the VM refused the request;\n"
               "2 bad usage; 3 the VM is not running.\n",
               program_invocation_short_name);
}

static int validate_one(const char *path) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        char mem[FORMAT_SIZE_MAX];
        int r;

        r = vm_config_load(path, &c); /* logs every error itself */
        if (!arg_json) {
                if (r >= 0)
                        printf("%s: valid: VM '%s', %u vCPUs, %s memory, kernel %s\n", path, c->name, c->cpus,
                               format_size(mem, c->memory), c->kernel);
                return r;
        }
        if (r < 0)
                r = sd_json_buildo(&v, SD_JSON_BUILD_PAIR_STRING("file", path),
                                   SD_JSON_BUILD_PAIR_BOOLEAN("valid", false));
        else
                r = sd_json_buildo(&v, SD_JSON_BUILD_PAIR_STRING("file", path),
                                   SD_JSON_BUILD_PAIR_BOOLEAN("valid", true),
                                   SD_JSON_BUILD_PAIR_STRING("name", c->name),
                                   SD_JSON_BUILD_PAIR_UNSIGNED("cpus", c->cpus),
                                   SD_JSON_BUILD_PAIR_UNSIGNED("memory", c->memory),
                                   SD_JSON_BUILD_PAIR_STRING("kernel", c->kernel));
        if (r < 0)
                return log_error_errno(r, "Failed to build JSON: %m");
        (void) sd_json_variant_dump(v, SD_JSON_FORMAT_NEWLINE, stdout, NULL);
        return c ? 0 : -EINVAL;
}

static int verb_validate(int argc, char *argv[]) {
        int ret = 0;

        if (argc < 2)
                return log_error_errno(EINVAL, "validate needs at least one FILE (try --help)."), 2;
        for (int i = 1; i < argc; i++)
                if (validate_one(argv[i]) < 0)
                        ret = 1;
        return ret;
}

#define VMCTL_EXIT_NOT_RUNNING 3

/* Calls io.sdvm.VM.METHOD on VM name's control socket; prints the reply (JSON or as given by
 * print_human) and turns errors into one line that names the VM. */
static int vm_call(const char *name, const char *method, sd_json_variant *params,
                   void (*print_human)(sd_json_variant *reply)) {
        _cleanup_(sd_varlink_unrefp) sd_varlink *vl = NULL;
        _cleanup_free_ char *address = NULL, *full = NULL;
        sd_json_variant *reply = NULL;
        const char *error_id = NULL;
        int r;

        if (!vm_name_is_valid(name))
                return log_error_errno(EINVAL, "'%s' is not a valid VM name.", name), 2;
        if (asprintf(&address, "/run/vms/%s/control", name) < 0 || asprintf(&full, "io.sdvm.VM.%s", method) < 0)
                return log_oom(), 1;
        r = sd_varlink_connect_address(&vl, address);
        if (r == -ENOENT || r == -ECONNREFUSED)
                return log_error_errno(r, "VM '%s' is not running (no control socket at %s).", name, address),
                       VMCTL_EXIT_NOT_RUNNING;
        if (r < 0)
                return log_error_errno(r, "Failed to connect to VM '%s' at %s: %m", name, address), 1;
        r = sd_varlink_call(vl, full, params, &reply, &error_id);
        if (r < 0)
                return log_error_errno(r, "Failed to call %s on VM '%s': %m", method, name), 1;
        if (error_id) {
                if (strcmp(error_id, "io.sdvm.VM.NotRunning") == 0)
                        return log_error_errno(ESRCH, "VM '%s' is not running.", name), VMCTL_EXIT_NOT_RUNNING;
                if (strcmp(error_id, "io.sdvm.VM.NoSuchPath") == 0)
                        return log_error_errno(ENOENT, "VM '%s' has no such inspect path.", name), 1;
                if (strcmp(error_id, "io.sdvm.VM.InvalidState") == 0)
                        return log_error_errno(EBUSY, "VM '%s' cannot %s now: it is %s.", name, method,
                                               sd_json_variant_string(sd_json_variant_by_key(reply, "state"))
                                                       ?: "busy"),
                               1;
                return log_error_errno(EIO, "VM '%s' refused %s: %s", name, method, error_id), 1;
        }
        if (arg_json)
                (void) sd_json_variant_dump(reply, SD_JSON_FORMAT_NEWLINE, stdout, NULL);
        else if (print_human)
                print_human(reply);
        return 0;
}

static void print_describe(sd_json_variant *v) {
        char mem[FORMAT_SIZE_MAX];

        printf("%s: %s, %" PRIu64 " vCPUs, %s memory, up %.1f s, kernel %s\n",
               sd_json_variant_string(sd_json_variant_by_key(v, "name")),
               sd_json_variant_string(sd_json_variant_by_key(v, "state")),
               sd_json_variant_unsigned(sd_json_variant_by_key(v, "vcpus")),
               format_size(mem, sd_json_variant_unsigned(sd_json_variant_by_key(v, "memory"))),
               (double) sd_json_variant_unsigned(sd_json_variant_by_key(v, "uptimeUSec")) / 1e6,
               sd_json_variant_string(sd_json_variant_by_key(v, "kernel")));
}

static void print_tree(sd_json_variant *v) {
        /* A tree reads best as indented JSON; --json gives it on one line for scripts. */
        (void) sd_json_variant_dump(sd_json_variant_by_key(v, "tree"), SD_JSON_FORMAT_PRETTY, stdout, NULL);
}

static int verb_vm(int argc, char *argv[]) {
        static const struct {
                const char *verb, *method;
        } map[] = {
                { "describe", "Describe" }, { "pause", "Pause" },       { "resume", "Resume" },
                { "poweroff", "PowerOff" }, { "reboot", "Reboot" },     { "kill", "Terminate" },
        };
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;

        if (strcmp(argv[0], "inspect") == 0) {
                if (argc < 2 || argc > 3)
                        return log_error_errno(EINVAL, "inspect takes NAME and an optional PATH."), 2;
                if (argc == 3 && sd_json_buildo(&params, SD_JSON_BUILD_PAIR_STRING("path", argv[2])) < 0)
                        return log_oom(), 1;
                return vm_call(argv[1], "Inspect", params, print_tree);
        }
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (strcmp(argv[0], map[i].verb) == 0) {
                        if (argc != 2)
                                return log_error_errno(EINVAL, "%s takes one VM NAME.", argv[0]), 2;
                        return vm_call(argv[1], map[i].method, NULL,
                                       strcmp(argv[0], "describe") == 0 ? print_describe : NULL);
                }
        return log_error_errno(EINVAL, "Unknown command '%s' (try --help).", argv[0]), 2;
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_JSON };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", no_argument, NULL, ARG_JSON },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vmctl %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_JSON:
                        arg_json = true;
                        break;
                default:
                        return 2;
                }
        if (optind >= argc) {
                log_error("No command given (try --help).");
                return 2;
        }
        if (strcmp(argv[optind], "validate") == 0)
                return verb_validate(argc - optind, argv + optind);
        return verb_vm(argc - optind, argv + optind);
}
