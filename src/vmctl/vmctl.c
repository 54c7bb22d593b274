/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl: the command-line interface to sdvm. validate reads config files; list, status, start, stop
 * and restart ask systemd over sd-bus; the VM verbs talk io.sdvm.VM on /run/vms/NAME/control. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-json.h>
#include <systemd/sd-varlink.h>
#include <time.h>
#include <unistd.h>

#include "backend/tap.h"
#include "conf-parser.h"
#include "log.h"
#include "parse-util.h"
#include "snapshot/snapshot.h"
#include "vm-config.h"
#include "vmctl-bus.h"
#include "vmctl-console.h"
#include "vmctl-restore.h"

static bool arg_json;
static bool arg_stop;
static bool arg_read_only;
static bool arg_force;
static const char *arg_serial;
static const char *arg_tap;
static const char *arg_bridge;
static const char *arg_mac;

/* How long a device removal may wait for the guest: vmm's own limit (60 s), and some. */
#define REMOVE_TIMEOUT_USEC (90 * UINT64_C(1000000))

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Control sdvm virtual machines.\n\n"
               "Commands:\n"
               "  validate FILE...    Check VM configuration files; print every error with its\n"
               "                      file, line and key (the same lines sdvm-generator logs)\n"
               "  list                Every VM in /etc/vms with its unit state, live state and\n"
               "                      suspended state, if any\n"
               "  status NAME         The same for one VM\n"
               "  start|stop|restart NAME\n"
               "                      Start, stop (ACPI power button) or restart vm@NAME.service\n"
               "                      and wait for the job to finish\n"
               "  describe NAME       Show a running VM's name, state, vCPUs, memory, uptime\n"
               "  inspect NAME [PATH] Show live state (vcpus/N/exits, memory, devices/...)\n"
               "  pause NAME          Stop all vCPUs (a paused VM stays paused)\n"
               "  resume NAME         Let a paused VM run again\n"
               "  poweroff NAME       Press the ACPI power button\n"
               "  reboot NAME         Reset the guest (its unit starts it again)\n"
               "  kill NAME           Stop the VM at once\n"
               "  save NAME [FILE]    Save the VM's state (to FILE, which vmctl opens and hands\n"
               "                      over, else to its state directory) and let it run on; with\n"
               "                      --stop suspend it: the next start resumes it\n"
               "  restore NAME FILE   Start a stopped VM from the state in FILE, which vmctl\n"
               "                      checks and copies into the VM's state directory (FILE\n"
               "                      stays as it is)\n"
               "  add-disk NAME PATH  Add a disk (a raw image or block device, which vmctl opens\n"
               "                      and hands over) to the running VM; --read-only, --serial=\n"
               "  remove-disk NAME DISK\n"
               "                      Ask the guest to release DISK (e.g. disk1) and remove it;\n"
               "                      --force removes it without asking\n"
               "  add-nic NAME --tap=TAP [--bridge=BRIDGE] [--mac=MAC]\n"
               "                      Add a network interface on TAP (opened, or made and put in\n"
               "                      BRIDGE, by vmctl) to the running VM\n"
               "  remove-nic NAME NIC Remove an interface (e.g. net1), as remove-disk does\n"
               "  events NAME         Follow the VM's state changes, one line each, until it stops\n"
               "  console NAME        Attach to the serial console; Ctrl-] three times within 1 s\n"
               "                      detaches\n\n"
               "Options:\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n"
               "     --json           Print results as JSON (one object per file or event, one per line)\n"
               "     --stop           save: stop the VM once saved\n"
               "     --read-only      add-disk: the guest may only read the disk\n"
               "     --serial=SERIAL  add-disk: the disk's serial (default sdvm-NAME-N)\n"
               "     --force          remove-disk, remove-nic: do not wait for the guest\n"
               "     --tap=TAP --bridge=BRIDGE --mac=MAC\n"
               "                      add-nic: the tap, the bridge to put it in, its MAC address\n\n"
               "Exit status: 0 success; 1 a file is invalid or the VM refused the request;\n"
               "2 bad usage; 3 the VM is not running.\n",
               program_invocation_short_name);
}

/* validate --json: each error the parser reports, as an object. */
static void collect_error(void *userdata, const char *path, unsigned line, const char *section, const char *key,
                          const char *message) {
        sd_json_variant **errors = userdata, *e = NULL;

        if (sd_json_buildo(&e, SD_JSON_BUILD_PAIR_STRING("file", path),
                           SD_JSON_BUILD_PAIR_CONDITION(line > 0, "line", SD_JSON_BUILD_UNSIGNED(line)),
                           SD_JSON_BUILD_PAIR_CONDITION(!!section, "section", SD_JSON_BUILD_STRING(section)),
                           SD_JSON_BUILD_PAIR_CONDITION(!!key, "key", SD_JSON_BUILD_STRING(key)),
                           SD_JSON_BUILD_PAIR_STRING("message", message)) >= 0)
                (void) sd_json_variant_append_array(errors, e);
        sd_json_variant_unref(e);
}

static int validate_one(const char *path) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL, *errors = NULL;
        char mem[FORMAT_SIZE_MAX];
        int r;

        if (arg_json) {
                if (sd_json_build(&errors, SD_JSON_BUILD_EMPTY_ARRAY) < 0)
                        return log_oom();
                conf_set_error_sink(collect_error, &errors);
        }
        r = vm_config_load(path, &c); /* logs every error itself */
        conf_set_error_sink(NULL, NULL);
        if (!arg_json) {
                if (r >= 0)
                        printf("%s: valid: VM '%s', %u vCPUs, %s memory, kernel %s\n", path, c->name, c->cpus,
                               format_size(mem, c->memory), c->kernel);
                return r;
        }
        if (r < 0)
                r = sd_json_buildo(&v, SD_JSON_BUILD_PAIR_STRING("file", path),
                                   SD_JSON_BUILD_PAIR_BOOLEAN("valid", false),
                                   SD_JSON_BUILD_PAIR_VARIANT("errors", errors));
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

/* Connecting to a stopped VM's socket would start it (socket activation): ask systemd first. False when
 * systemd cannot tell (no bus), so that the socket decides. */
static bool vm_unit_is_stopped(const char *name) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *unit = NULL, *active = NULL;

        if (asprintf(&unit, "vm@%s.service", name) < 0 || sd_bus_open_system(&bus) < 0 ||
            bus_unit_active_state(bus, unit, &active) < 0)
                return false;
        return strcmp(active, "inactive") == 0 || strcmp(active, "failed") == 0;
}

static int vm_not_running(const char *name) {
        return log_error_errno(ESRCH, "VM '%s' is not running.", name), VMCTL_EXIT_NOT_RUNNING;
}

/* Connects to VM name's control socket; returns 0, or an exit status after logging. */
static int vm_connect(const char *name, sd_varlink **ret) {
        _cleanup_free_ char *address = NULL;
        int r;

        if (!vm_name_is_valid(name))
                return log_error_errno(EINVAL, "'%s' is not a valid VM name.", name), 2;
        if (vm_unit_is_stopped(name))
                return vm_not_running(name);
        if (asprintf(&address, "/run/vms/%s/control", name) < 0)
                return log_oom(), 1;
        r = sd_varlink_connect_address(ret, address);
        if (r == -ENOENT || r == -ECONNREFUSED)
                return log_error_errno(r, "VM '%s' is not running (no control socket at %s).", name, address),
                       VMCTL_EXIT_NOT_RUNNING;
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "Not allowed to use the control socket of VM '%s' (root, or a member "
                                       "of its ControlGroup=, only).", name),
                       1;
        if (r < 0)
                return log_error_errno(r, "Failed to connect to VM '%s' at %s: %m", name, address), 1;
        return 0;
}

/* Calls io.sdvm.VM.METHOD on VM name's control socket; prints the reply (JSON or as given by
 * print_human) and turns errors into one line that names the VM. */
static int vm_call_fd(const char *name, const char *method, sd_json_variant *params, int fd,
                      void (*print_human)(sd_json_variant *reply)) {
        _cleanup_(sd_varlink_unrefp) sd_varlink *vl = NULL;
        _cleanup_free_ char *full = NULL;
        sd_json_variant *reply = NULL;
        const char *error_id = NULL;
        int r;

        r = vm_connect(name, &vl);
        if (r != 0)
                return r;
        if (asprintf(&full, "io.sdvm.VM.%s", method) < 0)
                return log_oom(), 1;
        if (fd >= 0 && (sd_varlink_set_allow_fd_passing_output(vl, true) < 0 || sd_varlink_push_dup_fd(vl, fd) < 0))
                return log_error("Failed to pass a file descriptor to VM '%s'.", name), 1;
        /* A removal waits for the guest. */
        if (strncmp(method, "Remove", 6) == 0)
                (void) sd_varlink_set_relative_timeout(vl, REMOVE_TIMEOUT_USEC);
        r = sd_varlink_call(vl, full, params, &reply, &error_id);
        if (r < 0)
                return log_error_errno(r, "Failed to call %s on VM '%s': %m", method, name), 1;
        if (error_id) {
                if (strcmp(error_id, "io.sdvm.VM.NotRunning") == 0)
                        return vm_not_running(name);
                if (strcmp(error_id, "io.sdvm.VM.NoSuchPath") == 0)
                        return log_error_errno(ENOENT, "VM '%s' has no such inspect path.", name), 1;
                if (strcmp(error_id, "io.sdvm.VM.SaveFailed") == 0)
                        return log_error_errno(EIO, "VM '%s' could not save its state: %s", name,
                                               sd_json_variant_string(sd_json_variant_by_key(reply, "reason"))
                                                       ?: "no reason given"),
                               1;
                if (strcmp(error_id, "io.sdvm.VM.InvalidState") == 0)
                        return log_error_errno(EBUSY, "VM '%s' cannot %s now: it is %s.", name, method,
                                               sd_json_variant_string(sd_json_variant_by_key(reply, "state"))
                                                       ?: "busy"),
                               1;
                if (strcmp(error_id, "io.sdvm.VM.NoSuchDevice") == 0)
                        return log_error_errno(ENOENT, "VM '%s' has no device '%s' of that kind.", name,
                                               sd_json_variant_string(sd_json_variant_by_key(reply, "name")) ?: "?"),
                               1;
                const char *reason = sd_json_variant_string(sd_json_variant_by_key(reply, "reason"));
                if (reason)
                        return log_error_errno(EIO, "VM '%s' refused %s (%s): %s", name, method,
                                               error_id + strlen("io.sdvm.VM."), reason),
                               1;
                return log_error_errno(EIO, "VM '%s' refused %s: %s", name, method, error_id), 1;
        }
        if (arg_json)
                (void) sd_json_variant_dump(reply, SD_JSON_FORMAT_NEWLINE, stdout, NULL);
        else if (print_human)
                print_human(reply);
        return 0;
}

static int vm_call(const char *name, const char *method, sd_json_variant *params,
                   void (*print_human)(sd_json_variant *reply)) {
        return vm_call_fd(name, method, params, -EBADF, print_human);
}

static void print_saved(sd_json_variant *v) {
        char size[FORMAT_SIZE_MAX];
        const char *path = sd_json_variant_string(sd_json_variant_by_key(v, "path"));

        printf("saved %s%s%s, guest paused %.3f s\n", format_size(size, sd_json_variant_unsigned(sd_json_variant_by_key(v, "bytes"))),
               path ? " to " : "", path ?: "",
               (double) sd_json_variant_unsigned(sd_json_variant_by_key(v, "pausedUSec")) / 1e6);
}

/* A new file in FILE's directory, not yet visible (O_TMPFILE), or where the file system cannot do that,
 * a hidden temporary name (*ret_tmp, to unlink on failure): FILE itself is replaced only once the state
 * is complete (commit_file()), so that a typo in NAME, a stopped VM or a save that dies leaves it as it
 * was. */
static int open_new_file(const char *path, int *ret_dir, char **ret_tmp) {
        _cleanup_free_ char *copy = strdup(path), *tmp = NULL;
        _cleanup_close_ int dir = -EBADF;
        char *slash;
        int fd;

        if (!copy)
                return -ENOMEM;
        slash = strrchr(copy, '/');
        if (slash == copy)
                dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else if (slash) {
                *slash = 0;
                dir = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else
                dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return -errno;
        fd = openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0) {
                if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                        return -errno;
                if (asprintf(&tmp, ".#%s.XXXXXX", slash ? slash + 1 : copy) < 0)
                        return -ENOMEM;
                /* mkostempsat() does not exist: make the name here, then create it exclusively. */
                for (int i = 0; i < 100 && fd < 0; i++) {
                        static const char letters[] = "abcdefghijklmnopqrstuvwxyz0123456789";
                        char *x = tmp + strlen(tmp) - 6;
                        for (int k = 0; k < 6; k++)
                                x[k] = letters[(unsigned) rand() % (sizeof letters - 1)];
                        fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                        if (fd < 0 && errno != EEXIST)
                                return -errno;
                }
                if (fd < 0)
                        return -EEXIST;
                *ret_tmp = TAKE_PTR(tmp);
        }
        *ret_dir = TAKE_FD(dir);
        return fd;
}

/* Puts the complete state at path: fsync, link (the O_TMPFILE) or rename (a named temporary) over it,
 * fsync of the directory. */
static int commit_file(int fd, int dir, const char *tmp, const char *path) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        char proc[64], link_tmp[64];

        if (fsync(fd) < 0)
                return -errno;
        if (!tmp) {
                /* linkat() cannot replace: link under a temporary name, then rename that over FILE. */
                (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
                for (int i = 0;; i++) {
                        (void) snprintf(link_tmp, sizeof link_tmp, ".#vmctl-save.%d.%d", (int) getpid(), i);
                        if (linkat(AT_FDCWD, proc, dir, link_tmp, AT_SYMLINK_FOLLOW) >= 0)
                                break;
                        if (errno != EEXIST || i > 100)
                                return -errno;
                }
                tmp = link_tmp;
        }
        if (renameat(dir, tmp, dir, base) < 0) {
                int r = -errno;
                (void) unlinkat(dir, tmp, 0);
                return r;
        }
        (void) fsync(dir);
        return 0;
}

/* save NAME [FILE]: FILE is opened here, as the caller, and handed over: vmm opens no path of ours. */
static int verb_save(int argc, char *argv[]) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
        _cleanup_close_ int fd = -EBADF, dir = -EBADF;
        _cleanup_free_ char *tmp = NULL;
        int r;

        if (argc < 2 || argc > 3)
                return log_error_errno(EINVAL, "save takes NAME and an optional FILE."), 2;
        if (argc == 3) {
                fd = open_new_file(argv[2], &dir, &tmp);
                if (fd < 0)
                        return log_error_errno(fd, "Failed to create a file beside %s for the state of VM '%s': %m",
                                               argv[2], argv[1]),
                               1;
        }
        if (sd_json_buildo(&params,
                           SD_JSON_BUILD_PAIR_CONDITION(fd >= 0, "fileDescriptor", SD_JSON_BUILD_UNSIGNED(0)),
                           SD_JSON_BUILD_PAIR_CONDITION(arg_stop, "stop", SD_JSON_BUILD_BOOLEAN(true))) < 0)
                return log_oom(), 1;
        r = vm_call_fd(argv[1], "Save", params, fd, print_saved);
        if (fd < 0)
                return r;
        if (r == 0) {
                int k = commit_file(fd, dir, tmp, argv[2]);
                if (k < 0)
                        return log_error_errno(k, "Failed to put the state of VM '%s' in place as %s: %m", argv[1],
                                               argv[2]),
                               1;
        } else if (tmp)
                (void) unlinkat(dir, tmp, 0); /* FILE stays as it was */
        return r;
}

static void print_added(sd_json_variant *v) {
        const char *mac = sd_json_variant_string(sd_json_variant_by_key(v, "macAddress"));

        printf("added %s at PCI %s%s%s\n", sd_json_variant_string(sd_json_variant_by_key(v, "name")),
               sd_json_variant_string(sd_json_variant_by_key(v, "pciAddress")), mac ? ", MAC " : "", mac ?: "");
}

/* add-disk NAME PATH: PATH is opened here, as the caller (read-only with --read-only), and handed over. */
static int verb_add_disk(int argc, char *argv[]) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (argc != 3)
                return log_error_errno(EINVAL, "add-disk takes NAME and PATH."), 2;
        fd = open(argv[2], (arg_read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s for VM '%s': %m", argv[2], argv[1]), 1;
        if (sd_json_buildo(&params, SD_JSON_BUILD_PAIR_UNSIGNED("fileDescriptor", 0),
                           SD_JSON_BUILD_PAIR_CONDITION(arg_read_only, "readOnly", SD_JSON_BUILD_BOOLEAN(true)),
                           SD_JSON_BUILD_PAIR_CONDITION(!!arg_serial, "serial", SD_JSON_BUILD_STRING(arg_serial))) < 0)
                return log_oom(), 1;
        return vm_call_fd(argv[1], "AddDisk", params, fd, print_added);
}

/* add-nic NAME --tap=TAP: the tap is opened (made if need be, and put in --bridge) here, with the
 * privilege that takes, and handed over; it lives as long as vmm holds it. */
static int verb_add_nic(int argc, char *argv[]) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
        _cleanup_free_ char *label = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint8_t mac[6];
        int r;

        if (argc != 2)
                return log_error_errno(EINVAL, "add-nic takes NAME, --tap=TAP and optionally --bridge= and --mac=."), 2;
        if (!arg_tap)
                return log_error_errno(EINVAL, "add-nic needs --tap=TAP."), 2;
        if (arg_mac && parse_ether_addr(arg_mac, mac) < 0)
                return log_error_errno(EINVAL, "--mac=%s is not a MAC address like 52:54:00:12:34:56.", arg_mac), 2;
        if (!vm_name_is_valid(argv[1]))
                return log_error_errno(EINVAL, "'%s' is not a valid VM name.", argv[1]), 2;
        if (asprintf(&label, "Tap %s for VM '%s'", arg_tap, argv[1]) < 0)
                return log_oom(), 1;
        r = tap_open_name(arg_tap, arg_bridge, label, &fd);
        if (r < 0)
                return 1; /* it said why */
        if (sd_json_buildo(&params, SD_JSON_BUILD_PAIR_UNSIGNED("fileDescriptor", 0),
                           SD_JSON_BUILD_PAIR_CONDITION(!!arg_mac, "macAddress", SD_JSON_BUILD_STRING(arg_mac))) < 0)
                return log_oom(), 1;
        return vm_call_fd(argv[1], "AddNetwork", params, fd, print_added);
}

static int verb_remove_device(int argc, char *argv[]) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
        bool disk = strcmp(argv[0], "remove-disk") == 0;
        int r;

        if (argc != 3)
                return log_error_errno(EINVAL, "%s takes NAME and the device's name (e.g. %s).", argv[0],
                                       disk ? "disk1" : "net1"),
                       2;
        if (sd_json_buildo(&params, SD_JSON_BUILD_PAIR_STRING("name", argv[2]),
                           SD_JSON_BUILD_PAIR_CONDITION(arg_force, "force", SD_JSON_BUILD_BOOLEAN(true))) < 0)
                return log_oom(), 1;
        r = vm_call(argv[1], disk ? "RemoveDisk" : "RemoveNetwork", params, NULL);
        if (r == 0 && !arg_json)
                printf("removed %s\n", argv[2]);
        return r;
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

/* Describe without logging, for list/status: NULL when the VM does not answer. */
static sd_json_variant *vm_describe_quiet(const char *name) {
        _cleanup_(sd_varlink_unrefp) sd_varlink *vl = NULL;
        _cleanup_free_ char *address = NULL;
        sd_json_variant *reply = NULL;
        const char *error_id = NULL;

        if (asprintf(&address, "/run/vms/%s/control", name) < 0 || sd_varlink_connect_address(&vl, address) < 0 ||
            sd_varlink_call(vl, "io.sdvm.VM.Describe", NULL, &reply, &error_id) < 0 || error_id)
                return NULL;
        return sd_json_variant_ref(reply);
}

/* "66.0M": a size for people, to a tenth of its unit. */
#define FORMAT_HUMAN_MAX 24
static const char *format_bytes(char buf[static FORMAT_HUMAN_MAX], uint64_t bytes) {
        static const char units[] = "KMGTPE";
        double v = (double) bytes;
        int i = -1;

        if (bytes < 1024) {
                (void) snprintf(buf, FORMAT_HUMAN_MAX, "%" PRIu64 "B", bytes);
                return buf;
        }
        while (v >= 1024 && i < 5) {
                v /= 1024;
                i++;
        }
        (void) snprintf(buf, FORMAT_HUMAN_MAX, "%.1f%c", v, units[i]);
        return buf;
}

/* "45s", "12min", "5h", "3d". */
static const char *format_age(char buf[static FORMAT_HUMAN_MAX], uint64_t usec) {
        uint64_t s = usec / 1000000U;

        if (s < 120)
                (void) snprintf(buf, FORMAT_HUMAN_MAX, "%" PRIu64 "s", s);
        else if (s < 2 * 3600)
                (void) snprintf(buf, FORMAT_HUMAN_MAX, "%" PRIu64 "min", s / 60);
        else if (s < 2 * 86400)
                (void) snprintf(buf, FORMAT_HUMAN_MAX, "%" PRIu64 "h", s / 3600);
        else
                (void) snprintf(buf, FORMAT_HUMAN_MAX, "%" PRIu64 "d", s / 86400);
        return buf;
}

static uint64_t realtime_now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

static uint64_t mtime_usec(const struct stat *st) {
        return (uint64_t) st->st_mtim.tv_sec * 1000000U + (uint64_t) st->st_mtim.tv_nsec / 1000U;
}

/* The suspended state the next start of VM name resumes, if there is one: false also when it cannot
 * be looked at (only root may: with DynamicUser= the state directory is in /var/lib/private). */
static bool vm_suspended(const char *name, struct stat *ret) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s/%s", VM_STATE_DIR, name, VM_SUSPEND_FILE) < 0)
                return false;
        return stat(path, ret) >= 0 && S_ISREG(ret->st_mode);
}

/* "66.0M, saved 3min ago": what the file takes on disk (it is sparse) and its age. */
static const char *format_suspended(char buf[static 64], const struct stat *st) {
        char size[FORMAT_HUMAN_MAX], age[FORMAT_HUMAN_MAX];
        uint64_t now = realtime_now_usec(), t = mtime_usec(st);

        (void) snprintf(buf, 64, "%s, saved %s ago", format_bytes(size, (uint64_t) st->st_blocks * 512),
                        format_age(age, now > t ? now - t : 0));
        return buf;
}

static int open_system_bus(sd_bus **ret) {
        int r = sd_bus_open_system(ret);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus (is systemd running?): %m");
        return 0;
}

/* One row of list/status: unit state from systemd, live state from the VM itself, and the suspended
 * state its next start resumes, from its state directory. */
static int show_vm(sd_bus *bus, const char *name, sd_json_variant **json_array) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *d = NULL, *row = NULL;
        _cleanup_free_ char *unit = NULL, *active = NULL, *path = NULL;
        char mem[FORMAT_SIZE_MAX], cpus[16], suspended[64];
        struct stat st;
        bool has_state;
        int r;

        if (asprintf(&unit, "vm@%s.service", name) < 0)
                return log_oom();
        r = bus_unit_active_state(bus, unit, &active);
        if (r < 0)
                return log_error_errno(r, "Failed to get the state of %s: %m", unit);
        if (strcmp(active, "inactive") != 0)
                d = vm_describe_quiet(name);
        has_state = vm_suspended(name, &st);
        if (json_array) {
                if (has_state && asprintf(&path, "%s/%s/%s", VM_STATE_DIR, name, VM_SUSPEND_FILE) < 0)
                        return log_oom();
                r = sd_json_buildo(
                        &row, SD_JSON_BUILD_PAIR_STRING("name", name),
                        SD_JSON_BUILD_PAIR_STRING("unit", active),
                        SD_JSON_BUILD_PAIR_CONDITION(!!d, "vm", SD_JSON_BUILD_VARIANT(d)),
                        SD_JSON_BUILD_PAIR_CONDITION(
                                has_state, "suspended",
                                SD_JSON_BUILD_OBJECT(
                                        SD_JSON_BUILD_PAIR_STRING("path", path),
                                        SD_JSON_BUILD_PAIR_UNSIGNED("bytes", (uint64_t) st.st_blocks * 512),
                                        SD_JSON_BUILD_PAIR_UNSIGNED("size", (uint64_t) st.st_size),
                                        SD_JSON_BUILD_PAIR_UNSIGNED("savedUSec", mtime_usec(&st)))));
                if (r >= 0)
                        r = sd_json_variant_append_array(json_array, row);
                return r < 0 ? log_oom() : 0;
        }
        if (d)
                snprintf(cpus, sizeof cpus, "%" PRIu64, sd_json_variant_unsigned(sd_json_variant_by_key(d, "vcpus")));
        printf("%-20s %-12s %-14s %5s %8s %s\n", name, active,
               d ? sd_json_variant_string(sd_json_variant_by_key(d, "state")) : "-", d ? cpus : "-",
               d ? format_size(mem, sd_json_variant_unsigned(sd_json_variant_by_key(d, "memory"))) : "-",
               has_state ? format_suspended(suspended, &st) : "-");
        return 0;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int verb_list(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *array = NULL;
        const char *dir = getenv("SDVM_CONFIG_DIR") ?: "/etc/vms";
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d;
        int r = 0;

        bool status = strcmp(argv[0], "status") == 0;

        if (argc != (status ? 2 : 1))
                return log_error_errno(EINVAL, "%s takes %s.", argv[0], status ? "one VM NAME" : "no arguments"), 2;
        if (open_system_bus(&bus) < 0)
                return 1;
        if (arg_json && sd_json_variant_new_array(&array, NULL, 0) < 0)
                return log_oom(), 1;
        if (status) {
                if (!vm_name_is_valid(argv[1]))
                        return log_error_errno(EINVAL, "'%s' is not a valid VM name.", argv[1]), 2;
                r = show_vm(bus, argv[1], arg_json ? &array : NULL);
        } else {
                d = opendir(dir);
                if (!d && errno != ENOENT)
                        return log_error_errno(errno, "Failed to read %s: %m", dir), 1;
                while (d && (de = readdir(d))) {
                        char *name = NULL;
                        if (vm_name_from_path(de->d_name, &name) < 0 || !vm_name_is_valid(name)) {
                                free(name);
                                continue;
                        }
                        char **nn = realloc(names, (n + 1) * sizeof *names);
                        if (!nn) {
                                free(name);
                                r = log_oom();
                                break;
                        }
                        names = nn;
                        names[n++] = name;
                }
                if (d)
                        closedir(d);
                if (names)
                        qsort(names, n, sizeof *names, compare_strings);
                if (!arg_json && r >= 0)
                        printf("%-20s %-12s %-14s %5s %8s %s\n", "NAME", "UNIT", "VM", "CPUS", "MEMORY",
                               "SUSPENDED");
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = show_vm(bus, names[i], arg_json ? &array : NULL);
                for (size_t i = 0; i < n; i++)
                        free(names[i]);
                free(names);
        }
        if (r < 0)
                return 1;
        if (arg_json)
                (void) sd_json_variant_dump(array, SD_JSON_FORMAT_NEWLINE, stdout, NULL);
        return 0;
}

static int verb_job(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *unit = NULL;
        const char *method = strcmp(argv[0], "start") == 0  ? "StartUnit"
                             : strcmp(argv[0], "stop") == 0 ? "StopUnit"
                                                            : "RestartUnit";

        if (argc != 2)
                return log_error_errno(EINVAL, "%s takes one VM NAME.", argv[0]), 2;
        if (!vm_name_is_valid(argv[1]))
                return log_error_errno(EINVAL, "'%s' is not a valid VM name.", argv[1]), 2;
        if (asprintf(&unit, "vm@%s.service", argv[1]) < 0)
                return log_oom(), 1;
        if (open_system_bus(&bus) < 0)
                return 1;
        return bus_unit_job(bus, method, unit, NULL) < 0 ? 1 : 0;
}

/* The VM's state directory, where vmm looks for the state to resume. With DynamicUser= systemd keeps it
 * in /var/lib/private/vms/NAME, owned by the VM's user, and /var/lib/vms/NAME links there. A VM that
 * never ran has none: a directory of root's then, which systemd moves there and gives to the VM's user
 * (contents included) when the unit starts. */
static int open_state_dir(const char *name, int *ret_fd, struct stat *ret_st) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&path, "%s/%s", VM_STATE_DIR, name) < 0)
                return log_oom();
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
                if (mkdir(VM_STATE_DIR, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Failed to create %s: %m", VM_STATE_DIR);
                if (mkdir(path, 0700) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Failed to create the state directory %s: %m", path);
                fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (fd < 0)
                return log_error_errno(errno, "Failed to open the state directory %s%s: %m", path,
                                       errno == EACCES ? " (only root may restore a VM)" : "");
        if (fstat(fd, ret_st) < 0)
                return log_error_errno(errno, "Failed to stat %s: %m", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Never replaced: a suspended state that restore would overwrite is a VM's memory lost. */
static int refuse_suspended(const char *name, const char *file, const struct stat *file_st,
                            const struct stat *state_st) {
        char what[64];

        if (file_st->st_dev == state_st->st_dev && file_st->st_ino == state_st->st_ino)
                return log_error_errno(EEXIST,
                                       "%s is the suspended state of VM '%s': 'vmctl start %s' resumes it.",
                                       file, name, name),
                       1;
        return log_error_errno(
                       EEXIST,
                       "VM '%s' has a suspended state of its own (%s/%s/%s, %s), which 'vmctl start %s' "
                       "resumes; remove it first to restore another.",
                       name, VM_STATE_DIR, name, VM_SUSPEND_FILE, format_suspended(what, state_st), name),
               1;
}

/* A percentage on a terminal, for a copy that takes a while. */
static void copy_progress(uint64_t done, uint64_t total, void *userdata) {
        unsigned *last = userdata, pct = total ? (unsigned) (done * 100 / total) : 100;
        char size[FORMAT_HUMAN_MAX];

        if (pct == *last)
                return;
        *last = pct;
        fprintf(stderr, "\rCopying the state (%s): %3u%%%s", format_bytes(size, total), pct,
                done >= total ? "\n" : "");
}

/* restore NAME FILE: vmm opens no path of ours and must not gain one, so vmctl, as the caller, checks
 * FILE and puts a copy where vmm looks at its start, its state directory, then starts the unit. A copy,
 * not a link: vmm reads the file while the caller may go on changing theirs. */
static int verb_restore(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        _cleanup_close_ int fd = -EBADF, dir = -EBADF;
        _cleanup_free_ char *unit = NULL, *active = NULL, *result = NULL, *reason = NULL;
        struct stat st, dir_st, copy, cur;
        unsigned last = UINT_MAX;
        const char *name, *file;
        uint64_t since;
        int r;

        if (argc != 3)
                return log_error_errno(EINVAL, "restore takes NAME and FILE."), 2;
        name = argv[1], file = argv[2];
        if (!vm_name_is_valid(name))
                return log_error_errno(EINVAL, "'%s' is not a valid VM name.", name), 2;
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", file), 1;
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat %s: %m", file), 1;
        /* The whole metadata (magic, version, framing, checksum, identity), with the loader vmm uses:
         * what is wrong with the file is said here, before anything is copied or started. Guest RAM is
         * checked as vmm reads it, extent by extent. */
        if (snapshot_open(fd, file, &s) < 0)
                return 1;
        if (strcmp(snapshot_identity(s)->name, name) != 0)
                return log_error_errno(EINVAL, "State file %s is of VM '%s', not '%s'.", file,
                                       snapshot_identity(s)->name, name),
                       1;

        if (asprintf(&unit, "vm@%s.service", name) < 0)
                return log_oom(), 1;
        if (open_system_bus(&bus) < 0)
                return 1;
        r = bus_unit_active_state(bus, unit, &active);
        if (r < 0)
                return log_error_errno(r, "Failed to get the state of %s: %m", unit), 1;
        if (strcmp(active, "inactive") != 0 && strcmp(active, "failed") != 0)
                return log_error_errno(EBUSY,
                                       "VM '%s' is %s: only a stopped VM can be restored (vmctl stop %s, or "
                                       "vmctl save --stop %s, first).",
                                       name, active, name, name),
                       1;
        if (open_state_dir(name, &dir, &dir_st) < 0)
                return 1;
        if (fstatat(dir, VM_SUSPEND_FILE, &cur, AT_SYMLINK_NOFOLLOW) >= 0)
                return refuse_suspended(name, file, &st, &cur);
        r = state_file_copy(fd, dir, VM_SUSPEND_FILE, dir_st.st_uid, dir_st.st_gid, file,
                            isatty(STDERR_FILENO) && (uint64_t) st.st_blocks * 512 >= (UINT64_C(64) << 20)
                                    ? copy_progress
                                    : NULL,
                            &last, &copy);
        if (r == -EEXIST && fstatat(dir, VM_SUSPEND_FILE, &cur, AT_SYMLINK_NOFOLLOW) >= 0)
                return refuse_suspended(name, file, &st, &cur);
        if (r < 0)
                return 1;

        since = realtime_now_usec();
        r = bus_unit_job(bus, "StartUnit", unit, &result);
        if (r >= 0) {
                /* A VM that someone else started meanwhile is running, but not from our copy. */
                if (fstatat(dir, VM_SUSPEND_FILE, &cur, AT_SYMLINK_NOFOLLOW) >= 0 &&
                    cur.st_dev == copy.st_dev && cur.st_ino == copy.st_ino) {
                        if (unlinkat(dir, VM_SUSPEND_FILE, 0) >= 0)
                                (void) fsync(dir);
                        return log_error_errno(EBUSY, "VM '%s' was started meanwhile, not from %s.", name,
                                               file),
                               1;
                }
                printf("VM '%s' restored from %s.\n", name, file);
                return 0;
        }
        if (!result)
                return 1; /* logged; the job's end is unknown, so vmm may be reading the copy yet */
        /* vmm refused or failed: the copy goes, so that the next start boots as it would have. */
        if (fstatat(dir, VM_SUSPEND_FILE, &cur, AT_SYMLINK_NOFOLLOW) >= 0 && cur.st_dev == copy.st_dev &&
            cur.st_ino == copy.st_ino && unlinkat(dir, VM_SUSPEND_FILE, 0) >= 0)
                (void) fsync(dir);
        r = journal_vm_error(name, since, 5 * 1000000U, &reason);
        if (r >= 0)
                return log_error_errno(EIO, "VM '%s' was not restored from %s: %s", name, file, reason), 1;
        return log_error_errno(EIO,
                               "VM '%s' was not restored from %s: its start ended with result '%s'; see "
                               "'journalctl -u %s'.",
                               name, file, result, unit),
               1;
}

typedef struct EventsState {
        const char *name;
        int exit_status; /* -1 while the stream goes on */
} EventsState;

static int on_event(sd_varlink *link, sd_json_variant *parameters, const char *error_id,
                    sd_varlink_reply_flags_t flags, void *userdata) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        EventsState *st = userdata;
        struct timespec ts;
        uint64_t usec;

        if (error_id) {
                if (strcmp(error_id, SD_VARLINK_ERROR_DISCONNECTED) == 0)
                        st->exit_status = (log_error("VM '%s' went away without saying it stopped.", st->name), 1);
                else if (strcmp(error_id, "io.sdvm.VM.NotRunning") == 0)
                        st->exit_status = vm_not_running(st->name);
                else
                        st->exit_status = (log_error("VM '%s' refused SubscribeEvents: %s", st->name, error_id), 1);
                return 0;
        }
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        usec = (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
        if (arg_json) {
                v = sd_json_variant_ref(parameters);
                if (sd_json_variant_set_field_unsigned(&v, "timestampUSec", usec) < 0)
                        return log_oom();
                (void) sd_json_variant_dump(v, SD_JSON_FORMAT_NEWLINE, stdout, NULL);
        } else {
                const char *event = sd_json_variant_string(sd_json_variant_by_key(parameters, "event")) ?: "?";
                const char *state = sd_json_variant_string(sd_json_variant_by_key(parameters, "state"));
                const char *reason = sd_json_variant_string(sd_json_variant_by_key(parameters, "reason"));
                const char *device = sd_json_variant_string(sd_json_variant_by_key(parameters, "device"));
                char when[64];
                struct tm tm;

                (void) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&ts.tv_sec, &tm));
                printf("%s.%03ld %s %s%s%s%s%s%s\n", when, ts.tv_nsec / 1000000L, st->name,
                       strcmp(event, "state") == 0 && state ? state : event, device ? " " : "", device ?: "",
                       reason ? " (" : "", reason ?: "", reason ? ")" : "");
        }
        (void) fflush(stdout);
        /* The last reply has no "continues": the VM stopped. */
        if (!(flags & SD_VARLINK_REPLY_CONTINUES))
                st->exit_status = 0;
        return 0;
}

static int verb_events(int argc, char *argv[]) {
        _cleanup_(sd_varlink_unrefp) sd_varlink *vl = NULL;
        EventsState st = { .name = argc > 1 ? argv[1] : NULL, .exit_status = -1 };
        int r;

        if (argc != 2)
                return log_error_errno(EINVAL, "events takes one VM NAME."), 2;
        r = vm_connect(argv[1], &vl);
        if (r != 0)
                return r;
        sd_varlink_set_userdata(vl, &st);
        if (sd_varlink_bind_reply(vl, on_event) < 0 || sd_varlink_set_relative_timeout(vl, UINT64_MAX) < 0 ||
            sd_varlink_observe(vl, "io.sdvm.VM.SubscribeEvents", NULL) < 0)
                return log_error("Failed to subscribe to the events of VM '%s'.", argv[1]), 1;
        while (st.exit_status < 0) {
                r = sd_varlink_process(vl);
                if (r < 0)
                        return log_error_errno(r, "Lost the connection to VM '%s': %m", argv[1]), 1;
                if (r == 0 && st.exit_status < 0) {
                        r = sd_varlink_wait(vl, UINT64_MAX);
                        if (r < 0 && r != -EINTR)
                                return log_error_errno(r, "Failed to wait for VM '%s': %m", argv[1]), 1;
                }
        }
        return st.exit_status;
}

static int verb_console(int argc, char *argv[]) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (argc != 2)
                return log_error_errno(EINVAL, "console takes one VM NAME."), 2;
        if (!vm_name_is_valid(argv[1]))
                return log_error_errno(EINVAL, "'%s' is not a valid VM name.", argv[1]), 2;
        if (vm_unit_is_stopped(argv[1]))
                return vm_not_running(argv[1]);
        if (asprintf(&path, "/run/vms/%s/console", argv[1]) < 0)
                return log_oom(), 1;
        r = console_attach(path, argv[1]);
        if (r == -ESRCH)
                return VMCTL_EXIT_NOT_RUNNING;
        return r < 0 ? 1 : 0;
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
                        bool describe = strcmp(argv[0], "describe") == 0;
                        struct stat st;
                        char what[64];
                        int r;

                        if (argc != 2)
                                return log_error_errno(EINVAL, "%s takes one VM NAME.", argv[0]), 2;
                        r = vm_call(argv[1], map[i].method, NULL, describe ? print_describe : NULL);
                        /* A stopped VM has nothing to describe but what its next start resumes. */
                        if (describe && r == VMCTL_EXIT_NOT_RUNNING && vm_suspended(argv[1], &st))
                                log_info("VM '%s' has a suspended state (%s), which 'vmctl start %s' "
                                         "resumes.",
                                         argv[1], format_suspended(what, &st), argv[1]);
                        return r;
                }
        return log_error_errno(EINVAL, "Unknown command '%s' (try --help).", argv[0]), 2;
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_JSON, ARG_STOP, ARG_READ_ONLY, ARG_SERIAL, ARG_FORCE, ARG_TAP, ARG_BRIDGE,
               ARG_MAC };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", no_argument, NULL, ARG_JSON },
                { "stop", no_argument, NULL, ARG_STOP },
                { "read-only", no_argument, NULL, ARG_READ_ONLY },
                { "serial", required_argument, NULL, ARG_SERIAL },
                { "force", no_argument, NULL, ARG_FORCE },
                { "tap", required_argument, NULL, ARG_TAP },
                { "bridge", required_argument, NULL, ARG_BRIDGE },
                { "mac", required_argument, NULL, ARG_MAC },
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
                case ARG_STOP:
                        arg_stop = true;
                        break;
                case ARG_READ_ONLY:
                        arg_read_only = true;
                        break;
                case ARG_SERIAL:
                        arg_serial = optarg;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_TAP:
                        arg_tap = optarg;
                        break;
                case ARG_BRIDGE:
                        arg_bridge = optarg;
                        break;
                case ARG_MAC:
                        arg_mac = optarg;
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
        if (strcmp(argv[optind], "list") == 0 || strcmp(argv[optind], "status") == 0)
                return verb_list(argc - optind, argv + optind);
        if (strcmp(argv[optind], "events") == 0)
                return verb_events(argc - optind, argv + optind);
        if (strcmp(argv[optind], "console") == 0)
                return verb_console(argc - optind, argv + optind);
        if (strcmp(argv[optind], "save") == 0)
                return verb_save(argc - optind, argv + optind);
        if (strcmp(argv[optind], "restore") == 0)
                return verb_restore(argc - optind, argv + optind);
        if (strcmp(argv[optind], "add-disk") == 0)
                return verb_add_disk(argc - optind, argv + optind);
        if (strcmp(argv[optind], "add-nic") == 0)
                return verb_add_nic(argc - optind, argv + optind);
        if (strcmp(argv[optind], "remove-disk") == 0 || strcmp(argv[optind], "remove-nic") == 0)
                return verb_remove_device(argc - optind, argv + optind);
        if (strcmp(argv[optind], "start") == 0 || strcmp(argv[optind], "stop") == 0 ||
            strcmp(argv[optind], "restart") == 0)
                return verb_job(argc - optind, argv + optind);
        return verb_vm(argc - optind, argv + optind);
}
