/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The host side of a network: a tap device for virtio-net. Opening it is the privileged part
 * (CAP_NET_ADMIN), apart from the device model, which takes the tap's fd whoever opened it: vmm here,
 * or a privileged helper or client passing it. */


/* Size of the header in front of each frame on the tap: struct virtio_net_hdr_mrg_rxbuf, as virtio 1.x
 * devices use it (num_buffers included). */
#define TAP_VNET_HDR_SIZE 12

/* Opens the tap called name through /dev/net/tun: attaches to an existing tap of that name or creates
 * one (gone again when the fd is closed, unless it was made persistent), with
 * IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and a TAP_VNET_HDR_SIZE header, non-blocking. Brings the link up and
 * attaches it to bridge unless that is NULL (a tap already in that bridge is fine). Needs
 * CAP_NET_ADMIN. Logs a message that starts with label ("LABEL: the tap is in use by another process")
 * and returns -errno on failure; on success *ret_fd is the tap's fd, O_CLOEXEC. */
int tap_open_name(const char *name, const char *bridge, const char *label, int *ret_fd);


/* TUNSETOFFLOAD: the TUN_F_* offloads (checksum, TSO, UFO) the guest's driver negotiated, which the tap
 * may then hand it in frames. Returns 0 or -errno; does not log. */
int tap_set_offload(int fd, unsigned flags);
