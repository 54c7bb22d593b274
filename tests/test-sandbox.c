/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Each role's seccomp filter, applied in a forked child: what the role needs goes through (with the
 * kernel's own answer, e.g. ENOTTY for a KVM ioctl on an eventfd), what it must not make kills the
 * child with SIGSYS. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cleanup.h"
#include "core/thread.h"
#include "sandbox.h"

/* fds opened before the filter, as vmm opens them before its threads confine themselves. */
typedef struct Fds {
        int vm;   /* stands in for the KVM VM's fd */
        int own;  /* stands in for a vCPU's fd */
        int file; /* a disk image */
        int pipe[2];
        int epoll;
} Fds;

typedef int (*Body)(const Fds *f);

static void kick(int sig) {
}

/* Runs body in a child confined to role (action: kill or log); returns its wait status. */
static int run_confined(ThreadRole role, SandboxAction action, Body body) {
        int status;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char path[] = "/tmp/test-sandbox-XXXXXX";
                struct rlimit no_core = {};
                Fds f;

                (void) setrlimit(RLIMIT_CORE, &no_core); /* a SIGSYS is expected: no core file for it */
                f.vm = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                f.own = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                f.file = mkostemp(path, O_CLOEXEC);
                f.epoll = epoll_create1(EPOLL_CLOEXEC);
                if (f.vm < 0 || f.own < 0 || f.file < 0 || f.epoll < 0 || pipe2(f.pipe, O_CLOEXEC) < 0)
                        _exit(90);
                (void) unlink(path);
                (void) signal(THREAD_SIGNAL_KICK, kick);
                sandbox_setup(&(SandboxParams) { .action = action, .vm_fd = f.vm });
                if (sandbox_apply(role, role == THREAD_ROLE_VCPU ? f.own : -EBADF) < 0)
                        _exit(91);
                _exit(body(&f));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}

static void assert_passes(ThreadRole role, Body body) {
        int status = run_confined(role, SANDBOX_KILL, body);

        if (!WIFEXITED(status))
                fail_msg("the %s role's child died of signal %d", thread_role_to_string(role), WTERMSIG(status));
        if (WEXITSTATUS(status) != 0)
                fail_msg("the %s role's child failed check %d", thread_role_to_string(role), WEXITSTATUS(status));
}

static void assert_killed(ThreadRole role, Body body) {
        int status = run_confined(role, SANDBOX_KILL, body);

        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
                fail_msg("the %s role's child was not killed by SIGSYS (status 0x%x)", thread_role_to_string(role),
                         (unsigned) status);
}

/* What every thread does: memory, locks, time, eventfds, the journal's sendmsg(), its own thread's
 * signals. */
static int common_calls(const Fds *f) {
        struct timespec ts;
        uint64_t one = 1;
        void *p;

        p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ) < 0 || madvise(p, 1 << 20, MADV_DONTNEED) < 0 ||
            munmap(p, 1 << 20) < 0)
                return 1;
        free(malloc(1 << 22)); /* a large block: mmap and munmap */
        if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) < 0)
                return 2;
        if (write(f->own, &one, sizeof one) != sizeof one || read(f->own, &one, sizeof one) != sizeof one)
                return 3;
        if (syscall(SYS_futex, &one, 1 /* FUTEX_WAKE */, 1, NULL, NULL, 0) < 0)
                return 4;
        /* Not a socket: ENOTSOCK, but the filter let it through. */
        struct msghdr mh = {};
        if (sendmsg(f->pipe[1], &mh, MSG_NOSIGNAL) >= 0 || errno != ENOTSOCK)
                return 5;
        /* abort()'s SIGABRT to itself (blocked here, so it stays pending and harmless). */
        if (syscall(SYS_tgkill, getpid(), gettid(), SIGABRT) < 0)
                return 6;
        return 0;
}

static int common(const Fds *f) {
        sigset_t m;

        sigemptyset(&m);
        sigaddset(&m, SIGABRT);
        if (sigprocmask(SIG_BLOCK, &m, NULL) < 0) /* before the call: rt_sigprocmask is allowed anyway */
                return 7;
        return common_calls(f);
}

static int main_calls(const Fds *f) {
        struct epoll_event ev;
        int fd, r = common(f);

        if (r != 0)
                return r;
        /* The state directory's files, the notify and journal sockets, sd-event's fds. */
        fd = openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || close(fd) < 0)
                return 10;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || close(fd) < 0)
                return 11;
        fd = eventfd(0, EFD_CLOEXEC);
        if (fd < 0 || epoll_ctl(f->epoll, EPOLL_CTL_ADD, fd, &(struct epoll_event) { .events = EPOLLIN }) < 0 ||
            epoll_wait(f->epoll, &ev, 1, 0) != 0 || close(fd) < 0)
                return 12;
        if (pwrite(f->file, "x", 1, 4096) != 1 || fdatasync(f->file) < 0 || ftruncate(f->file, 0) < 0)
                return 13;
        if (ioctl(f->vm, KVM_GET_CLOCK, &(struct kvm_clock_data) {}) >= 0 || errno != ENOTTY)
                return 14;
        if (syscall(SYS_tgkill, getpid(), gettid(), THREAD_SIGNAL_KICK) < 0)
                return 15;
        return 0;
}

static int vcpu_calls(const Fds *f) {
        int r = common(f);

        if (r != 0)
                return r;
        /* KVM_RUN on its own fd, the VM ioctls of the exits it dispatches on the VM's: the filter lets
         * them through, an eventfd refuses them. */
        if (ioctl(f->own, KVM_RUN, 0) >= 0 || errno != ENOTTY)
                return 20;
        if (ioctl(f->vm, KVM_IRQ_LINE, &(struct kvm_irq_level) {}) >= 0 || errno != ENOTTY)
                return 21;
        if (ioctl(f->vm, KVM_IOEVENTFD, &(struct kvm_ioeventfd) {}) >= 0 || errno != ENOTTY)
                return 22;
        if (ioctl(f->file, TUNSETOFFLOAD, 0UL) >= 0 || errno != ENOTTY)
                return 23;
        /* The kick: into the (empty) handler and back through rt_sigreturn. */
        if (syscall(SYS_tgkill, getpid(), gettid(), THREAD_SIGNAL_KICK) < 0)
                return 24;
        if (epoll_ctl(f->epoll, EPOLL_CTL_ADD, f->pipe[0], &(struct epoll_event) { .events = EPOLLIN }) < 0)
                return 25;
        return 0;
}

static int device_calls(const Fds *f) {
        struct epoll_event ev;
        char buf[512] = "data";
        struct iovec iov = { buf, sizeof buf };
        int r = common(f);

        if (r != 0)
                return r;
        /* The disk path, the tap's readv/writev (a pipe here), virtio-rng, the epoll loop. */
        if (pwritev(f->file, &iov, 1, 0) != sizeof buf || preadv(f->file, &iov, 1, 0) != sizeof buf ||
            fdatasync(f->file) < 0)
                return 30;
        if (fallocate(f->file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 512) < 0 && errno != EOPNOTSUPP)
                return 31;
        if (writev(f->pipe[1], &iov, 1) != sizeof buf || readv(f->pipe[0], &iov, 1) != sizeof buf)
                return 32;
        if (getrandom(buf, sizeof buf, 0) != sizeof buf)
                return 33;
        if (epoll_wait(f->epoll, &ev, 1, 0) != 0)
                return 34;
        if (ioctl(f->file, BLKDISCARD, (uint64_t[2]) {}) >= 0 || errno != ENOTTY)
                return 35;
        return 0;
}

static void test_needed_calls_pass(void **state) {
        assert_passes(THREAD_ROLE_MAIN, main_calls);
        assert_passes(THREAD_ROLE_VCPU, vcpu_calls);
        assert_passes(THREAD_ROLE_DEVICE_IO, device_calls);
}

/* What no role may do. */
static int do_execve(const Fds *f) {
        char *argv[] = { (char *) "/bin/true", NULL };
        execve("/bin/true", argv, (char *[]) { NULL });
        return 100;
}

static int do_socket_inet(const Fds *f) {
        return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 100 : 101;
}

static int do_ptrace(const Fds *f) {
        (void) ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        return 100;
}

static int do_mount(const Fds *f) {
        (void) mount("none", "/tmp", "tmpfs", 0, NULL);
        return 100;
}

static int do_fork(const Fds *f) {
        pid_t p = fork();
        if (p == 0)
                _exit(0);
        return 100;
}

static int do_mmap_exec(const Fds *f) {
        (void) mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return 100;
}

static int do_kill_other(const Fds *f) {
        (void) syscall(SYS_tgkill, 1, 1, THREAD_SIGNAL_KICK); /* pid 1: not us */
        return 100;
}

/* What only the main thread may do. */
static int do_open(const Fds *f) {
        (void) openat(AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC);
        return 100;
}

static int do_socket_unix(const Fds *f) {
        (void) socket(AF_UNIX, SOCK_STREAM, 0);
        return 100;
}

static int do_close(const Fds *f) {
        (void) close(f->pipe[0]);
        return 100;
}

/* ioctls outside a role's list, or on an fd they are not allowed on. */
static int do_kvm_run_other_fd(const Fds *f) {
        (void) ioctl(f->vm, KVM_RUN, 0);
        return 100;
}

static int do_kvm_run(const Fds *f) {
        (void) ioctl(f->own, KVM_RUN, 0);
        return 100;
}

static int do_irq_line_own_fd(const Fds *f) {
        (void) ioctl(f->own, KVM_IRQ_LINE, &(struct kvm_irq_level) {});
        return 100;
}

static int do_set_regs(const Fds *f) {
        (void) ioctl(f->own, KVM_SET_REGS, &(struct kvm_regs) {});
        return 100;
}

static int do_tiocsti(const Fds *f) {
        char c = 'x';
        (void) ioctl(f->pipe[0], TIOCSTI, &c);
        return 100;
}

/* The 32-bit ABI's getpid (20), which every role may make natively: killed as another ABI. */
static int do_int80(const Fds *f) {
        long r = 0;
#if defined(__x86_64__)
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
#endif
        return r > 0 ? 100 : 101;
}

static bool have_ia32(void) {
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0)
                _exit(do_int80(NULL));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) && WEXITSTATUS(status) == 100; /* a kernel without IA32 emulation: SIGSEGV */
}

static void test_forbidden_calls_kill(void **state) {
        static const Body everyone[] = { do_execve, do_socket_inet, do_ptrace, do_mount, do_fork, do_mmap_exec,
                                         do_kill_other, do_set_regs, do_tiocsti };

        for (ThreadRole role = 0; role < _THREAD_ROLE_MAX; role++)
                for (size_t i = 0; i < ELEMENTSOF(everyone); i++)
                        assert_killed(role, everyone[i]);

        if (have_ia32())
                for (ThreadRole role = 0; role < _THREAD_ROLE_MAX; role++)
                        assert_killed(role, do_int80);
        else
                print_message("no IA32 emulation in this kernel: the other-ABI check is skipped\n");

        assert_killed(THREAD_ROLE_VCPU, do_open);
        assert_killed(THREAD_ROLE_DEVICE_IO, do_open);
        assert_killed(THREAD_ROLE_VCPU, do_socket_unix);
        assert_killed(THREAD_ROLE_DEVICE_IO, do_socket_unix);
        assert_killed(THREAD_ROLE_VCPU, do_close);
        assert_killed(THREAD_ROLE_DEVICE_IO, do_close);

        assert_killed(THREAD_ROLE_VCPU, do_kvm_run_other_fd); /* only on its own vCPU */
        assert_killed(THREAD_ROLE_VCPU, do_irq_line_own_fd);  /* VM ioctls only on the VM */
        assert_killed(THREAD_ROLE_MAIN, do_kvm_run);          /* the main thread never runs the guest */
        assert_killed(THREAD_ROLE_DEVICE_IO, do_kvm_run);
}

/* --seccomp=log: the same call goes through (and the kernel logs it). */
static void test_log_mode(void **state) {
        int status = run_confined(THREAD_ROLE_VCPU, SANDBOX_LOG, do_socket_inet);

        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) == 100 || WEXITSTATUS(status) == 101);
}

/* A thread started by thread_spawn() confines itself before its code runs, and its forbidden call kills
 * the whole process, not the thread alone. */
static void *forbidden_thread(void *p) {
        (void) socket(AF_INET, SOCK_DGRAM, 0);
        return NULL;
}

static void test_spawned_thread_kills_process(void **state) {
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                struct rlimit no_core = {};
                pthread_t t;

                (void) setrlimit(RLIMIT_CORE, &no_core);
                sandbox_setup(&(SandboxParams) { .action = SANDBOX_KILL, .vm_fd = -EBADF });
                if (thread_spawn(THREAD_ROLE_DEVICE_IO, "io-test", -EBADF, forbidden_thread, NULL, &t) < 0)
                        _exit(91);
                (void) pthread_join(t, NULL);
                _exit(0); /* the main thread is unconfined: reaching this means the thread was not */
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void test_action_strings(void **state) {
        assert_string_equal(sandbox_action_to_string(SANDBOX_KILL), "kill");
        assert_int_equal(sandbox_action_from_string("log"), SANDBOX_LOG);
        assert_int_equal(sandbox_action_from_string("allow"), _SANDBOX_ACTION_INVALID);
        assert_int_equal(sandbox_action_from_string(NULL), _SANDBOX_ACTION_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_needed_calls_pass),
                cmocka_unit_test(test_forbidden_calls_kill),
                cmocka_unit_test(test_log_mode),
                cmocka_unit_test(test_spawned_thread_kills_process),
                cmocka_unit_test(test_action_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
