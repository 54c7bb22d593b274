/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/fs.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "sandbox.h"
#include "string-table.h"

static const char *const sandbox_action_table[_SANDBOX_ACTION_MAX] = {
        [SANDBOX_KILL] = "kill",
        [SANDBOX_LOG] = "log",
};
DEFINE_STRING_TABLE_TO_STRING(sandbox_action, SandboxAction);

SandboxAction sandbox_action_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(sandbox_action_table); i++)
                if (strcmp(s, sandbox_action_table[i]) == 0)
                        return (SandboxAction) i;
        return _SANDBOX_ACTION_INVALID;
}

#define M (1U << THREAD_ROLE_MAIN)
#define V (1U << THREAD_ROLE_VCPU)
#define D (1U << THREAD_ROLE_DEVICE_IO)
#define ALL (M | V | D)

/* What a rule's arguments must be. */
typedef enum Arg {
        ARG_ANY,
        ARG_NO_EXEC,   /* mmap/mprotect: PROT_EXEC clear (guest RAM and heap are never code) */
        ARG_AF_UNIX,   /* socket: AF_UNIX only */
        ARG_KILL_SELF, /* tgkill: this process only, the vCPU kick or SIGABRT (assert) only */
} Arg;

typedef struct SyscallRule {
        int nr;
        unsigned roles;
        Arg arg;
} SyscallRule;

/* The allow-lists, one column per role (M main, V vCPU, D device I/O), from what vmm's code and the
 * libraries it calls (glibc, sd-event, sd-varlink, sd-json, sd-journal, sd-daemon) make once the
 * thread is confined. Setup (opening /dev/kvm, images, taps, the kernel; creating threads; restoring a
 * saved state) is done before any filter is on. ioctl is argument-filtered in ioctl_rules below. */
static const SyscallRule syscall_rules[] = {
        /* Memory: malloc arenas, thread stacks, guest RAM's mappings; never executable. */
        { .nr = SCMP_SYS(brk), .roles = ALL },
        { .nr = SCMP_SYS(mmap), .roles = ALL, .arg = ARG_NO_EXEC },
        { .nr = SCMP_SYS(mprotect), .roles = ALL, .arg = ARG_NO_EXEC },
        { .nr = SCMP_SYS(munmap), .roles = ALL },
        { .nr = SCMP_SYS(mremap), .roles = ALL },   /* realloc of large blocks */
        { .nr = SCMP_SYS(madvise), .roles = ALL },  /* glibc frees a dead thread's stack and trims arenas with it */
        { .nr = SCMP_SYS(memfd_create), .roles = M }, /* sd-journal passes a message too large for a datagram in one */

        /* Threads and signals. */
        { .nr = SCMP_SYS(futex), .roles = ALL },
        { .nr = SCMP_SYS(sched_yield), .roles = ALL },
        { .nr = SCMP_SYS(rt_sigprocmask), .roles = ALL }, /* glibc blocks signals around pthread_kill() and thread exit */
        { .nr = SCMP_SYS(rt_sigreturn), .roles = M | V },  /* the end of the kick's (empty) handler */
        { .nr = SCMP_SYS(rt_sigaction), .roles = M },     /* abort() resets SIGABRT */
        { .nr = SCMP_SYS(restart_syscall), .roles = ALL }, /* a timed wait interrupted by the kick */
        { .nr = SCMP_SYS(getpid), .roles = ALL },         /* pthread_kill() and sd-event's fork check */
        { .nr = SCMP_SYS(gettid), .roles = ALL },
        { .nr = SCMP_SYS(tgkill), .roles = ALL, .arg = ARG_KILL_SELF }, /* kicking vCPUs (a vCPU's fault stops the others), abort() */
        { .nr = SCMP_SYS(exit), .roles = ALL },
        { .nr = SCMP_SYS(exit_group), .roles = ALL },

        /* Time. */
        { .nr = SCMP_SYS(clock_gettime), .roles = ALL }, /* when the vDSO cannot (some clock sources under nested virt) */
        { .nr = SCMP_SYS(gettimeofday), .roles = ALL },
        { .nr = SCMP_SYS(clock_nanosleep), .roles = M },
        { .nr = SCMP_SYS(nanosleep), .roles = M },

        /* Plain I/O on fds already open: eventfds (kicks, irqfds, wake-ups), the tap, disk images, the log
         * on stderr, the console's and control socket's connections. */
        { .nr = SCMP_SYS(read), .roles = ALL },
        { .nr = SCMP_SYS(write), .roles = ALL },
        { .nr = SCMP_SYS(readv), .roles = M | D },         /* the tap: one frame per call */
        { .nr = SCMP_SYS(writev), .roles = M | D },
        { .nr = SCMP_SYS(pread64), .roles = M | D },
        { .nr = SCMP_SYS(pwrite64), .roles = M | D },      /* the state file */
        { .nr = SCMP_SYS(preadv), .roles = D },            /* virtio-blk */
        { .nr = SCMP_SYS(pwritev), .roles = D },
        { .nr = SCMP_SYS(preadv2), .roles = D },
        { .nr = SCMP_SYS(pwritev2), .roles = D },
        { .nr = SCMP_SYS(fdatasync), .roles = M | D },     /* virtio-blk flush; the state file */
        { .nr = SCMP_SYS(fsync), .roles = M | D },         /* the state directory */
        { .nr = SCMP_SYS(fallocate), .roles = M | D },     /* virtio-blk discard and write-zeroes */
        { .nr = SCMP_SYS(ftruncate), .roles = M },         /* a state file passed by the client */
        { .nr = SCMP_SYS(lseek), .roles = M },
        { .nr = SCMP_SYS(getrandom), .roles = M | D },     /* virtio-rng; the state file's temporary name; hashmap seeds */
        { .nr = SCMP_SYS(close), .roles = M },
        { .nr = SCMP_SYS(fcntl), .roles = M },             /* O_NONBLOCK on new connections, passed fds' flags */
        { .nr = SCMP_SYS(dup), .roles = M },
        { .nr = SCMP_SYS(dup3), .roles = M },
        { .nr = SCMP_SYS(fstat), .roles = M },
        { .nr = SCMP_SYS(newfstatat), .roles = M },        /* also fstat() in glibc >= 2.33 */
        { .nr = SCMP_SYS(statx), .roles = M },
        { .nr = SCMP_SYS(fstatfs), .roles = M },

        /* Waiting: sd-event's loop (epoll, signalfd, timerfd), the I/O threads' epoll, sd-varlink's poll. */
        { .nr = SCMP_SYS(epoll_create1), .roles = M },
        { .nr = SCMP_SYS(epoll_ctl), .roles = ALL },       /* vCPU: a device armed at DRIVER_OK watches its tap */
        { .nr = SCMP_SYS(epoll_wait), .roles = M | D },
        { .nr = SCMP_SYS(epoll_pwait), .roles = M | D },
        { .nr = SCMP_SYS(epoll_pwait2), .roles = M },      /* sd-event's first choice */
        { .nr = SCMP_SYS(poll), .roles = M },
        { .nr = SCMP_SYS(ppoll), .roles = M },
        { .nr = SCMP_SYS(signalfd4), .roles = M },
        { .nr = SCMP_SYS(timerfd_create), .roles = M },
        { .nr = SCMP_SYS(timerfd_settime), .roles = M },
        { .nr = SCMP_SYS(timerfd_gettime), .roles = M },
        { .nr = SCMP_SYS(eventfd2), .roles = M },

        /* Sockets: the control and console sockets systemd passed (accept, peer credentials, fd passing),
         * sd_notify, and the journal, which every thread logs to with sendmsg() on one datagram socket
         * that the main thread opened at its first log line. AF_UNIX only. */
        { .nr = SCMP_SYS(sendmsg), .roles = ALL },
        { .nr = SCMP_SYS(sendto), .roles = M },
        { .nr = SCMP_SYS(recvmsg), .roles = M },
        { .nr = SCMP_SYS(recvfrom), .roles = M },
        { .nr = SCMP_SYS(socket), .roles = M, .arg = ARG_AF_UNIX },
        { .nr = SCMP_SYS(connect), .roles = M },           /* sd_notify() connects to $NOTIFY_SOCKET */
        { .nr = SCMP_SYS(accept4), .roles = M },
        { .nr = SCMP_SYS(accept), .roles = M },
        { .nr = SCMP_SYS(shutdown), .roles = M },
        { .nr = SCMP_SYS(getsockopt), .roles = M },        /* SO_PEERCRED, SO_PEERGROUPS, SO_PEERPIDFD, SO_SNDBUF */
        { .nr = SCMP_SYS(setsockopt), .roles = M },        /* sd_notify's and the journal's send buffer */
        { .nr = SCMP_SYS(getsockname), .roles = M },
        { .nr = SCMP_SYS(getpeername), .roles = M },

        /* The state directory (io.sdvm.VM.Save, OnStop=save): O_TMPFILE, linked through /proc/self/fd, then
         * renamed into place; the named fallback unlinks on failure. */
        { .nr = SCMP_SYS(openat), .roles = M },
        { .nr = SCMP_SYS(linkat), .roles = M },
        { .nr = SCMP_SYS(renameat), .roles = M },
        { .nr = SCMP_SYS(renameat2), .roles = M },
        { .nr = SCMP_SYS(unlinkat), .roles = M },

        /* Harmless identity queries libraries make (sd-varlink's ROOT_ONLY check, sd-daemon). */
        { .nr = SCMP_SYS(getuid), .roles = M },
        { .nr = SCMP_SYS(geteuid), .roles = M },
        { .nr = SCMP_SYS(getgid), .roles = M },
        { .nr = SCMP_SYS(getegid), .roles = M },
        { .nr = SCMP_SYS(uname), .roles = M },
        { .nr = SCMP_SYS(sched_getaffinity), .roles = M },
};

/* Which fd an ioctl may be made on. */
typedef enum IoctlFd {
        FD_ANY,
        FD_VM,  /* the KVM VM's fd (SandboxParams.vm_fd) */
        FD_OWN, /* the thread's own fd (a vCPU's) */
} IoctlFd;

typedef struct IoctlRule {
        unsigned long request;
        unsigned roles;
        IoctlFd fd;
} IoctlRule;

/* The ioctl requests each role makes once confined. */
static const IoctlRule ioctl_rules[] = {
        /* vCPU threads: the run loop, and what the exits they dispatch to the devices do. */
        { KVM_RUN, V, FD_OWN },
        { KVM_IRQ_LINE, M | V, FD_VM },          /* the UART's and the GED's interrupt lines */
        { KVM_SET_GSI_ROUTING, M | V, FD_VM },   /* the guest programs an MSI-X vector */
        { KVM_IOEVENTFD, M | V, FD_VM },         /* the guest moves a virtio BAR */
        { TUNSETOFFLOAD, M | V, FD_ANY },        /* virtio-net at DRIVER_OK: the offloads the driver took */
        { TUNGETIFF, M, FD_ANY },                /* AddNetwork: is the passed fd a tap with a vnet header? */

        /* Device I/O threads: virtio-blk on a block device. */
        { BLKDISCARD, D, FD_ANY },
        { BLKZEROOUT, D, FD_ANY },

        /* The main thread: Save reads the VM's and the vCPUs' state (a paused VM, so no vCPU is in
         * KVM_RUN); resume tells kvmclock; the terminal is restored at exit. */
        { KVM_IRQFD, M, FD_VM },                 /* unbinding the MSI-X irqfds at exit */
        { KVM_GET_PIT2, M, FD_VM },
        { KVM_GET_CLOCK, M, FD_VM },
        { KVM_GET_IRQCHIP, M, FD_VM },
        { KVM_GET_MSR_INDEX_LIST, M, FD_ANY },   /* on /dev/kvm */
        { KVM_GET_MP_STATE, M, FD_ANY },
        { KVM_GET_REGS, M, FD_ANY },
        { KVM_GET_SREGS, M, FD_ANY },
        { KVM_GET_XSAVE, M, FD_ANY },
        { KVM_GET_XCRS, M, FD_ANY },
        { KVM_GET_DEBUGREGS, M, FD_ANY },
        { KVM_GET_LAPIC, M, FD_ANY },
        { KVM_GET_VCPU_EVENTS, M, FD_ANY },
        { KVM_GET_MSRS, M, FD_ANY },
        { KVM_GET_TSC_KHZ, M, FD_ANY },
        { KVM_KVMCLOCK_CTRL, M, FD_ANY },
        { TCGETS, M, FD_ANY },
        { TCSETS, M, FD_ANY },
};

static SandboxParams params = { .action = SANDBOX_KILL, .vm_fd = -EBADF };

void sandbox_setup(const SandboxParams *p) {
        params = *p;
        thread_set_sandbox(sandbox_apply);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(scmp_filter_ctx, seccomp_release);

static int add_syscall(scmp_filter_ctx ctx, const SyscallRule *s) {
        switch (s->arg) {
        case ARG_ANY:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, s->nr, 0);
        case ARG_NO_EXEC:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, s->nr, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        case ARG_AF_UNIX:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, s->nr, 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        case ARG_KILL_SELF: {
                int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, s->nr, 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) getpid()),
                                         SCMP_A2(SCMP_CMP_EQ, THREAD_SIGNAL_KICK));
                if (r < 0)
                        return r;
#if SDVM_TEST_HOOKS
                /* test_hook_stop() (src/shared/test-hook.h) stops the process where a test kills it. */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, s->nr, 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) getpid()),
                                     SCMP_A2(SCMP_CMP_EQ, SIGSTOP));
                if (r < 0)
                        return r;
#endif
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, s->nr, 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) getpid()),
                                        SCMP_A2(SCMP_CMP_EQ, SIGABRT));
        }
        }
        return -EINVAL;
}

static int add_ioctl(scmp_filter_ctx ctx, const IoctlRule *i, int own_fd) {
        /* The kernel takes the request as an unsigned int: compare the low 32 bits only, so that a
         * caller that sign-extends it into the 64-bit register is judged by the same number. */
        struct scmp_arg_cmp req = SCMP_A1(SCMP_CMP_MASKED_EQ, UINT32_MAX, (uint32_t) i->request);
        int fd = i->fd == FD_VM ? params.vm_fd : i->fd == FD_OWN ? own_fd : -EBADF;

        if (fd < 0)
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, req);
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) fd), req);
}

int sandbox_apply(ThreadRole role, int own_fd) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        uint32_t action = params.action == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
        unsigned bit;
        int r;

        if (role < 0 || role >= _THREAD_ROLE_MAX)
                return -EINVAL;
        bit = 1U << role;
        ctx = seccomp_init(action);
        if (!ctx)
                return -ENOMEM;
        /* A call through another ABI (int 0x80, x32) is judged like any other forbidden call, not by
         * libseccomp's default of killing the thread alone. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, action);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(syscall_rules); i++)
                if (syscall_rules[i].roles & bit) {
                        r = add_syscall(ctx, &syscall_rules[i]);
                        if (r < 0)
                                return r;
                }
        for (size_t i = 0; i < ELEMENTSOF(ioctl_rules); i++)
                if (ioctl_rules[i].roles & bit) {
                        r = add_ioctl(ctx, &ioctl_rules[i], own_fd);
                        if (r < 0)
                                return r;
                }
        /* no_new_privs (libseccomp's default) is what lets a thread without CAP_SYS_ADMIN load a filter;
         * vmm never executes anything, so it costs nothing. */
        return seccomp_load(ctx);
}
