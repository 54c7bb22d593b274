/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sdvm-machine-register NAME PID: registers a running vmm with systemd-machined as a machine of class
 * "vm", so that machinectl list/status/poweroff/reboot/terminate know it. vm@.service runs it as
 * ExecStartPost=+ (as root: machined lets only privileged callers register), once vmm said READY=1.
 * machined forgets the machine by itself when the unit's processes are gone. See
 * sdvm-machine-register(8). */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "log.h"
#include "vm-config.h"

#define MACHINE_EXISTS_RETRIES    10
#define MACHINE_EXISTS_RETRY_NSEC (200 * 1000 * 1000L)

static bool arg_strict;

static void help(void) {
        printf("%s [OPTIONS...] NAME PID\n\n"
               "Registers virtual machine NAME, run by the vmm process PID, with systemd-machined as a\n"
               "machine of class \"vm\" (service \"sdvm\"), for machinectl(1). vm@.service runs it as\n"
               "ExecStartPost=+.\n\n"
               "  -h --help      Show this help\n"
               "     --version   Show the version\n"
               "     --strict    Fail (exit status 1) if the VM cannot be registered; by default that is\n"
               "                 a warning and the exit status is 0, so that the VM keeps running\n",
               program_invocation_short_name);
}

/* The names machined accepts (it checks them as host names): 1-64 of A-Z a-z 0-9 - . in dot-separated
 * labels that are not empty and neither start nor end with "-". VM names may also contain "_". */
static bool machine_name_is_valid(const char *s) {
        bool label_start = true, hyphen = false;
        size_t n = 0;

        for (const char *p = s; *p; p++, n++) {
                if (*p == '.') {
                        if (label_start || hyphen)
                                return false;
                        label_start = true;
                } else if (*p == '-') {
                        if (label_start)
                                return false;
                        hyphen = true;
                } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
                        label_start = hyphen = false;
                else
                        return false;
        }
        return n > 0 && n <= 64 && !label_start && !hyphen;
}

static int parse_pid(const char *s, pid_t *ret) {
        unsigned long v;
        char *end;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end || s[0] == '-' || s[0] == '+' || v <= 1 || v > INT32_MAX)
                return -EINVAL;
        *ret = (pid_t) v;
        return 0;
}

static int parse_argv(int argc, char *argv[], const char **ret_name, pid_t *ret_pid) {
        enum { ARG_VERSION = 0x100, ARG_STRICT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "strict", no_argument, NULL, ARG_STRICT },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("sdvm-machine-register %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_STRICT:
                        arg_strict = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (argc - optind != 2)
                return log_error_invalid("Expected two arguments, NAME and PID (try --help).");
        if (!vm_name_is_valid(argv[optind]))
                return log_error_invalid("Invalid VM name '%s'.", argv[optind]);
        if (parse_pid(argv[optind + 1], ret_pid) < 0)
                return log_error_invalid("Invalid PID '%s'.", argv[optind + 1]);
        *ret_name = argv[optind];
        return 1;
}

static bool is_unavailable(const sd_bus_error *e) {
        return sd_bus_error_has_names(e, "org.freedesktop.DBus.Error.ServiceUnknown",
                                      "org.freedesktop.DBus.Error.NameHasNoOwner",
                                      "org.freedesktop.DBus.Error.Spawn.ChildExited",
                                      "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
                                      "org.freedesktop.systemd1.NoSuchUnit");
}

/* Returns 0 when registered, else a negative errno, logged (as a warning unless --strict). */
static int register_machine(const char *name, pid_t pid) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int level = arg_strict ? LOG_ERR : LOG_WARNING;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_full_errno(level, r,
                                      "Cannot connect to the system bus, VM '%s' is not registered with "
                                      "systemd-machined: %m",
                                      name);

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                r = sd_bus_call_method(bus, "org.freedesktop.machine1", "/org/freedesktop/machine1",
                                       "org.freedesktop.machine1.Manager", "RegisterMachine", &error, NULL,
                                       "sayssus", name, 0 /* no machine ID */, "sdvm", "vm", (uint32_t) pid,
                                       "" /* no root directory */);
                if (r >= 0)
                        return 0;
                /* The previous run of this unit (a guest reboot restarts it) may not be forgotten yet. */
                if (sd_bus_error_has_name(&error, "org.freedesktop.machine1.MachineExists") &&
                    attempt < MACHINE_EXISTS_RETRIES) {
                        (void) nanosleep(&(struct timespec) { .tv_nsec = MACHINE_EXISTS_RETRY_NSEC }, NULL);
                        continue;
                }
                if (is_unavailable(&error))
                        return log_full_errno(level, r,
                                              "systemd-machined is not available (on Debian it comes with "
                                              "the systemd-container package); VM '%s' is not registered, "
                                              "so machinectl does not show it.",
                                              name);
                return log_full_errno(level, r,
                                      "Failed to register VM '%s' (PID %d) with systemd-machined: %s", name,
                                      (int) pid, error.message ?: strerror(-r));
        }
}

static int run(int argc, char *argv[]) {
        const char *name = NULL;
        pid_t pid = 0;
        int r;

        r = parse_argv(argc, argv, &name, &pid);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        log_set_vm_name(name);

        if (kill(pid, 0) < 0 && errno == ESRCH) {
                log_full_errno(arg_strict ? LOG_ERR : LOG_WARNING, ESRCH,
                               "PID %d of VM '%s' does not exist; not registering it.", (int) pid, name);
                return arg_strict ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (!machine_name_is_valid(name)) {
                /* Not an error of the VM: it runs, machinectl just cannot know it under this name. */
                log_full(arg_strict ? LOG_ERR : LOG_WARNING,
                         "VM name '%s' is not a valid machine name for systemd-machined (A-Z a-z 0-9 - . "
                         "only, in labels that neither start nor end with '-'); not registering it.",
                         name);
                return arg_strict ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        r = register_machine(name, pid);
        if (r < 0)
                return arg_strict ? EXIT_FAILURE : EXIT_SUCCESS;
        log_info("Registered VM '%s' (PID %d) with systemd-machined as a machine of class vm.", name,
                 (int) pid);
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
