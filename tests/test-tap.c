/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tap_open_name() for real, in a network namespace of its own (with its own sysfs, in a mount namespace of its
 * own), so that nothing is left on the host. Needs CAP_NET_ADMIN and CAP_SYS_ADMIN: skipped (77)
 * without. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include "backend/tap.h"
#include "capture.h"

static int open_tap(const char *tap, const char *bridge, int *ret_fd, char **ret_log) {
        char label[128];
        Capture c;
        int r;

        (void) snprintf(label, sizeof label, "[Network] #2 (tap %s, line 9)", tap);
        *ret_fd = -EBADF;
        capture_begin(&c);
        r = tap_open_name(tap, bridge, label, ret_fd);
        *ret_log = capture_end(&c);
        return r;
}

static void check_error(const char *tap, const char *bridge, int error, const char *message) {
        char expected[1024], *log;
        int fd;

        snprintf(expected, sizeof expected, "[Network] #2 (tap %s, line 9): %s\n", tap, message);
        assert_int_equal(open_tap(tap, bridge, &fd, &log), error);
        assert_string_equal(log, expected);
        assert_int_equal(fd, -EBADF);
        free(log);
}

static int ifflags(const char *name) {
        struct ifreq ifr = {};
        int s, r;

        s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(s >= 0);
        strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
        r = ioctl(s, SIOCGIFFLAGS, &ifr);
        close(s);
        return r < 0 ? -errno : ifr.ifr_flags;
}

static void make_bridge(const char *name) {
        int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_true(s >= 0);
        assert_int_equal(ioctl(s, SIOCBRADDBR, name), 0);
        close(s);
}

static char *master_of(const char *name) {
        char path[128], target[256];
        ssize_t k;

        snprintf(path, sizeof path, "/sys/class/net/%s/master", name);
        k = readlink(path, target, sizeof target - 1);
        if (k < 0)
                return NULL;
        target[k] = 0;
        return strdup(strrchr(target, '/') + 1);
}

static void test_create(void **state) {
        unsigned flags = 0;
        int fd, fd2, hdr = 0, r;
        char *log;

        r = open_tap("sdvm-t0", NULL, &fd, &log);
        assert_string_equal(log, "");
        assert_int_equal(r, 0);
        free(log);
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(ioctl(fd, TUNGETFEATURES, &flags), 0);
        {
                struct ifreq ifr = {};

                assert_int_equal(ioctl(fd, TUNGETIFF, &ifr), 0);
                assert_string_equal(ifr.ifr_name, "sdvm-t0");
                assert_int_equal(ifr.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI | IFF_VNET_HDR),
                                 IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
        }
        assert_int_equal(ioctl(fd, TUNGETVNETHDRSZ, &hdr), 0);
        assert_int_equal(hdr, TAP_VNET_HDR_SIZE);
        assert_true(ifflags("sdvm-t0") & IFF_UP);

        assert_int_equal(tap_set_offload(fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), 0);
        assert_int_equal(tap_set_offload(fd, 0), 0);
        assert_int_equal(tap_set_offload(fd, 0x40000000), -EINVAL);

        /* In use: a second open fails clearly. */
        check_error("sdvm-t0", NULL, -EBUSY, "the tap is in use by another process");

        /* Gone with its fd (it was not persistent); then it can be made again. */
        close(fd);
        assert_int_equal(ifflags("sdvm-t0"), -ENODEV);
        assert_int_equal(open_tap("sdvm-t0", NULL, &fd2, &log), 0);
        free(log);
        close(fd2);

        /* A name taken by an interface that is not a tap. */
        check_error(
                "lo", NULL, -EINVAL,
                "an interface of that name exists and is not a tap that vmm can use (a tun device, or one "
                "with other flags)");
}

static void test_bridge(void **state) {
        char *log, *m;
        int fd, r;

        make_bridge("sdvm-br0");
        r = open_tap("sdvm-t1", "sdvm-br0", &fd, &log);
        assert_string_equal(log, "");
        assert_int_equal(r, 0);
        free(log);
        m = master_of("sdvm-t1");
        assert_non_null(m);
        assert_string_equal(m, "sdvm-br0");
        free(m);
        assert_true(ifflags("sdvm-t1") & IFF_UP);

        /* A persistent tap that is a port of the bridge already (vmm restarted): fine. */
        assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
        close(fd);
        r = open_tap("sdvm-t1", "sdvm-br0", &fd, &log);
        assert_string_equal(log, "");
        assert_int_equal(r, 0);
        free(log);
        /* ... but not when it is a port of another bridge. */
        close(fd);
        make_bridge("sdvm-br1");
        check_error("sdvm-t1", "sdvm-br1", -EBUSY,
                    "the tap is already a port of another bridge than Bridge=sdvm-br1");

        check_error("sdvm-t2", "sdvm-nobr", -ENODEV, "Bridge=sdvm-nobr does not exist");
        check_error("sdvm-t2", "lo", -EOPNOTSUPP, "Bridge=lo is not a bridge");
}

/* The opener on plain parameters, as for a network added at run time: the label is the caller's. */
static void test_open_name(void **state) {
        char *log, *m;
        Capture c;
        int fd = -EBADF, fd2 = -EBADF;

        make_bridge("sdvm-br3");
        capture_begin(&c);
        assert_int_equal(tap_open_name("sdvm-t4", "sdvm-br3", "net1", &fd), 0);
        assert_int_equal(tap_open_name("sdvm-t4", NULL, "net1", &fd2), -EBUSY);
        assert_int_equal(tap_open_name("sdvm-too-long-a-name", NULL, "net2", &fd2), -EINVAL);
        log = capture_end(&c);
        assert_string_equal(log, "net1: the tap is in use by another process\n"
                                 "net2: interface name too long\n");
        free(log);
        assert_true(fd >= 0);
        assert_int_equal(fd2, -EBADF);
        m = master_of("sdvm-t4");
        assert_non_null(m);
        assert_string_equal(m, "sdvm-br3");
        free(m);
        assert_true(ifflags("sdvm-t4") & IFF_UP);
        close(fd);
}

/* Clears CAP_NET_ADMIN from the effective set (on = false) or raises it again (on = true). */
static void cap_net_admin(bool on) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2] = {};

        assert_int_equal(syscall(SYS_capget, &h, d), 0);
        if (on)
                d[0].effective |= 1u << CAP_NET_ADMIN;
        else
                d[0].effective &= ~(1u << CAP_NET_ADMIN);
        assert_int_equal(syscall(SYS_capset, &h, d), 0);
}

static void test_no_capability(void **state) {
        make_bridge("sdvm-br2");
        cap_net_admin(false);
        check_error(
                "sdvm-t3", NULL, -EPERM,
                "not permitted to create or attach the tap: vmm needs CAP_NET_ADMIN for taps; vm@.service "
                "grants it only to VMs with [Network] (after adding one, run systemctl daemon-reload)");
        cap_net_admin(true);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_create),
                cmocka_unit_test(test_bridge),
                cmocka_unit_test(test_open_name),
                cmocka_unit_test(test_no_capability),
        };
        int fd;

        unsetenv("JOURNAL_STREAM");
        if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
                printf("no network namespace of our own (%s): skipping\n", strerror(errno));
                return 77;
        }
        /* Private first, so that the new sysfs is seen nowhere else. */
        if (mount(NULL, "/sys", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                printf("cannot mount a sysfs of our own (%s): skipping\n", strerror(errno));
                return 77;
        }
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                printf("no /dev/net/tun (%s): skipping\n", strerror(errno));
                return 77;
        }
        close(fd);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
