/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm: one KVM virtual machine per process. Arguments, wiring and the main loop; the only place that
 * exits. See vmm(8). */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <systemd/sd-event.h>
#include <termios.h>
#include <unistd.h>

#include "arch/x86/machine.h"
#include "log.h"
#include "vm-config.h"
#include "vm.h"

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

typedef struct Context {
        Vm *vm;
        Machine *machine;
        sd_event *event;
        sd_event_source *stdin_source;
        int rx_ready_fd;       /* the UART made room: feed it what is pending */
        uint8_t pending[4096]; /* console input read but not yet taken by the UART */
        size_t n_pending;
        bool power_button_pressed;
        struct termios saved_termios;
        bool termios_saved;
} Context;

static void help(void) {
        printf("%s --config=FILE [OPTIONS...]\n\n"
               "Runs one KVM virtual machine described by a vm.conf(5) file. The guest's serial console\n"
               "is on standard input and output.\n\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n"
               "  -c --config=FILE    The VM's configuration file (e.g. /etc/vms/web.conf)\n"
               "     --name=NAME      The VM's name (default: from the file name)\n"
               "  -v --verbose        Log debug messages\n\n"
               "Signals: SIGTERM and SIGRTMIN+4 press the ACPI power button; SIGINT resets the guest\n"
               "(vmm exits with status %d so that its unit restarts it).\n"
               "Exit status: 0 guest powered off, %d guest rebooted, %d guest panicked,\n"
               "%d guest crashed, 1 vmm failed.\n",
               program_invocation_short_name, VMM_EXIT_REBOOT, VMM_EXIT_REBOOT, VMM_EXIT_PANIC,
               VMM_EXIT_CRASH);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_NAME };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, 'c' },
                { "name", required_argument, NULL, ARG_NAME },
                { "verbose", no_argument, NULL, 'v' },
                {},
        };
        int c;

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

static int on_stop_requested(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Context *ctx = userdata;
        return sd_event_exit(ctx->event, 0);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Context *ctx = userdata;

        if ((int) si->ssi_signo == SIGINT) {
                log_info("SIGINT: resetting the guest.");
                vm_request_stop(ctx->vm, VM_STOP_REBOOT);
                return 0;
        }
        /* SIGTERM (systemctl stop) and SIGRTMIN+4 (machinectl poweroff): ask the guest nicely;
         * systemd's TimeoutStopSec= bounds how long it may take. */
        if (vm_get_state(ctx->vm) == VM_STATE_PAUSED)
                (void) vm_resume(ctx->vm); /* a paused guest cannot act on the button */
        log_info("%s: pressing the ACPI power button%s.", strsignal((int) si->ssi_signo),
                 ctx->power_button_pressed ? " again" : "");
        machine_press_power_button(ctx->machine);
        ctx->power_button_pressed = true;
        vm_set_state(ctx->vm, VM_STATE_SHUTTING_DOWN);
        return 0;
}

/* Hands pending input to the UART; reading stdin pauses while anything is pending, so a guest that
 * does not read its console slows the sender down instead of losing bytes. */
static void feed_console(Context *ctx) {
        size_t n = machine_console_input(ctx->machine, ctx->pending, ctx->n_pending);

        memmove(ctx->pending, ctx->pending + n, ctx->n_pending - n);
        ctx->n_pending -= n;
        if (ctx->stdin_source)
                (void) sd_event_source_set_enabled(ctx->stdin_source, ctx->n_pending ? SD_EVENT_OFF : SD_EVENT_ON);
}

static void on_rx_ready_vcpu(void *userdata) {
        Context *ctx = userdata;
        (void) eventfd_write(ctx->rx_ready_fd, 1);
}

static int on_rx_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Context *ctx = userdata;
        eventfd_t v;

        (void) eventfd_read(fd, &v);
        feed_console(ctx);
        return 0;
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Context *ctx = userdata;
        ssize_t n;

        n = read(fd, ctx->pending + ctx->n_pending, sizeof ctx->pending - ctx->n_pending);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                log_warning_errno(errno, "Reading the console input failed, ignoring it from now: %m");
                n = 0;
        }
        if (n == 0) { /* EOF: the guest simply gets no more input */
                ctx->stdin_source = sd_event_source_disable_unref(ctx->stdin_source);
                return 0;
        }
        ctx->n_pending += (size_t) n;
        feed_console(ctx);
        return 0;
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
        default:
                log_error("VM stopped after a vmm error.");
                return VMM_EXIT_FAILURE;
        }
}

static int run(int argc, char *argv[]) {
        _cleanup_(vm_config_freep) VmConfig *config = NULL;
        _cleanup_(vm_freep) Vm *vm = NULL;
        _cleanup_(machine_freep) Machine *machine = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        Context ctx = {};
        uint64_t start = now_usec();
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? VMM_EXIT_FAILURE : 0;

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

        r = vm_new(&(VmParams) { .n_vcpus = config->cpus, .memory = config->memory, .start_usec = start }, &vm);
        if (r < 0)
                return VMM_EXIT_FAILURE;
        r = machine_new(vm, config, &machine);
        if (r < 0)
                return VMM_EXIT_FAILURE;

        r = sd_event_new(&event);
        if (r < 0)
                return log_error_errno(r, "sd_event_new: %m"), VMM_EXIT_FAILURE;
        ctx = (Context) { .vm = vm, .machine = machine, .event = event };
        ctx.rx_ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ctx.rx_ready_fd < 0)
                return log_error_errno(errno, "eventfd: %m"), VMM_EXIT_FAILURE;
        machine_set_console_rx_ready(machine, on_rx_ready_vcpu, &ctx);
        r = sd_event_add_io(event, NULL, ctx.rx_ready_fd, EPOLLIN, on_rx_ready, &ctx);
        if (r < 0)
                return log_error_errno(r, "sd_event_add_io: %m"), VMM_EXIT_FAILURE;
        if (sd_event_add_signal(event, NULL, SIGTERM, on_signal, &ctx) < 0 ||
            sd_event_add_signal(event, NULL, SIGINT, on_signal, &ctx) < 0 ||
            sd_event_add_signal(event, NULL, SIGRTMIN + 4, on_signal, &ctx) < 0)
                return log_error_errno(errno, "Failed to watch signals: %m"), VMM_EXIT_FAILURE;
        r = sd_event_add_io(event, NULL, vm->notify_fd, EPOLLIN, on_stop_requested, &ctx);
        if (r < 0)
                return log_error_errno(r, "sd_event_add_io: %m"), VMM_EXIT_FAILURE;
        /* stdin may be a file or /dev/null that epoll refuses (EPERM): then there is no input. */
        r = sd_event_add_io(event, &ctx.stdin_source, STDIN_FILENO, EPOLLIN, on_stdin, &ctx);
        if (r < 0 && r != -EPERM)
                return log_error_errno(r, "Failed to watch standard input: %m"), VMM_EXIT_FAILURE;
        (void) setup_terminal(&ctx);

        r = vm_start(vm);
        if (r >= 0)
                r = sd_event_loop(event);
        restore_terminal(&ctx);
        ctx.stdin_source = sd_event_source_disable_unref(ctx.stdin_source);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                vm_request_stop(vm, VM_STOP_ERROR);
        }
        r = exit_status(vm_stop(vm));
        safe_close(ctx.rx_ready_fd);
        return r;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
