/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A virtio device as the device model sees it, independent of the transport (virtio-pci.c).
 *
 * Threads: each device has one I/O thread, started by virtio_device_start_thread() once the transport
 * has bound the kick fds (the board does it as it adds the device; tests and fuzzers may instead call
 * virtio_device_dispatch() themselves). It waits on the queues' kick eventfds (KVM ioeventfds on the
 * notify registers, so a kick costs no vmm exit) and on any fd the model adds, and runs the model's
 * callbacks. Callbacks of one device never run concurrently: the I/O thread and the transport (on vCPU
 * threads: status, feature and queue writes, config space) both hold d->lock while they touch the
 * device.
 *
 * Pause: virtio_device_pause() returns once the I/O thread has finished the callback in hand and waits
 * on d->cond, holding nothing, so that neither guest RAM nor device state changes under a paused VM
 * (network receive above all). Kicks are eventfd counts and model fds are level-triggered, so what
 * arrives meanwhile waits in the kernel and runs after virtio_device_resume(). */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "core/memory.h"
#include "device/virtio/virtqueue.h"

#define VIRTIO_QUEUES_MAX 8

/* Device status bits (virtio spec 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Transport-level feature bits (virtio spec 6). */
#define VIRTIO_F_VERSION_1 32

/* Device IDs (virtio spec 5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4

typedef struct VirtioDevice VirtioDevice;
typedef struct VirtioWatch VirtioWatch;

typedef struct VirtioCounter {
        const char *name; /* static */
        uint64_t value;
} VirtioCounter;
#define VIRTIO_COUNTERS_MAX 16

typedef struct VirtioDeviceOps {
        const char *type;   /* "virtio-blk", ...: Describe and Inspect */
        uint16_t device_id; /* VIRTIO_ID_* */
        /* Device config space: offset + len <= d->config_size, len 1, 2, 4 or 8, little-endian.
         * config_write may be NULL (read-only config). */
        void (*config_read)(VirtioDevice *d, uint32_t offset, uint8_t *data, uint32_t len);
        void (*config_write)(VirtioDevice *d, uint32_t offset, const uint8_t *data, uint32_t len);
        /* The driver set DRIVER_OK: queues are started, d->features holds what was negotiated.
         * A negative return marks the device NEEDS_RESET. May be NULL. */
        int (*activate)(VirtioDevice *d);
        /* Queue q has new buffers, or a model fd fired and the model wants to retry: take chains with
         * vq_pop() until it returns 0 or the model runs out of room, and complete them with
         * virtio_complete(). */
        void (*queue_kick)(VirtioDevice *d, uint16_t q);
        /* The driver reset the device: drop anything in flight. Queues are already reset. May be NULL. */
        void (*reset)(VirtioDevice *d);
        /* The model's counters for Inspect, at most max of them, d->lock held; returns how many. May be
         * NULL. */
        size_t (*counters)(VirtioDevice *d, VirtioCounter *out, size_t max);
        void (*free)(VirtioDevice *d); /* frees d->priv and closes the model's fds */
} VirtioDeviceOps;

/* How the device interrupts the guest for queue q (the transport's MSI-X vector for it). Called with
 * d->lock held, from the I/O thread. */
typedef void (*VirtioNotifyFn)(void *opaque, uint16_t q);

struct VirtioDevice {
        const VirtioDeviceOps *ops;
        void *priv; /* the model's state */
        char *id;   /* "disk0", "net0", "rng0": logs and Inspect */
        pthread_mutex_t lock;

        uint64_t host_features; /* offered: the model's bits; virtio_device_new() adds the core's */
        uint64_t features;      /* negotiated; valid once FEATURES_OK */
        uint8_t status;
        uint32_t config_size;
        uint16_t n_queues;
        Virtqueue vqs[VIRTIO_QUEUES_MAX];
        bool queue_enabled[VIRTIO_QUEUES_MAX]; /* by the driver; started at DRIVER_OK */
        int kick_fd[VIRTIO_QUEUES_MAX]; /* eventfds; the transport binds them as ioeventfds */

        VirtioNotifyFn notify;
        void *notify_opaque;

        /* I/O thread */
        pthread_t thread;
        bool thread_started;
        int epoll_fd;
        int ctl_fd; /* eventfd: wakes the thread to look at stopping and paused */
        VirtioWatch *watches;
        /* Under lock. */
        pthread_cond_t cond;  /* paused, parked, stopping and thread_running changed */
        bool paused;          /* virtio_device_pause() was called, virtio_device_resume() not yet */
        bool parked;          /* the I/O thread waits on cond: it runs nothing */
        bool stopping;        /* virtio_device_free() wants the thread to end */
        bool thread_running;  /* the I/O thread exists and has not ended */
};

typedef struct VirtioDeviceParams {
        const VirtioDeviceOps *ops;
        void *priv;
        const char *id;
        uint64_t features; /* the model's feature bits */
        uint32_t config_size;
        uint16_t n_queues;
        const GuestMemory *mem;
} VirtioDeviceParams;

/* Creates the device and its kick eventfds; on failure the caller still owns p->priv. */
int virtio_device_new(const VirtioDeviceParams *p, VirtioDevice **ret);
/* Stops the I/O thread, calls ops->free. */
VirtioDevice *virtio_device_free(VirtioDevice *d);
DEFINE_FREEP(VirtioDevice, virtio_device_free);

/* Starts the I/O thread; after the transport has bound the kick fds. */
int virtio_device_start_thread(VirtioDevice *d);

/* Stops processing: returns once the I/O thread (if it runs) is parked, with the request in hand
 * finished. Until virtio_device_resume() no kick, model fd or completion is processed and no interrupt
 * is sent. Pausing a paused device does nothing; so does resuming a running one. Not from the I/O
 * thread itself, nor with d->lock held. virtio_device_free() may free a paused device. */
int virtio_device_pause(VirtioDevice *d);
void virtio_device_resume(VirtioDevice *d);

/* One round of the I/O thread's loop: waits up to timeout_ms (-1: forever) for kicks and model fds, and
 * runs what is ready. Returns how many ran, 0 on timeout or while the device is paused (at once,
 * without waiting), -ESHUTDOWN once virtio_device_free() stops the thread, or -errno. Tests and fuzzers
 * call it with 0 instead of starting the thread, so that what the device does between two guest
 * accesses is deterministic. */
int virtio_device_dispatch(VirtioDevice *d, int timeout_ms);

/* A model fd for the I/O thread: fn runs (with d->lock held, only while the driver is live) when fd is
 * ready for events (EPOLLIN, ...; level-triggered). The watch lives as long as the device. */
int virtio_device_watch_fd(VirtioDevice *d, int fd, uint32_t events, void (*fn)(VirtioDevice *d, void *u),
                           void *u, VirtioWatch **ret);
/* Changes what the watch waits for (0: nothing, e.g. while the guest has no receive buffers). */
int virtio_watch_set_events(VirtioWatch *w, uint32_t events);

/* Returns a chain to the driver (len bytes written) and interrupts it if it wants one. */
void virtio_complete(VirtioDevice *d, uint16_t q, uint16_t head, uint32_t len);

/* The driver did something the spec forbids (malformed ring, bad request layout): logs why once,
 * sets NEEDS_RESET and stops processing the device's queues until the driver resets it. */
void virtio_device_fail(VirtioDevice *d, const char *why);

/* Transport side, with d->lock held. */
void virtio_device_set_status(VirtioDevice *d, uint8_t status);
bool virtio_queue_ready(const VirtioDevice *d, uint16_t q);
