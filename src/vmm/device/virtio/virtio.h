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
#define VIRTIO_MODEL_STATE_MAX 128 /* bytes: the largest model record (VirtioDeviceOps.state_size) */

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
        void (*free)(void *priv); /* frees the model's state and closes its fds */

        /* The model's own guest-visible state: a fixed-layout record of state_size bytes (at most
         * VIRTIO_MODEL_STATE_MAX) that starts with a uint32_t version. All called with d->lock held on a
         * quiesced device, through virtio_device_model_*(); buf has no particular alignment. A model
         * with no state of its own leaves all four 0/NULL. */
        uint32_t state_size;
        void (*state_save)(VirtioDevice *d, void *buf);
        /* -EINVAL if buf is not a state this model, as it was built, could be in. Pure, no logging. */
        int (*state_check)(VirtioDevice *d, const void *buf);
        /* Loads a buf that passed state_check, after the core state (VirtioState) was restored: drops
         * whatever the model held in flight, and resumes from buf. */
        void (*state_restore)(VirtioDevice *d, const void *buf);
        /* How many chains popped from queue q the model holds uncompleted; they must be the last ones
         * popped. virtio_device_save() records them as not yet popped, so that a restored device takes
         * them again (the model drops them on restore). May be NULL: the model completes every chain
         * before it returns to the I/O loop. */
        uint16_t (*in_flight)(VirtioDevice *d, uint16_t q);
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

/* Creates the device and its kick eventfds. Takes p->priv from the call on: on failure ops->free has
 * released it (the rule of every constructor here that is handed something). */
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
/* Stops watching the fd for good (a tap that is gone: EPOLLERR cannot be masked, and would wake the
 * thread forever); later virtio_watch_set_events() calls do nothing. The fd stays open. */
void virtio_watch_stop(VirtioWatch *w);

/* Returns a chain to the driver (len bytes written) and interrupts it if it wants one. */
void virtio_complete(VirtioDevice *d, uint16_t q, uint16_t head, uint32_t len);

/* The driver did something the spec forbids (malformed ring, bad request layout): logs why once,
 * sets NEEDS_RESET and stops processing the device's queues until the driver resets it. */
void virtio_device_fail(VirtioDevice *d, const char *why);

/* Transport side, with d->lock held. */
void virtio_device_set_status(VirtioDevice *d, uint8_t status);
/* DRIVER_OK and not NEEDS_RESET: the device processes its queues. d->lock held. */
bool virtio_device_live(const VirtioDevice *d);
bool virtio_queue_ready(const VirtioDevice *d, uint16_t q);

#define VIRTIO_STATE_VERSION 1

/* The transport-independent state of a device, fixed layout, host byte order (little-endian on every
 * arch we build for). Not stored, because it is fixed when the device is built and checked against
 * instead: host_features, config_size, the model; nor the kick eventfds, the notify callback and the I/O
 * thread, which are host resources. Queue slots from n_queues on and their queue_enabled bytes are 0. */
typedef struct VirtioState {
        uint32_t version; /* VIRTIO_STATE_VERSION */
        uint8_t status;
        uint8_t reserved; /* 0 */
        uint16_t n_queues; /* must match the device */
        uint64_t features;
        uint8_t queue_enabled[VIRTIO_QUEUES_MAX]; /* 0 or 1 */
        VirtqueueState vqs[VIRTIO_QUEUES_MAX];
} VirtioState;
_Static_assert(sizeof(VirtioState) == 536, "VirtioState is a fixed on-disk layout");

/* Save and restore are called while the device is quiesced: vCPUs paused and its I/O thread paused
 * (virtio_device_dispatch() not running). They take d->lock, as the transport does. */
void virtio_device_save(VirtioDevice *d, VirtioState *ret);
/* -EINVAL if st is not a state this device could be in: bad version or reserved bytes, another queue
 * count, FEATURES_OK with features not offered or without VERSION_1, a queue state vq_restore_check()
 * refuses, a started queue the driver never enabled, a broken queue without NEEDS_RESET. Pure. */
int virtio_device_restore_check(VirtioDevice *d, const VirtioState *st);
/* Checks as above (-EINVAL, d untouched), then loads st; a live device gets a kick on every started
 * queue, for buffers whose kick the snapshot lost. The model's record is restored separately, after. */
int virtio_device_restore(VirtioDevice *d, const VirtioState *st);

/* The model's record (VirtioDeviceOps.state_*), for the transport's composite record. size is the
 * buffer's; a model with no record has size 0. */
uint32_t virtio_device_model_state_size(const VirtioDevice *d);
void virtio_device_model_save(VirtioDevice *d, void *buf, size_t size);
int virtio_device_model_restore_check(VirtioDevice *d, const void *buf, size_t size);
int virtio_device_model_restore(VirtioDevice *d, const void *buf, size_t size);
