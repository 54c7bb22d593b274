/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sdvm-generator: turns /etc/vms/NAME.conf into a drop-in for vm@NAME.service, see sdvm-generator(8).
 *
 * systemd runs it at boot and on every daemon-reload, before it loads units, with the directories to write
 * into (systemd.generator(7)): normal-dir [early-dir late-dir]. Only normal-dir is used. A generator must be
 * fast, talk to no other process and assume no /var, so this reads the configs, writes files and exits.
 *
 * A config that does not parse is reported (every error, one line each) and gets no unit; the others are
 * unaffected. The exit status is non-zero only when the output directory cannot be written. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "parse-util.h"
#include "vm-config.h"

#define DROPIN_NAME "50-sdvm.conf"
#define WANTS_DIR   "machines.target.wants"

static const char *arg_dest;

static void help(void) {
        printf("Usage: %s NORMAL-DIR [EARLY-DIR LATE-DIR]\n"
               "\n"
               "Generates vm@NAME.service drop-ins in NORMAL-DIR from the VM configs in %s\n"
               "(or $SDVM_CONFIG_DIR), and links the VMs with Autostart=yes into machines.target.\n"
               "systemd runs it at boot and on daemon-reload; see sdvm-generator(8).\n"
               "\n"
               "  -h --help     Show this help\n",
               program_invocation_short_name, VM_CONFIG_DIR);
}

/* Returns 1 to go on, 0 to exit successfully (--help), or a negative errno after logging. */
static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case '?':
                        return -EINVAL;
                default:
                        abort();
                }

        if (argc - optind != 1 && argc - optind != 3)
                return log_error_invalid("Expected 1 or 3 arguments (normal-dir [early-dir late-dir]), got %d.",
                                         argc - optind);
        if (argv[optind][0] != '/')
                return log_error_invalid("Output directory must be an absolute path: %s", argv[optind]);
        arg_dest = argv[optind];
        return 1;
}

/* The config directory: /etc/vms, or $SDVM_CONFIG_DIR (for tests). */
static int config_dir(const char **ret) {
        const char *e = getenv("SDVM_CONFIG_DIR");

        if (!e || !*e) {
                *ret = VM_CONFIG_DIR;
                return 0;
        }
        if (e[0] != '/')
                return log_error_invalid("$SDVM_CONFIG_DIR must be an absolute path: %s", e);
        *ret = e;
        return 0;
}

/* Whether s can be written as a unit file value on one line: no control characters (a newline would
 * start a new directive) and no trailing backslash (which would continue the line). The config parser
 * lets neither through; the config directory's own path is checked here. */
static bool unit_value_ok(const char *s) {
        size_t n = strlen(s);

        if (n > 0 && s[n - 1] == '\\')
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

/* Writes s as a unit file value: '%' starts a specifier there, so it becomes "%%". */
static void put_escaped(FILE *f, const char *s) {
        for (const char *p = s; *p; p++) {
                if (*p == '%')
                        fputc('%', f);
                fputc(*p, f);
        }
}

/* Writes a [Disk] path as the path of OpenFile=PATH:NAME:OPTIONS. systemd expands specifiers in the
 * value first ('%' becomes "%%"), then splits it at ':' and C-unescapes each part: so a backslash is
 * doubled and ':' written as "\x3a". */
static void put_open_file_path(FILE *f, const char *s) {
        for (const char *p = s; *p; p++)
                if (*p == '%')
                        fputs("%%", f);
                else if (*p == '\\')
                        fputs("\\\\", f);
                else if (*p == ':')
                        fputs("\\x3a", f);
                else
                        fputc(*p, f);
}

/* Whether systemd takes path for OpenFile=: it refuses components longer than NAME_MAX. */
static bool open_file_path_ok(const char *path) {
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");

                if (n > NAME_MAX)
                        return false;
                p += n + (p[n] == '/');
        }
        return true;
}

/* [Disk] and [Network]: the service manager opens each disk image as root and passes it to vmm, which
 * runs as a dynamic user, as the fd "diskN" ("graceful": a missing image is vmm's to report, naming
 * the [Disk] section). A VM with taps gets back what they need from the sandbox of vm@.service. */
static int format_devices(FILE *f, const VmConfig *c, const char *source) {
        for (size_t i = 0; i < c->n_disks; i++) {
                if (!open_file_path_ok(c->disks[i].path))
                        return log_error_invalid("%s:%u: [Disk] Path=%s: a path component is longer than %d "
                                                 "bytes, which systemd's OpenFile= refuses", source,
                                                 c->disks[i].line, c->disks[i].path, NAME_MAX);
                fputs("OpenFile=", f);
                put_open_file_path(f, c->disks[i].path);
                fprintf(f, ":disk%zu:%sgraceful\n", i, c->disks[i].read_only ? "read-only," : "");
        }
        if (c->n_networks > 0)
                fputs("# [Network]: vmm creates or attaches taps, brings them up and adds them to bridges.\n"
                      "PrivateNetwork=no\n"
                      "DeviceAllow=/dev/net/tun rw\n"
                      "CapabilityBoundingSet=CAP_NET_ADMIN\n"
                      "AmbientCapabilities=CAP_NET_ADMIN\n",
                      f);
        return 0;
}

/* The text of vm@NAME.service.d/50-sdvm.conf. A memory stream fails only for lack of memory, which
 * fclose() reports. */
static int format_dropin(const VmConfig *c, const char *source, char **ret) {
        _cleanup_free_ char *buf = NULL, *description = NULL;
        char a[FORMAT_SIZE_MAX], b[FORMAT_SIZE_MAX];
        uint64_t max, high;
        size_t size = 0;
        FILE *f;
        int r;

        if (!c->description || !c->description[0]) {
                if (asprintf(&description, "Virtual machine %s", c->name) < 0)
                        return log_oom();
        }
        if (!unit_value_ok(source) || !unit_value_ok(description ?: c->description))
                return log_error_invalid("%s: cannot be written into a unit file (control character, or a "
                                         "trailing backslash)", source);

        f = open_memstream(&buf, &size);
        if (!f)
                return log_oom();

        fprintf(f, "# Generated by sdvm-generator from %s: edit that file, not this one.\n", source);
        fputs("[Unit]\nSourcePath=", f);
        put_escaped(f, source);
        fputs("\nDescription=", f);
        put_escaped(f, description ?: c->description);

        max = vm_config_memory_max(c, &high);
        fprintf(f, "\n\n[Service]\nMemoryMax=%s\nMemoryHigh=%s\n", format_size(a, max), format_size(b, high));
        if (c->cpu_quota > 0)
                fprintf(f, "CPUQuota=%u%%\n", c->cpu_quota);
        if (c->cpu_weight == VM_CPU_WEIGHT_IDLE)
                fputs("CPUWeight=idle\n", f);
        else if (c->cpu_weight > 0)
                fprintf(f, "CPUWeight=%u\n", c->cpu_weight);
        if (c->allowed_cpus)
                fprintf(f, "AllowedCPUs=%s\n", c->allowed_cpus);
        if (c->io_weight > 0)
                fprintf(f, "IOWeight=%u\n", c->io_weight);
        /* OnStop=save writes guest RAM out on stop: allow for a disk as slow as 64 MiB/s on top of the
         * unit's 90 s, before systemd's SIGKILL would lose the VM. */
        if (c->on_stop == VM_ON_STOP_SAVE)
                fprintf(f, "TimeoutStopSec=%llu\n", 90ULL + (unsigned long long) (c->memory >> 26));
        if (c->tasks_max == VM_TASKS_MAX_INFINITY)
                fputs("TasksMax=infinity\n", f);
        else if (c->tasks_max > 0)
                fprintf(f, "TasksMax=%llu\n", (unsigned long long) c->tasks_max);
        r = format_devices(f, c, source);
        if (r < 0) {
                (void) fclose(f);
                return r;
        }

        if (fclose(f) != 0)
                return log_oom();
        *ret = TAKE_PTR(buf);
        return 0;
}

static int mkdir_exist_ok(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", path);
        return 0;
}

/* Writes data to dir/name through a temporary file in dir that is renamed into place, so that nothing ever
 * sees half a file. The temporary name does not end in .conf, so systemd would ignore a leftover. */
static int write_file_atomic(const char *dir, const char *name, const char *data) {
        _cleanup_free_ char *tmp = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(data);
        int r;

        if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, name) < 0 || asprintf(&path, "%s/%s", dir, name) < 0)
                return log_oom();
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create a temporary file in %s: %m", dir);

        r = fchmod(fd, 0644) < 0 ? -errno : 0;
        while (r >= 0 && n > 0) {
                ssize_t k = write(fd, data, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        r = k < 0 ? -errno : -EIO;
                        break;
                }
                data += k;
                n -= (size_t) k;
        }
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return log_error_errno(r, "Failed to write %s: %m", path);
        }
        return 0;
}

/* dir/name -> target, replacing a different link of that name. */
static int symlink_replace(const char *target, const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        char buf[4096];
        ssize_t n;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return log_oom();
        if (symlink(target, path) >= 0)
                return 0;
        if (errno != EEXIST)
                return log_error_errno(errno, "Failed to create symlink %s: %m", path);
        n = readlink(path, buf, sizeof buf - 1);
        if (n >= 0 && (size_t) n == strlen(target) && memcmp(buf, target, (size_t) n) == 0)
                return 0;
        if (unlink(path) < 0 || symlink(target, path) < 0)
                return log_error_errno(errno, "Failed to replace symlink %s: %m", path);
        return 0;
}

/* ControlGroup=/MonitorGroup=/ConsoleGroup=: vm-SOCKET@NAME.socket.d/50-sdvm.conf makes that socket 0660
 * and owned by the group, so that its members may connect; vmm checks them again (vmm(8)). A control
 * socket granted to two groups can belong to one only: it is 0666 then, and vmm alone tells who may in. */
static int write_socket_dropin(const VmConfig *c, const char *socket, const char *group, const char *source) {
        _cleanup_free_ char *dir = NULL, *text = NULL;
        int r;

        if (asprintf(&dir, "%s/vm-%s@%s.socket.d", arg_dest, socket, c->name) < 0 ||
            (group ? asprintf(&text,
                              "# Generated by sdvm-generator from %s: edit that file, not this one.\n"
                              "[Socket]\nSocketGroup=%s\nSocketMode=0660\n",
                              source, group)
                   : asprintf(&text,
                              "# Generated by sdvm-generator from %s: edit that file, not this one.\n"
                              "# ControlGroup= and MonitorGroup=: vmm admits root and their members only.\n"
                              "[Socket]\nSocketMode=0666\n",
                              source)) < 0)
                return log_oom();
        r = mkdir_exist_ok(dir);
        if (r < 0)
                return r;
        return write_file_atomic(dir, DROPIN_NAME, text);
}

/* Loads one config and writes its unit. Returns 0 when the VM got its unit, 1 when it was skipped for a
 * reason already logged (its config, its name), and a negative errno when the output could not be
 * written. */
static int generate_one(const char *dir, const char *file) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL;
        _cleanup_free_ char *source = NULL, *text = NULL, *unit = NULL, *dropin_dir = NULL,
                            *wants_dir = NULL;
        int r;

        if (asprintf(&source, "%s/%s", dir, file) < 0)
                return log_oom();

        r = vm_config_load(source, &c);
        if (r == -ENOMEM)
                return r;
        if (r >= 0)
                r = format_dropin(c, source, &text);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_error("%s: skipped, no unit generated for it", source);
                return 1;
        }

        if (asprintf(&unit, "vm@%s.service", c->name) < 0 || asprintf(&dropin_dir, "%s/%s.d", arg_dest, unit) < 0)
                return log_oom();
        r = mkdir_exist_ok(dropin_dir);
        if (r < 0)
                return r;
        r = write_file_atomic(dropin_dir, DROPIN_NAME, text);
        if (r < 0)
                return r;
        if (c->control_group || c->monitor_group) {
                r = write_socket_dropin(c, "control",
                                        !c->monitor_group ? c->control_group
                                        : !c->control_group || strcmp(c->control_group, c->monitor_group) == 0
                                                ? c->monitor_group
                                                : NULL,
                                        source);
                if (r < 0)
                        return r;
        }
        if (c->console_group) {
                r = write_socket_dropin(c, "console", c->console_group, source);
                if (r < 0)
                        return r;
        }

        if (c->autostart) {
                if (asprintf(&wants_dir, "%s/" WANTS_DIR, arg_dest) < 0)
                        return log_oom();
                r = mkdir_exist_ok(wants_dir);
                if (r < 0)
                        return r;
                r = symlink_replace(SYSTEM_UNIT_DIR "/vm@.service", wants_dir, unit);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The candidate file names in dir, sorted (so that messages come in a stable order): every "*.conf" that
 * is not hidden. Hidden files (editors' and package managers' leftovers) and other names are ignored
 * without a word, as systemd ignores them in its own configuration directories. A missing directory has
 * no configs. */
static int list_configs(const char *dir, char ***ret, size_t *ret_n) {
        DIR *d;
        char **names = NULL;
        size_t n = 0, allocated = 0;
        struct dirent *de;
        int r = 0;

        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT) {
                        *ret = NULL;
                        *ret_n = 0;
                        return 0;
                }
                return log_error_errno(errno, "Failed to open %s: %m", dir);
        }

        while ((errno = 0, de = readdir(d))) {
                size_t len = strlen(de->d_name);

                if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
                        continue;
                if (n == allocated) {
                        size_t m = allocated ? allocated * 2 : 64;
                        char **p = reallocarray(names, m, sizeof *names);

                        if (!p) {
                                r = log_oom();
                                break;
                        }
                        names = p;
                        allocated = m;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = log_oom();
                        break;
                }
                n++;
        }
        if (r >= 0 && errno != 0)
                r = log_error_errno(errno, "Failed to read %s: %m", dir);
        closedir(d);

        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(names[i]);
                free(names);
                return r;
        }
        if (n > 0)
                qsort(names, n, sizeof *names, compare_names);
        *ret = names;
        *ret_n = n;
        return 0;
}

/* Logging: stderr, prefixed with our name. When the service manager runs us ($SYSTEMD_SCOPE=system)
 * there is no journal to talk to yet, and systemd.generator(7) says messages go to /dev/kmsg: stderr is
 * pointed there, with the priority and "name[pid]:" that the kernel log and journald read back. */
static void log_setup(void) {
        static char prefix[64];
        const char *scope = getenv("SYSTEMD_SCOPE");
        _cleanup_close_ int fd = -EBADF;

        log_set_prefix("sdvm-generator");
        if (!scope || strcmp(scope, "system") != 0)
                return;
        fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                return;
        /* Every message here is an error: <3> is LOG_ERR. */
        (void) snprintf(prefix, sizeof prefix, "<3>sdvm-generator[%d]", (int) getpid());
        log_set_prefix(prefix);
}

static int run(int argc, char *argv[]) {
        const char *dir = NULL;
        char **names = NULL;
        size_t n = 0;
        struct stat st;
        int r, ret = 0;

        log_setup();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        if (stat(arg_dest, &st) < 0)
                return log_error_errno(errno, "Failed to access output directory %s: %m", arg_dest);
        if (!S_ISDIR(st.st_mode))
                return log_error_errno(ENOTDIR, "Output directory %s is not a directory.", arg_dest);

        r = config_dir(&dir);
        if (r < 0)
                return r;
        /* A config directory that cannot be read is logged, and there are no VMs: no reason to fail. */
        if (list_configs(dir, &names, &n) < 0)
                return 0;

        for (size_t i = 0; i < n; i++) {
                if (ret >= 0) {
                        r = generate_one(dir, names[i]);
                        if (r < 0)
                                ret = r; /* the output is not writable: the rest would fail alike */
                }
                free(names[i]);
        }
        free(names);
        return ret;
}

int main(int argc, char *argv[]) {
        return run(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
