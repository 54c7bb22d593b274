/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "log.h"
#include "backend/tap.h"
#include "device/virtio/net.h"
#include "ratelimit.h"

/* Feature bits (virtio spec 5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13

#define NET_RXQ 0
#define NET_TXQ 1
#define NET_CONFIG_SIZE 8 /* mac[6], status (unused without VIRTIO_NET_F_STATUS) */
#define NET_NUM_BUFFERS_OFFSET 10

#define BIT(b) (UINT64_C(1) << (b))

typedef struct Net {
        int tap_fd;
        uint8_t config[NET_CONFIG_SIZE];
        VirtioWatch *tap_watch;
        bool rx_waiting;  /* the tap has frames, the guest has no buffers: its kick resumes */
        bool rx_pending;  /* rx_chain was popped and waits for a frame */
        VqChain rx_chain;
        VqChain tx_chain;
        unsigned offload; /* TUN_F_* for the driver's features, set on the tap at activate */
        bool tap_gone;    /* reading it failed for good (the interface was deleted): no more watching */
        uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, tx_dropped;
} Net;

/* What the tap watch waits for: input, or nothing. A tap that is gone is not watched at all
 * (virtio_watch_stop()): its EPOLLERR cannot be masked. */
static void watch_tap(Net *n, bool want_input) {
        (void) virtio_watch_set_events(n->tap_watch, want_input ? EPOLLIN : 0);
}

static void net_receive(VirtioDevice *d, void *u) {
        Net *n = d->priv;
        Virtqueue *vq = &d->vqs[NET_RXQ];

        if (!virtio_queue_ready(d, NET_RXQ)) {
                /* The driver started without a receive queue: the tap watch is level-triggered and
                 * would wake the thread for nothing, again and again. Until the driver restarts the
                 * device (activate re-arms it), frames wait in the tap, as when out of buffers. */
                n->rx_waiting = true;
                watch_tap(n, false);
                return;
        }
        for (;;) {
                if (!n->rx_pending) {
                        int r = vq_pop(vq, &n->rx_chain);
                        if (r < 0) {
                                virtio_device_fail(d, vq->broken_reason ?: "malformed receive queue");
                                return;
                        }
                        if (r == 0) {
                                /* Out of buffers: stop watching the tap (it would wake us for nothing)
                                 * until the driver kicks the receive queue. */
                                n->rx_waiting = true;
                                watch_tap(n, false);
                                return;
                        }
                        if (n->rx_chain.n_out > 0 || n->rx_chain.in_len < TAP_VNET_HDR_SIZE) {
                                virtio_device_fail(d, "receive buffer without room for the header");
                                return;
                        }
                        n->rx_pending = true;
                }
                ssize_t len = readv(n->tap_fd, n->rx_chain.iov + n->rx_chain.n_out, (int) n->rx_chain.n_in);
                if (len < 0) {
                        static RateLimit rl = RATELIMIT_GUEST;
                        char more[RATELIMIT_SUFFIX_MAX];
                        unsigned dropped;
                        int e = errno;
                        if (e == EAGAIN || e == EINTR)
                                return;
                        if (ratelimit_below(&rl, &dropped))
                                log_warning_errno(e, "Device %s: reading the tap failed: %m%s", d->id,
                                                  ratelimit_suffix(more, dropped));
                        /* A tap whose interface was deleted (EBADFD) or that broke otherwise: the NIC
                         * stays, sends nothing in and drops what the guest sends; hot-remove it and add
                         * a new one. */
                        if (e == EBADFD || e == EIO || e == ENODEV || e == ENXIO) {
                                n->tap_gone = true;
                                virtio_watch_stop(n->tap_watch);
                        }
                        return;
                }
                if ((size_t) len < TAP_VNET_HDR_SIZE)
                        continue; /* nothing usable: the buffer stays pending for the next frame */
                static const uint8_t one[2] = { 1, 0 };
                (void) vq_chain_write(&n->rx_chain, NET_NUM_BUFFERS_OFFSET, one, sizeof one);
                n->rx_pending = false;
                n->rx_frames++;
                n->rx_bytes += (uint64_t) len - TAP_VNET_HDR_SIZE;
                virtio_complete(d, NET_RXQ, n->rx_chain.head, (uint32_t) len);
        }
}

static void net_transmit(VirtioDevice *d) {
        Net *n = d->priv;
        int r;

        while ((r = vq_pop(&d->vqs[NET_TXQ], &n->tx_chain)) > 0) {
                VqChain *c = &n->tx_chain;
                if (c->out_len < TAP_VNET_HDR_SIZE || c->out_len > TAP_VNET_HDR_SIZE + 65536 + 14) {
                        virtio_device_fail(d, "transmit buffer of impossible length");
                        return;
                }
                ssize_t len = writev(n->tap_fd, c->iov, (int) c->n_out);
                if (len < 0) {
                        /* The frame is lost, as on a wire; the guest's TCP resends. */
                        if (n->tx_dropped++ == 0)
                                log_warning_errno(errno, "Device %s: writing to the tap failed, dropping: %m", d->id);
                } else {
                        n->tx_frames++;
                        n->tx_bytes += c->out_len - TAP_VNET_HDR_SIZE;
                }
                virtio_complete(d, NET_TXQ, c->head, 0);
        }
}

static void net_kick(VirtioDevice *d, uint16_t q) {
        Net *n = d->priv;

        if (q == NET_TXQ) {
                net_transmit(d);
                return;
        }
        if (n->rx_waiting) {
                n->rx_waiting = false;
                watch_tap(n, true);
        }
        net_receive(d, NULL);
}

static int net_set_offload(VirtioDevice *d, unsigned offload) {
        Net *n = d->priv;
        int r = tap_set_offload(n->tap_fd, offload);

        /* ENOTTY: not a tap but a datagram socket (tests), which has no offloads to switch on; frames
         * then pass with whatever header the other end wrote. */
        if (r < 0 && r != -ENOTTY)
                return log_warning_errno(r, "Device %s: TUNSETOFFLOAD failed: %m", d->id);
        n->offload = offload;
        return 0;
}

static int net_activate(VirtioDevice *d) {
        Net *n = d->priv;
        unsigned offload = 0;
        int r;

        /* What the guest can take from the tap. */
        if (d->features & BIT(VIRTIO_NET_F_GUEST_CSUM)) {
                offload |= TUN_F_CSUM;
                if (d->features & BIT(VIRTIO_NET_F_GUEST_TSO4))
                        offload |= TUN_F_TSO4;
                if (d->features & BIT(VIRTIO_NET_F_GUEST_TSO6))
                        offload |= TUN_F_TSO6;
                if ((offload & (TUN_F_TSO4 | TUN_F_TSO6)) && (d->features & BIT(VIRTIO_NET_F_GUEST_ECN)))
                        offload |= TUN_F_TSO_ECN;
        }
        r = net_set_offload(d, offload);
        if (r < 0)
                return r;
        n->rx_waiting = false;
        watch_tap(n, true);
        return 0;
}

static void net_reset(VirtioDevice *d) {
        Net *n = d->priv;
        n->rx_pending = false;
        n->rx_waiting = false;
        watch_tap(n, false);
}

static void net_config_read(VirtioDevice *d, uint32_t offset, uint8_t *data, uint32_t len) {
        Net *n = d->priv;
        memcpy(data, n->config + offset, len);
}

static size_t net_counters(VirtioDevice *d, VirtioCounter *out, size_t max) {
        Net *n = d->priv;
        VirtioCounter c[] = {
                { "rxFrames", n->rx_frames }, { "rxBytes", n->rx_bytes },     { "txFrames", n->tx_frames },
                { "txBytes", n->tx_bytes },   { "txDropped", n->tx_dropped }, { "tapGone", n->tap_gone },
        };
        size_t k = ELEMENTSOF(c) < max ? ELEMENTSOF(c) : max;
        memcpy(out, c, k * sizeof c[0]);
        return k;
}

static uint16_t net_in_flight(VirtioDevice *d, uint16_t q) {
        Net *n = d->priv;
        return q == NET_RXQ && n->rx_pending;
}

static void net_state_save(VirtioDevice *d, void *buf) {
        Net *n = d->priv;
        VirtioNetState st = {
                .version = VIRTIO_NET_STATE_VERSION,
                .offload = n->offload,
                .rx_frames = n->rx_frames,
                .rx_bytes = n->rx_bytes,
                .tx_frames = n->tx_frames,
                .tx_bytes = n->tx_bytes,
                .tx_dropped = n->tx_dropped,
        };

        memcpy(st.mac, n->config, sizeof st.mac);
        memcpy(buf, &st, sizeof st);
}

static int net_state_check(VirtioDevice *d, const void *buf) {
        Net *n = d->priv;
        VirtioNetState st;

        memcpy(&st, buf, sizeof st);
        if (st.version != VIRTIO_NET_STATE_VERSION || st.reserved[0] || st.reserved[1])
                return -EINVAL;
        if (memcmp(st.mac, n->config, sizeof st.mac) != 0)
                return -EINVAL;
        /* What net_activate() can have set: TSO only with checksums, ECN only with TSO. */
        if ((st.offload & ~(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)) ||
            ((st.offload & (TUN_F_TSO4 | TUN_F_TSO6)) && !(st.offload & TUN_F_CSUM)) ||
            ((st.offload & TUN_F_TSO_ECN) && !(st.offload & (TUN_F_TSO4 | TUN_F_TSO6))))
                return -EINVAL;
        return 0;
}

static void net_state_restore(VirtioDevice *d, const void *buf) {
        Net *n = d->priv;
        VirtioNetState st;

        memcpy(&st, buf, sizeof st);
        n->rx_frames = st.rx_frames;
        n->rx_bytes = st.rx_bytes;
        n->tx_frames = st.tx_frames;
        n->tx_bytes = st.tx_bytes;
        n->tx_dropped = st.tx_dropped;
        /* A buffer this device took before belongs to the state being replaced; the record's own is
         * still available in the ring (virtio_device_save() left it there). */
        n->rx_pending = false;
        n->rx_waiting = false;
        n->offload = st.offload;
        if (!virtio_device_live(d)) {
                watch_tap(n, false);
                return;
        }
        /* As when activate fails: the driver is told to reset, and its restart sets the offloads. */
        if (net_set_offload(d, st.offload) < 0) {
                d->status |= VIRTIO_STATUS_NEEDS_RESET;
                return;
        }
        watch_tap(n, true);
}

static void net_free(void *priv) {
        Net *n = priv;
        if (!n)
                return;
        safe_close(n->tap_fd);
        free(n);
}

static const VirtioDeviceOps net_ops = {
        .type = "virtio-net",
        .device_id = VIRTIO_ID_NET,
        .config_read = net_config_read,
        .activate = net_activate,
        .queue_kick = net_kick,
        .reset = net_reset,
        .counters = net_counters,
        .free = net_free,
        .state_size = sizeof(VirtioNetState),
        .state_save = net_state_save,
        .state_check = net_state_check,
        .state_restore = net_state_restore,
        .in_flight = net_in_flight,
};
_Static_assert(sizeof(VirtioNetState) <= VIRTIO_MODEL_STATE_MAX, "VirtioNetState fits the model record");

int virtio_net_new(const GuestMemory *mem, const char *id, int tap_fd, const uint8_t mac[static 6],
                   VirtioDevice **ret) {
        uint64_t features = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
                            BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
                            BIT(VIRTIO_NET_F_GUEST_ECN) | BIT(VIRTIO_NET_F_HOST_TSO4) |
                            BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN);
        VirtioDevice *d;
        Net *n;
        int r;

        n = calloc(1, sizeof *n);
        if (!n) {
                safe_close(tap_fd);
                return -ENOMEM;
        }
        n->tap_fd = tap_fd;
        memcpy(n->config, mac, 6);
        r = virtio_device_new(&(VirtioDeviceParams) { .ops = &net_ops, .priv = n, .id = id, .features = features,
                                                      .config_size = NET_CONFIG_SIZE, .n_queues = 2, .mem = mem },
                              &d);
        if (r < 0)
                return r; /* n and the tap went with it */
        r = virtio_device_watch_fd(d, tap_fd, 0, net_receive, NULL, &n->tap_watch);
        if (r < 0) {
                virtio_device_free(d);
                return r;
        }
        *ret = d;
        return 0;
}
