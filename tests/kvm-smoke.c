/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Proves that KVM works where the tests run: a real-mode guest copies a string from its memory to
 * I/O port 0xe9, byte by byte, then halts; we compare what arrived with --expect. Exit 77 (meson's
 * "skip") when there is no /dev/kvm, so that this test only counts where KVM exists. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "log.h"

#define MEM_SIZE 0x10000
#define CODE_GPA 0x1000
#define MSG_GPA 0x1100
#define PORT 0xe9

static const char message[] = "sdvm: hello from a KVM guest";

static const unsigned char code[] = {
        0xba, PORT, 0x00, /* mov dx, PORT */
        0xbe, MSG_GPA & 0xff, MSG_GPA >> 8, /* mov si, MSG_GPA */
        0xac,             /* 1: lodsb */
        0x84, 0xc0,       /* test al, al */
        0x74, 0x03,       /* jz 2f */
        0xee,             /* out dx, al */
        0xeb, 0xf8,       /* jmp 1b */
        0xf4,             /* 2: hlt */
};

static void munmap_mem(void **p) {
        if (*p && *p != MAP_FAILED)
                (void) munmap(*p, MEM_SIZE);
}

static int run(const char *expect) {
        _cleanup_close_ int kvm = -EBADF, vm = -EBADF, vcpu = -EBADF;
        _cleanup_(munmap_mem) void *mem = NULL;
        struct kvm_run *kr;
        struct kvm_sregs sregs;
        struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 0x2 };
        char out[256] = {};
        size_t n = 0;
        int mmap_size;

        kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (kvm < 0) {
                if (errno == ENOENT) {
                        log_info("no /dev/kvm here: skipping");
                        return 77;
                }
                return log_error_errno(errno, "Failed to open /dev/kvm: %m");
        }
        if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
                return log_error_invalid("Unexpected KVM API version");
        vm = ioctl(kvm, KVM_CREATE_VM, 0);
        if (vm < 0)
                return log_error_errno(errno, "KVM_CREATE_VM: %m");

        mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
                return log_error_errno(errno, "mmap: %m");
        memcpy((char *) mem + CODE_GPA, code, sizeof code);
        memcpy((char *) mem + MSG_GPA, message, sizeof message);
        struct kvm_userspace_memory_region region = {
                .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uintptr_t) mem,
        };
        if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
                return log_error_errno(errno, "KVM_SET_USER_MEMORY_REGION: %m");

        vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
        if (vcpu < 0)
                return log_error_errno(errno, "KVM_CREATE_VCPU: %m");
        mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (mmap_size < (int) sizeof *kr)
                return log_error_errno(errno, "KVM_GET_VCPU_MMAP_SIZE: %m");
        kr = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
        if (kr == MAP_FAILED)
                return log_error_errno(errno, "mmap(kvm_run): %m");

        if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
                return log_error_errno(errno, "KVM_GET_SREGS: %m");
        sregs.cs.base = sregs.cs.selector = 0;
        sregs.ds.base = sregs.ds.selector = 0;
        if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
                return log_error_errno(errno, "Failed to set vCPU registers: %m");

        for (int exits = 0;; exits++) {
                if (exits > 1000) {
                        munmap(kr, mmap_size);
                        return log_error_invalid("Guest did not halt after %d exits", exits);
                }
                if (ioctl(vcpu, KVM_RUN, 0) < 0) {
                        if (errno == EINTR)
                                continue;
                        munmap(kr, mmap_size);
                        return log_error_errno(errno, "KVM_RUN: %m");
                }
                if (kr->exit_reason == KVM_EXIT_HLT)
                        break;
                if (kr->exit_reason == KVM_EXIT_IO && kr->io.direction == KVM_EXIT_IO_OUT &&
                    kr->io.port == PORT && kr->io.size == 1 && n + kr->io.count < sizeof out) {
                        memcpy(out + n, (char *) kr + kr->io.data_offset, kr->io.count);
                        n += kr->io.count;
                        continue;
                }
                munmap(kr, mmap_size);
                return log_error_invalid("Unexpected exit reason %u", kr->exit_reason);
        }
        munmap(kr, mmap_size);

        printf("kvm-smoke: guest wrote \"%s\" to port 0x%x, then halted\n", out, PORT);
        if (strcmp(out, expect) != 0)
                return log_error_invalid("kvm-smoke: expected \"%s\": MISMATCH", expect);
        printf("kvm-smoke: matches the expected string\n");
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "expect", required_argument, NULL, 'e' },
                {},
        };
        const char *expect = message;
        int c, r;

        while ((c = getopt_long(argc, argv, "he:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s [--expect=STRING]\n\n"
                               "Runs a tiny real-mode KVM guest that writes \"%s\" to port 0x%x\n"
                               "and checks it against STRING. Exits 77 if there is no /dev/kvm.\n",
                               program_invocation_short_name, message, PORT);
                        return 0;
                case 'e':
                        expect = optarg;
                        break;
                default:
                        return 2;
                }
        r = run(expect);
        return r == 77 ? 77 : r < 0 ? 1 : 0;
}
