/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm: one KVM virtual machine per process. Arguments, wiring and the main loop; the only place that
 * exits. See vmm(8). */

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <termios.h>
#include <unistd.h>

#include "assemble.h"
#include "hotplug.h"
#include "sandbox.h"
#include "suspend.h"
#include "core/test-trigger.h"
#include "core/thread.h"
#include "console/console.h"
#include "log.h"
#include "control/notify.h"
#include "control/varlink.h"
#include "vm-config.h"
#include "core/vm.h"

/* Exit statuses, documented in vmm(8); vm@.service turns VMM_EXIT_REBOOT into a restart. */
enum {
        VMM_EXIT_POWEROFF = 0,
        VMM_EXIT_FAILURE = 1,
        VMM_EXIT_REBOOT = 10,
        VMM_EXIT_PANIC = 11,
        VMM_EXIT_CRASH = 12,
};

static const char *arg_config;
static const char *arg_name;
static SandboxAction arg_seccomp = SANDBOX_KILL;

typedef struct Context {
        Vm *vm;
        const VmConfig *config;
        Board *board;
        sd_event *event;
        Console *console;
        VarlinkServer *varlink;
        Hotplug *hotplug;
        bool power_button_pressed;
        bool stop_told; /* the control socket's subscribers were told "stopped" */
        struct termios saved_termios;
        bool termios_saved;
} Context;

static void help(void) {
        printf("%s --config=FILE [OPTIONS...]\n\n"
               "Runs one KVM virtual machine described by a vm.conf(5) file. The guest's serial console\n"
               "is on standard input and output (in the journal, line by line, when standard output is\n"
               "the journal), and on the socket passed by systemd as \"console\", if any.\n\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n"
               "  -c --config=FILE    The VM's configuration file (e.g. /etc/vms/web.conf)\n"
               "     --name=NAME      The VM's name (default: from the file name)\n"
               "     --seccomp=MODE   What a system call outside vmm's seccomp filters does: kill\n"
               "                      (the default) or log (debugging; $SDVM_SECCOMP likewise)\n"
               "  -v --verbose        Log debug messages\n\n"
               "Signals: SIGTERM and SIGRTMIN+4 press the ACPI power button; SIGINT resets the guest\n"
               "(vmm exits with status %d so that its unit restarts it).\n"
               "Exit status: 0 guest powered off, %d guest rebooted, %d guest panicked,\n"
               "%d guest crashed, 1 vmm failed.\n",
               program_invocation_short_name, VMM_EXIT_REBOOT, VMM_EXIT_REBOOT, VMM_EXIT_PANIC,
               VMM_EXIT_CRASH);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_NAME, ARG_SECCOMP };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, 'c' },
                { "name", required_argument, NULL, ARG_NAME },
                { "seccomp", required_argument, NULL, ARG_SECCOMP },
                { "verbose", no_argument, NULL, 'v' },
                {},
        };
        const char *e;
        int c;

        /* For a unit, whose command line is the unit's: Environment=SDVM_SECCOMP=log in a drop-in. */
        e = getenv("SDVM_SECCOMP");
        if (e && *e) {
                arg_seccomp = sandbox_action_from_string(e);
                if (arg_seccomp < 0)
                        return log_error_invalid("Invalid $SDVM_SECCOMP='%s': use kill or log.", e);
        }
        while ((c = getopt_long(argc, argv, "hc:v", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vmm %s\n", PACKAGE_VERSION);
                        return 0;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_NAME:
                        if (!vm_name_is_valid(optarg))
                                return log_error_invalid("Invalid VM name '%s': use 1-64 of A-Z a-z 0-9 _ . -",
                                                         optarg);
                        arg_name = optarg;
                        break;
                case ARG_SECCOMP:
                        arg_seccomp = sandbox_action_from_string(optarg);
                        if (arg_seccomp < 0)
                                return log_error_invalid("Invalid --seccomp=%s: use kill or log.", optarg);
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_invalid("Unexpected argument '%s' (try --help).", argv[optind]);
        if (!arg_config)
                return log_error_invalid("No --config=FILE given (try --help).");
        return 1;
}

/* Tells the control socket's subscribers before the loop exits: sd-varlink flushes and closes its
 * connections when the event loop exits, so whatever is queued after that never leaves. */
static void tell_stopped(Context *ctx, VmStopReason reason) {
        if (ctx->stop_told)
                return;
        ctx->stop_told = true;
        if (reason == VM_STOP_PANIC)
                varlink_emit_panic(ctx->varlink);
        varlink_emit_state(ctx->varlink, VM_STATE_STOPPED, reason);
}

static int on_stop_requested(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Context *ctx = userdata;
        VmStopReason reason;

        reason = vm_get_stop_reason(ctx->vm); /* set before notify_fd is written */
        tell_stopped(ctx, reason);
        return sd_event_exit(ctx->event, 0);
}

/* The VM's state changes, for the signal handlers and the control socket (io.sdvm.VM) alike: each
 * tells the service manager (STATUS=) and the control socket's subscribers. */
static int ctx_pause(Context *ctx) {
        int r = vm_pause(ctx->vm);
        if (r < 0)
                return r;
        (void) notify_event(NOTIFY_PAUSED, VM_STOP_NONE, NULL);
        varlink_emit_state(ctx->varlink, VM_STATE_PAUSED, VM_STOP_NONE);
        return 0;
}

static int ctx_resume(Context *ctx) {
        int r = vm_resume(ctx->vm);
        if (r < 0)
                return r;
        (void) notify_event(NOTIFY_RUNNING, VM_STOP_NONE, NULL);
        varlink_emit_state(ctx->varlink, VM_STATE_RUNNING, VM_STOP_NONE);
        return 0;
}

/* Saves the VM: paused for the time it takes, then resumed (if it ran), or stopped. fd: a file the client
 * passed (taken), or -EBADF for the state directory. */
static int ctx_save(Context *ctx, int fd, bool stop, VarlinkSaveResult *ret) {
        _cleanup_close_ int owned = fd;
        bool was_running = vm_get_state(ctx->vm) == VM_STATE_RUNNING;
        uint64_t t0 = now_usec();
        SuspendResult res;
        int r;

        *ret = (VarlinkSaveResult) {};
        /* The next start builds the config's devices: a state with others would not restore. */
        if (hotplug_devices_changed(ctx->hotplug)) {
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "devices were added or removed while the VM ran: its state would not match the "
                                "devices of the configuration at the next start");
                log_error("Cannot save the VM: %s.", ret->reason);
                return -EBUSY;
        }
        if (was_running) {
                r = vm_pause(ctx->vm);
                if (r < 0)
                        return r;
        }
        (void) notify_event(stop ? NOTIFY_SUSPENDING : NOTIFY_SAVING, VM_STOP_NONE, NULL);
        r = suspend_save(ctx->vm, ctx->config, TAKE_FD(owned), &res);
        ret->paused_usec = now_usec() - t0;
        if (r < 0) {
                (void) snprintf(ret->reason, sizeof ret->reason, "%s", res.reason);
                if (was_running)
                        (void) vm_resume(ctx->vm);
                (void) notify_event(was_running ? NOTIFY_RUNNING : NOTIFY_PAUSED, VM_STOP_NONE, NULL);
                return r;
        }
        (void) snprintf(ret->path, sizeof ret->path, "%s", res.path);
        ret->bytes = res.bytes;
        log_info("Saved the VM%s%s (%llu MiB on disk) in %.3f s%s.", res.path[0] ? " to " : "", res.path,
                 (unsigned long long) (res.bytes >> 20), (double) ret->paused_usec / 1e6,
                 stop ? "; stopping it" : "");
        if (stop) {
                vm_request_stop(ctx->vm, VM_STOP_SAVED);
                return 0;
        }
        if (was_running)
                (void) vm_resume(ctx->vm);
        (void) notify_event(was_running ? NOTIFY_RUNNING : NOTIFY_PAUSED, VM_STOP_NONE, NULL);
        return 0;
}

/* Asks the guest nicely; systemd's TimeoutStopSec= bounds how long it may take (STOPPING=1 makes that so
 * for SIGRTMIN+4 and PowerOff too). */
static int ctx_press_power_button(Context *ctx, const char *why) {
        if (vm_get_state(ctx->vm) == VM_STATE_PAUSED)
                (void) ctx_resume(ctx); /* a paused guest cannot act on the button */
        log_info("%s: pressing the ACPI power button%s.", why, ctx->power_button_pressed ? " again" : "");
        board_press_power_button(ctx->board);
        ctx->power_button_pressed = true;
        vm_set_state(ctx->vm, VM_STATE_SHUTTING_DOWN);
        (void) notify_event(NOTIFY_POWER_BUTTON, VM_STOP_NONE, NULL);
        varlink_emit_state(ctx->varlink, VM_STATE_SHUTTING_DOWN, VM_STOP_NONE);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Context *ctx = userdata;

        if ((int) si->ssi_signo == SIGINT) {
                log_info("SIGINT: resetting the guest.");
                vm_request_stop(ctx->vm, VM_STOP_REBOOT);
                return 0;
        }
        /* SIGTERM (systemctl stop) with OnStop=save suspends; if that fails, the guest is asked to power off
         * rather than be killed with its state lost. */
        if ((int) si->ssi_signo == SIGTERM && ctx->config->on_stop == VM_ON_STOP_SAVE &&
            vm_get_state(ctx->vm) != VM_STATE_SHUTTING_DOWN) {
                VarlinkSaveResult res;
                log_info("SIGTERM with OnStop=save: suspending the VM to its state directory.");
                if (ctx_save(ctx, -EBADF, true, &res) >= 0)
                        return 0;
                log_warning("Could not save the VM (%s); pressing the power button instead.", res.reason);
        }
        /* SIGTERM (systemctl stop) and SIGRTMIN+4 (machinectl poweroff). */
        return ctx_press_power_button(ctx, strsignal((int) si->ssi_signo));
}

/* The control socket's backend (varlink.h): the same functions as the signals. */
static VmState backend_get_state(void *userdata) {
        Context *ctx = userdata;
        return vm_get_state(ctx->vm);
}

static int backend_pause(void *userdata) {
        return ctx_pause(userdata);
}

static int backend_resume(void *userdata) {
        return ctx_resume(userdata);
}

static int backend_power_off(void *userdata) {
        return ctx_press_power_button(userdata, "PowerOff over the control socket");
}

static int backend_reboot(void *userdata) {
        Context *ctx = userdata;
        log_info("Reboot over the control socket: resetting the guest.");
        vm_request_stop(ctx->vm, VM_STOP_REBOOT);
        return 0;
}

static int backend_terminate(void *userdata) {
        Context *ctx = userdata;
        log_info("Terminate over the control socket: stopping the guest now.");
        vm_request_stop(ctx->vm, VM_STOP_TERMINATE);
        return 0;
}

static int backend_save(void *userdata, int fd, bool stop, VarlinkSaveResult *ret) {
        return ctx_save(userdata, fd, stop, ret);
}

static int backend_inspect(void *userdata, sd_json_variant **ret) {
        Context *ctx = userdata;
        return varlink_vm_inspect(ctx->vm, ctx->console, ret);
}

static int backend_devices(void *userdata, sd_json_variant **ret) {
        Context *ctx = userdata;
        return varlink_vm_devices(ctx->vm, ret);
}

static void copy_device_result(const HotplugResult *h, VarlinkDeviceResult *ret) {
        (void) snprintf(ret->name, sizeof ret->name, "%s", h->name);
        (void) snprintf(ret->pci_address, sizeof ret->pci_address, "%s", h->pci_address);
        (void) snprintf(ret->reason, sizeof ret->reason, "%s", h->reason);
}

static int backend_add_disk(void *userdata, int fd, bool read_only, const char *serial, VarlinkDeviceResult *ret) {
        Context *ctx = userdata;
        HotplugResult res;
        int r;

        r = hotplug_add_disk(ctx->hotplug, fd, read_only, serial, &res);
        copy_device_result(&res, ret);
        if (r < 0)
                log_error("AddDisk refused: %s.", res.reason);
        return r;
}

static int backend_add_network(void *userdata, int fd, const uint8_t *mac, VarlinkDeviceResult *ret) {
        Context *ctx = userdata;
        HotplugResult res;
        int r;

        r = hotplug_add_network(ctx->hotplug, fd, mac, &res);
        copy_device_result(&res, ret);
        memcpy(ret->mac, res.mac, sizeof ret->mac);
        if (r < 0)
                log_error("AddNetwork refused: %s.", res.reason);
        return r;
}

static int backend_remove_device(void *userdata, VarlinkDeviceKind kind, const char *name, bool force,
                                 VarlinkRemoveDone done, void *cookie, char reason[static 256]) {
        Context *ctx = userdata;
        char why[HOTPLUG_REASON_MAX];
        int r;

        r = hotplug_remove(ctx->hotplug, kind == VARLINK_DEVICE_DISK ? HOTPLUG_DISK : HOTPLUG_NETWORK, name, force,
                           done, cookie, why);
        (void) snprintf(reason, 256, "%s", why);
        if (r < 0)
                log_error("Removal of %s refused: %s.", name, why);
        return r;
}

static void on_device_event(void *userdata, const char *event, const char *name, const char *type) {
        Context *ctx = userdata;
        varlink_emit_device(ctx->varlink, event, name, type);
}

static const VarlinkBackend vm_backend = {
        .get_state = backend_get_state,
        .pause = backend_pause,
        .resume = backend_resume,
        .power_off = backend_power_off,
        .reboot = backend_reboot,
        .terminate = backend_terminate,
        .save = backend_save,
        .describe_devices = backend_devices,
        .inspect = backend_inspect,
        .add_disk = backend_add_disk,
        .add_network = backend_add_network,
        .remove_device = backend_remove_device,
};

static size_t console_input(void *userdata, const uint8_t *buf, size_t n) {
        return board_console_input(userdata, buf, n);
}

/* The fds systemd opened for the [Disk]s (OpenFile=PATH:diskN), so that images root owns work for a
 * DynamicUser= service. A disk without one (run by hand, or OpenFile=...:graceful could not open it)
 * stays -EBADF, and its path is opened here, which also yields the precise error. */
static void collect_disk_fds(const VmConfig *config, int fds[static VM_DISKS_MAX]) {
        char **names = NULL;
        int n;

        for (size_t i = 0; i < VM_DISKS_MAX; i++)
                fds[i] = -EBADF;
        n = sd_listen_fds_with_names(/* unset_environment= */ 0, &names);
        for (int i = 0; i < n; i++) {
                unsigned idx;
                char end;
                if (names && names[i] && sscanf(names[i], "disk%u%c", &idx, &end) == 1 && idx < config->n_disks &&
                    fds[idx] < 0)
                        fds[idx] = SD_LISTEN_FDS_START + i;
        }
        for (int i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
}

#if SDVM_TEST_HOOKS
/* Test-only (core/test-trigger.h): $SDVM_TEST_TRIGGER, or a file "test-trigger" in the state directory
 * holding the same word, which is removed first so that the restarted vmm runs clean. */
static void arm_test_trigger(void) {
        const char *e = getenv("SDVM_TEST_TRIGGER"), *dir = getenv("STATE_DIRECTORY");
        char path[PATH_MAX], word[16] = "";
        TestTrigger t;

        if (!e && dir) {
                _cleanup_fclose_ FILE *f = NULL;
                (void) snprintf(path, sizeof path, "%.*s/test-trigger", (int) strcspn(dir, ":"), dir);
                f = fopen(path, "re");
                if (!f)
                        return;
                if (fscanf(f, "%15s", word) != 1 || unlink(path) < 0)
                        return (void) log_warning_errno(errno, "Test trigger: cannot take %s: %m", path);
                e = word;
        }
        if (!e)
                return;
        t = test_trigger_from_string(e);
        if (t < 0)
                return (void) log_warning("Test trigger: unknown trigger '%s'; ignoring it.", e);
        log_warning("Test trigger armed: a %s thread will make a forbidden call.", t == TEST_TRIGGER_VCPU ? "vCPU" : "device I/O");
        test_trigger_arm(t);
}
#endif

/* Once the devices exist, nothing vmm does needs a privilege: drop them all, ambient and bounding set
 * included, before guest code runs. (Under vm@.service only VMs with [Network] have one,
 * CAP_NET_ADMIN for their taps; by hand as root, all of them.) */
static int drop_capabilities(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

        (void) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        for (unsigned long c = 0; c < 64; c++)
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL)
                        break; /* past the last capability this kernel knows */
        if (syscall(SYS_capset, &h, data) < 0)
                return log_error_errno(errno, "Failed to drop capabilities: %m");
        return 0;
}

/* The listening socket systemd passes as "console" (vm-console@.socket, FileDescriptorName=console).
 * Other passed fds are left alone. */
static int adopt_console_socket(Context *ctx) {
        char **names = NULL;
        int n, r = 0;

        n = sd_listen_fds_with_names(/* unset_environment= */ 0, &names);
        if (n < 0)
                return log_warning_errno(n, "Failed to read the file descriptors passed by systemd: %m");
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                if (r != 0 || !names || !names[i] || strcmp(names[i], "console") != 0)
                        continue;
                if (sd_is_socket_unix(fd, SOCK_STREAM, /* listening= */ 1, NULL, 0) <= 0) {
                        log_warning("The file descriptor passed as \"console\" is not a listening stream "
                                    "socket; ignoring it.");
                        continue;
                }
                if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
                        r = log_error_errno(errno, "Failed to make the console socket non-blocking: %m");
                        continue;
                }
                r = console_listen(ctx->console, fd);
                if (r < 0)
                        r = log_error_errno(r, "Failed to watch the console socket: %m");
                else {
                        log_debug("Serving the console on the socket passed as \"console\".");
                        r = 1;
                }
        }
        for (int i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
        return r < 0 ? r : 0;
}

static int setup_console(Context *ctx, const char *name) {
        /* Under systemd, stdout is the journal: there the console becomes journal entries with VM= and
         * SDVM_SOURCE=console. Otherwise (run by hand) its bytes go to stdout as they come. */
        bool journal = fd_is_journal_stream(STDOUT_FILENO);
        int r;

        r = console_new(&(ConsoleParams) {
                                .event = ctx->event,
                                .vm_name = name,
                                .output_fd = journal ? -EBADF : STDOUT_FILENO,
                                .journal = journal,
                                .input = console_input,
                                .input_userdata = ctx->board,
                        },
                        &ctx->console);
        if (r < 0)
                return r;
        board_set_console(ctx->board, console_guest_output, console_guest_rx_ready, ctx->console);
        /* stdin may be a file or /dev/null that epoll refuses (EPERM): then there is no input. */
        r = console_set_input_fd(ctx->console, STDIN_FILENO);
        if (r < 0 && r != -EPERM)
                return log_error_errno(r, "Failed to watch standard input: %m");
        return adopt_console_socket(ctx);
}

static void restore_terminal(Context *ctx) {
        if (ctx->termios_saved)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &ctx->saved_termios);
}

static int setup_terminal(Context *ctx) {
        struct termios raw;

        if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &ctx->saved_termios) < 0)
                return 0;
        ctx->termios_saved = true;
        raw = ctx->saved_termios;
        cfmakeraw(&raw);
        raw.c_oflag |= OPOST | ONLCR; /* keep our own log lines readable */
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
                return log_warning_errno(errno, "Failed to put the terminal in raw mode: %m");
        return 0;
}

static int exit_status(VmStopReason reason) {
        (void) notify_event(NOTIFY_STOPPED, reason, NULL);
        switch (reason) {
        case VM_STOP_POWEROFF:
                log_info("Guest powered off.");
                return VMM_EXIT_POWEROFF;
        case VM_STOP_REBOOT:
                log_info("Guest reset: exiting with status %d so that it is started again.", VMM_EXIT_REBOOT);
                return VMM_EXIT_REBOOT;
        case VM_STOP_PANIC:
                log_error("Guest kernel panicked (pvpanic).");
                return VMM_EXIT_PANIC;
        case VM_STOP_CRASH:
                log_error("Guest crashed.");
                return VMM_EXIT_CRASH;
        case VM_STOP_TERMINATE:
                log_info("VM terminated.");
                return VMM_EXIT_POWEROFF;
        case VM_STOP_SAVED:
                log_info("VM suspended: its next start resumes it.");
                return VMM_EXIT_POWEROFF;
        default:
                log_error("VM stopped after a vmm error.");
                return VMM_EXIT_FAILURE;
        }
}

/* A group named in the config, by name (NULL: none). */
static int lookup_group(const char *name, const char *key, bool *ret_set, gid_t *ret_gid) {
        struct group *g;

        if (!name)
                return 0;
        errno = 0;
        g = getgrnam(name);
        if (!g)
                return log_error_errno(errno ?: ENOENT, "%s: %s=%s: no such group.", arg_config, key, name);
        *ret_set = true;
        *ret_gid = g->gr_gid;
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_(vm_config_freep) VmConfig *config = NULL;
        _cleanup_(vm_freep) Vm *vm = NULL;
        _cleanup_(board_freep) Board *board = NULL; /* points into vm's device tree: freed before vm */
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(console_freep) Console *console = NULL; /* before the event loop goes, after the vCPUs */
        _cleanup_(varlink_server_freep) VarlinkServer *varlink = NULL; /* before the console and the VM */
        _cleanup_(hotplug_freep) Hotplug *hotplug = NULL; /* before the server: it answers waiting calls */
        Context ctx = {};
        uint64_t start = now_usec();
        VmStopReason reason;
        char detail[64];
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? VMM_EXIT_FAILURE : 0;
        if (arg_name)
                log_set_vm_name(arg_name);

        r = vm_config_load(arg_config, &config);
        if (r < 0)
                return VMM_EXIT_FAILURE;
        if (arg_name) {
                char *n = strdup(arg_name);
                if (!n)
                        return log_oom(), VMM_EXIT_FAILURE;
                free(config->name);
                config->name = n;
        }
        log_set_vm_name(config->name);
        (void) notify_event(NOTIFY_STARTING, VM_STOP_NONE, NULL);

        /* Block the signals we handle before any thread exists, so all of them inherit the mask and
         * only sd-event's signalfd sees them. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGRTMIN + 4);
        sigaddset(&mask, SIGUSR2); /* the vCPU kick: only vCPU threads take it */
        sigaddset(&mask, SIGPIPE);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask: %m"), VMM_EXIT_FAILURE;

        log_info("Starting VM '%s': %u vCPUs, %llu MiB, kernel %s", config->name, config->cpus,
                 (unsigned long long) (config->memory >> 20), config->kernel);

        /* Every thread vmm starts confines itself (sandbox.h): the I/O threads in vmm_assemble(), the vCPUs
         * below, then the main thread. */
        if (arg_seccomp == SANDBOX_LOG)
                log_warning("--seccomp=log: system calls outside the filters are logged, not refused.");
        sandbox_setup(&(SandboxParams) { .action = arg_seccomp, .vm_fd = -EBADF });
#if SDVM_TEST_HOOKS
        arm_test_trigger();
#endif
        int disk_fds[VM_DISKS_MAX];
        collect_disk_fds(config, disk_fds);
        r = vmm_assemble(config, disk_fds, start, &vm, &board);
        for (size_t i = 0; i < VM_DISKS_MAX; i++)
                safe_close(disk_fds[i]);
        if (r < 0)
                return VMM_EXIT_FAILURE;
        sandbox_setup(&(SandboxParams) { .action = arg_seccomp, .vm_fd = vm->fd }); /* now there is a VM */
        r = drop_capabilities();
        if (r < 0)
                return VMM_EXIT_FAILURE;

        r = sd_event_new(&event);
        if (r < 0)
                return log_error_errno(r, "sd_event_new: %m"), VMM_EXIT_FAILURE;
        ctx = (Context) { .vm = vm, .config = config, .board = board, .event = event };
        r = setup_console(&ctx, config->name);
        console = ctx.console;
        if (r < 0)
                return VMM_EXIT_FAILURE;
        if (sd_event_add_signal(event, NULL, SIGTERM, on_signal, &ctx) < 0 ||
            sd_event_add_signal(event, NULL, SIGINT, on_signal, &ctx) < 0 ||
            sd_event_add_signal(event, NULL, SIGRTMIN + 4, on_signal, &ctx) < 0)
                return log_error_errno(errno, "Failed to watch signals: %m"), VMM_EXIT_FAILURE;
        r = sd_event_add_io(event, NULL, vm->notify_fd, EPOLLIN, on_stop_requested, &ctx);
        if (r < 0)
                return log_error_errno(r, "sd_event_add_io: %m"), VMM_EXIT_FAILURE;
        /* WatchdogSec=: the loop pings systemd at half the interval, so a wedged main loop gets vmm
         * killed and (per the unit's Restart=) restarted. */
        r = sd_event_set_watchdog(event, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the watchdog: %m"), VMM_EXIT_FAILURE;
        if (r > 0)
                log_debug("Watchdog enabled.");
        /* ControlGroup=, MonitorGroup=: the generator opened the socket to them; the server lets their
         * members in, and each to what its grant gives. */
        VarlinkGrants grants = {};
        r = lookup_group(config->control_group, "ControlGroup", &grants.control, &grants.control_gid);
        if (r >= 0)
                r = lookup_group(config->monitor_group, "MonitorGroup", &grants.monitor, &grants.monitor_gid);
        if (r < 0)
                return VMM_EXIT_FAILURE;
        /* The control socket (vm-control@.socket passes it as "varlink"); none when run by hand. */
        r = varlink_server_new(&(VarlinkParams) {
                                       .event = event,
                                       .name = config->name,
                                       .kernel = config->kernel,
                                       .vcpus = config->cpus,
                                       .memory = config->memory,
                                       .start_usec = start,
                                       .backend = &vm_backend,
                                       .userdata = &ctx,
                                       .grants = grants,
                               },
                               &varlink);
        if (r < 0)
                return VMM_EXIT_FAILURE;
        ctx.varlink = varlink;
        r = hotplug_new(event, vm, board, config, HOTPLUG_EJECT_TIMEOUT_USEC, on_device_event, &ctx, &hotplug);
        if (r < 0)
                return VMM_EXIT_FAILURE;
        ctx.hotplug = hotplug;
        log_debug("Control socket: %s.", varlink_server_is_listening(varlink) ? "io.sdvm.VM" : "none passed");
        (void) setup_terminal(&ctx);

        /* A VM suspended by its last stop (OnStop=save, vmctl save --stop) comes back instead of booting. */
        r = suspend_restore(vm, config);
        if (r < 0)
                return VMM_EXIT_FAILURE;
        /* The vCPU threads start held, each with its own filter; then the main thread confines itself,
         * after the last thread it starts (a later thread would carry the main filter too) and before
         * the first KVM_RUN. */
        r = vm_spawn_vcpus(vm);
        if (r < 0)
                return VMM_EXIT_FAILURE;
        /* The I/O threads of devices added while the VM runs: made now, parked until then. */
        r = thread_make_spares(THREAD_ROLE_DEVICE_IO, THREAD_SPARES_MAX);
        if (r < 0)
                return log_error_errno(r, "Failed to make the spare I/O threads: %m"), VMM_EXIT_FAILURE;
        r = thread_enter_main();
        if (r < 0)
                return log_error_errno(r, "Failed to sandbox the main thread: %m"), VMM_EXIT_FAILURE;
        r = vm_start(vm);
        if (r >= 0) {
                (void) snprintf(detail, sizeof detail, "%u vCPU%s, %llu MiB", config->cpus,
                                config->cpus == 1 ? "" : "s", (unsigned long long) (config->memory >> 20));
                (void) notify_event(NOTIFY_RUNNING, VM_STOP_NONE, detail);
                varlink_emit_state(varlink, VM_STATE_RUNNING, VM_STOP_NONE);
                r = sd_event_loop(event);
        }
        restore_terminal(&ctx);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                vm_request_stop(vm, VM_STOP_ERROR);
        }
        reason = vm_stop(vm);
        tell_stopped(&ctx, reason); /* if the loop ended otherwise */
        ctx.hotplug = hotplug = hotplug_free(hotplug); /* removals that wait get their answer */
        ctx.varlink = varlink = varlink_server_free(varlink); /* what subscribers can still take */
        console = console_free(console); /* its last partial line, before the final status line */
        return exit_status(reason);
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
