/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl: the command-line interface to sdvm. For now it has one verb, validate; the control-plane
 * verbs (list, start, pause, inspect, console, ...) come with the varlink interface. */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-json.h>

#include "log.h"
#include "parse-util.h"
#include "vm-config.h"

static bool arg_json;

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Control sdvm virtual machines.\n\n"
               "Commands:\n"
               "  validate FILE...    Check VM configuration files; print every error with its\n"
               "                      file, line and key (the same lines sdvm-generator logs)\n\n"
               "Options:\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n"
               "     --json           Print results as JSON (one object per file, one per line)\n\n"
               "Exit status: 0 all files are valid, 1 some file is not, 2 bad usage.\n",
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
        log_error("Unknown command '%s' (try --help).", argv[optind]);
        return 2;
}
