/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "backend/tap.h"

#define CAP_HINT                                                                                            \
        "vmm needs CAP_NET_ADMIN for taps; vm@.service grants it only to VMs with [Network] (after adding " \
        "one, run systemctl daemon-reload)"

static void ifr_set_name(struct ifreq *ifr, const char *name) {
        *ifr = (struct ifreq){};
        assert(strlen(name) < IFNAMSIZ);
        memcpy(ifr->ifr_name, name, strlen(name));
}

/* Whether the interface is a port of bridge already: /sys/class/net/NAME/master links to the bridge. */
static bool in_bridge(const char *name, const char *bridge) {
        char path[64 + IFNAMSIZ], target[256];
        const char *base;
        ssize_t k;

        (void) snprintf(path, sizeof path, "/sys/class/net/%s/master", name);
        k = readlink(path, target, sizeof target - 1);
        if (k < 0)
                return false;
        target[k] = 0;
        base = strrchr(target, '/');
        return strcmp(base ? base + 1 : target, bridge) == 0;
}

static int attach_to_bridge(int sock, const char *name, const char *bridge, const char *label) {
        struct ifreq ifr;
        int ifindex;

        ifr_set_name(&ifr, name);
        if (ioctl(sock, SIOCGIFINDEX, &ifr) < 0)
                return log_error_errno(errno, "%s: failed to get the tap's interface index: %m", label);
        ifindex = ifr.ifr_ifindex;

        ifr_set_name(&ifr, bridge);
        ifr.ifr_ifindex = ifindex;
        if (ioctl(sock, SIOCBRADDIF, &ifr) >= 0)
                return 0;
        switch (errno) {
        case ENODEV:
                return log_error_errno(errno, "%s: Bridge=%s does not exist", label, bridge);
        case EOPNOTSUPP:
        case EINVAL:
                return log_error_errno(errno, "%s: Bridge=%s is not a bridge", label, bridge);
        case EPERM:
                return log_error_errno(errno, "%s: not permitted to attach the tap to Bridge=%s: " CAP_HINT,
                                       label, bridge);
        case EBUSY:
                /* A persistent tap that is a port already: of this bridge is fine (a restart), of another
                 * is not. */
                if (in_bridge(name, bridge))
                        return 0;
                return log_error_errno(errno,
                                       "%s: the tap is already a port of another bridge than Bridge=%s",
                                       label, bridge);
        default:
                return log_error_errno(errno, "%s: failed to attach the tap to Bridge=%s: %m", label,
                                       bridge);
        }
}

int tap_open_name(const char *name, const char *bridge, const char *label, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF, sock = -EBADF;
        int hdr_size = TAP_VNET_HDR_SIZE, r;
        struct ifreq ifr;

        assert(name && label && ret_fd);

        if (strlen(name) >= IFNAMSIZ || (bridge && strlen(bridge) >= IFNAMSIZ))
                return log_error_errno(EINVAL, "%s: interface name too long", label);

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
                return log_error_errno(
                        errno, "%s: /dev/net/tun does not exist (is the tun driver available?)", label);
        if (fd < 0 && (errno == EPERM || errno == EACCES))
                return log_error_errno(errno,
                                       "%s: no access to /dev/net/tun: %m; vm@.service allows it only to "
                                       "VMs with [Network] (after adding one, run systemctl daemon-reload)",
                                       label);
        if (fd < 0)
                return log_error_errno(errno, "%s: failed to open /dev/net/tun: %m", label);

        ifr_set_name(&ifr, name);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                switch (errno) {
                case EPERM:
                        return log_error_errno(
                                errno, "%s: not permitted to create or attach the tap: " CAP_HINT, label);
                case EBUSY:
                        return log_error_errno(errno, "%s: the tap is in use by another process", label);
                case EINVAL:
                        return log_error_errno(errno,
                                               "%s: an interface of that name exists and is not a tap "
                                               "that vmm can use (a tun device, or one with other flags)",
                                               label);
                default:
                        return log_error_errno(errno, "%s: failed to create or attach the tap: %m", label);
                }
        }
        if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_size) < 0)
                return log_error_errno(errno, "%s: failed to set the virtio-net header size: %m", label);

        /* Interface ioctls work on any socket; AF_UNIX is the one the sandbox allows. */
        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
                return log_error_errno(errno, "%s: failed to create a socket: %m", label);

        if (bridge) {
                r = attach_to_bridge(sock, name, bridge, label);
                if (r < 0)
                        return r;
        }

        ifr_set_name(&ifr, name);
        if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
                return log_error_errno(errno, "%s: failed to get the link's flags: %m", label);
        if (!(ifr.ifr_flags & IFF_UP)) {
                ifr.ifr_flags |= IFF_UP;
                if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
                        return log_error_errno(errno, "%s: failed to bring the link up: %m%s", label,
                                               errno == EPERM ? "; " CAP_HINT : "");
        }

        *ret_fd = TAKE_FD(fd);
        return 0;
}

int tap_set_offload(int fd, unsigned flags) {
        return ioctl(fd, TUNSETOFFLOAD, (unsigned long) flags) < 0 ? -errno : 0;
}
