/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/test-trigger.h"
#include "core/thread.h"
#include "log.h"
#include "device/virtio/virtio.h"
#include "ratelimit.h"

/* epoll data: a queue's kick is its index, the control fd is TAG_CTL, model fds point at their watch. */
#define TAG_CTL UINT64_C(0xffff)

struct VirtioWatch {
        VirtioDevice *d;
        int fd;
        void (*fn)(VirtioDevice *d, void *u);
        void *u;
        bool stopped; /* taken out of the epoll set for good (virtio_watch_stop()) */
        VirtioWatch *next;
};

static bool device_live(const VirtioDevice *d) {
        return (d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_NEEDS_RESET);
}

bool virtio_device_live(const VirtioDevice *d) {
        return device_live(d);
}

bool virtio_queue_ready(const VirtioDevice *d, uint16_t q) {
        return q < d->n_queues && d->vqs[q].started && !d->vqs[q].broken;
}

void virtio_device_fail(VirtioDevice *d, const char *why) {
        /* A driver may break the protocol, reset and break it again, as often as it likes. */
        static RateLimit rl = RATELIMIT_GUEST;
        char more[RATELIMIT_SUFFIX_MAX];
        unsigned dropped;

        if (d->status & VIRTIO_STATUS_NEEDS_RESET)
                return;
        if (ratelimit_below(&rl, &dropped))
                log_warning("Device %s: the guest driver broke the virtio protocol (%s); the device stops until the "
                            "driver resets it.%s", d->id, why, ratelimit_suffix(more, dropped));
        d->status |= VIRTIO_STATUS_NEEDS_RESET;
}

void virtio_complete(VirtioDevice *d, uint16_t q, uint16_t head, uint32_t len) {
        Virtqueue *vq = &d->vqs[q];

        vq_push(vq, head, len);
        if (vq_should_notify(vq) && d->notify)
                d->notify(d->notify_opaque, q);
}

static void check_broken(VirtioDevice *d, uint16_t q) {
        if (d->vqs[q].broken)
                virtio_device_fail(d, d->vqs[q].broken_reason ?: "malformed virtqueue");
}

/* One kick: the model drains the queue. Kicks stay wanted all along (no model turns them off), and
 * vq_pop() re-reads the available index behind a full barrier before it reports the queue empty, so
 * a chain the driver adds meanwhile either is popped or brings another kick. */
static void run_queue(VirtioDevice *d, uint16_t q) {
        if (!device_live(d) || !virtio_queue_ready(d, q))
                return;
        d->ops->queue_kick(d, q);
        check_broken(d, q);
}

/* With d->lock held: 0 if the caller may go on, -ESHUTDOWN if the thread is to end, 1 if the device is
 * paused. The I/O thread then parks until resumed or stopped; cond_wait drops the lock meanwhile, so the
 * transport and Inspect go on. Anyone else (a test dispatching by hand) is only told. */
static int hold_while_paused(VirtioDevice *d, bool io_thread) {
        if (d->stopping)
                return -ESHUTDOWN;
        if (!d->paused)
                return 0;
        if (io_thread) {
                d->parked = true;
                pthread_cond_broadcast(&d->cond);
                while (d->paused && !d->stopping)
                        pthread_cond_wait(&d->cond, &d->lock);
                d->parked = false;
        }
        return d->stopping ? -ESHUTDOWN : 1;
}

static int dispatch(VirtioDevice *d, int timeout_ms, bool io_thread) {
        struct epoll_event ev[16];
        int n, r, ran = 0;

        pthread_mutex_lock(&d->lock);
        r = hold_while_paused(d, io_thread);
        pthread_mutex_unlock(&d->lock);
        if (r != 0)
                return r < 0 ? r : 0;

        n = epoll_wait(d->epoll_fd, ev, (int) ELEMENTSOF(ev), timeout_ms);
        if (n < 0)
                return -errno;
        for (int i = 0; i < n; i++) {
                uint64_t tag = ev[i].data.u64, cnt;

                /* Read before the flags are looked at: a request made after this read leaves the fd
                 * readable for the next round. */
                if (tag == TAG_CTL)
                        (void) eventfd_read(d->ctl_fd, &cnt);
                pthread_mutex_lock(&d->lock);
                /* Checked before every event, so nothing runs once pause() has taken the lock. */
                r = hold_while_paused(d, io_thread);
                if (r != 0) {
                        pthread_mutex_unlock(&d->lock);
                        /* After a pause the rest of ev[] may be stale: the next round asks epoll anew.
                         * Kicks left unread keep their counts, model fds are level-triggered. */
                        return r < 0 ? r : ran;
                }
                if (tag == TAG_CTL) {
                        pthread_mutex_unlock(&d->lock);
                        continue;
                }
                if (tag < VIRTIO_QUEUES_MAX) {
                        (void) read(d->kick_fd[tag], &cnt, sizeof cnt);
                        run_queue(d, (uint16_t) tag);
                } else {
                        VirtioWatch *w = (VirtioWatch *) (uintptr_t) tag;
                        if (device_live(d))
                                w->fn(d, w->u);
                        else /* level-triggered: disarm until the model re-arms it on activate */
                                (void) virtio_watch_set_events(w, 0);
                }
                ran++;
                pthread_mutex_unlock(&d->lock);
        }
        return ran;
}

int virtio_device_dispatch(VirtioDevice *d, int timeout_ms) {
        return dispatch(d, timeout_ms, false);
}

static void *io_thread(void *userdata) {
        VirtioDevice *d = userdata;

        for (;;) {
                int r = dispatch(d, -1, true);
                if (r == -ESHUTDOWN)
                        break;
                if (r > 0)
                        test_trigger_fire(TEST_TRIGGER_DEVICE);
                if (r < 0 && r != -EINTR) {
                        log_error_errno(r, "Device %s: epoll_wait failed: %m", d->id);
                        break;
                }
        }
        /* A pause waiting for this thread to park must not wait for a thread that is gone. */
        pthread_mutex_lock(&d->lock);
        d->thread_running = false;
        pthread_cond_broadcast(&d->cond);
        pthread_mutex_unlock(&d->lock);
        return NULL;
}

int virtio_device_pause(VirtioDevice *d) {
        int r = 0;

        assert(!d->thread_started || !pthread_equal(d->thread, pthread_self()));
        pthread_mutex_lock(&d->lock);
        if (!d->paused) {
                d->paused = true;
                /* The thread may sleep in epoll_wait(): wake it to park. */
                if (d->thread_running && eventfd_write(d->ctl_fd, 1) < 0) {
                        r = -errno;
                        d->paused = false;
                }
        }
        while (d->paused && d->thread_running && !d->parked)
                pthread_cond_wait(&d->cond, &d->lock);
        pthread_mutex_unlock(&d->lock);
        return r;
}

void virtio_device_resume(VirtioDevice *d) {
        pthread_mutex_lock(&d->lock);
        if (d->paused) {
                d->paused = false;
                pthread_cond_broadcast(&d->cond);
        }
        pthread_mutex_unlock(&d->lock);
}

int virtio_device_watch_fd(VirtioDevice *d, int fd, uint32_t events, void (*fn)(VirtioDevice *d, void *u),
                           void *u, VirtioWatch **ret) {
        VirtioWatch *w = calloc(1, sizeof *w);

        if (!w)
                return -ENOMEM;
        *w = (VirtioWatch) { .d = d, .fd = fd, .fn = fn, .u = u, .next = d->watches };
        struct epoll_event ev = { .events = events, .data.u64 = (uintptr_t) w };
        if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                free(w);
                return -errno;
        }
        d->watches = w;
        if (ret)
                *ret = w;
        return 0;
}

int virtio_watch_set_events(VirtioWatch *w, uint32_t events) {
        struct epoll_event ev = { .events = events, .data.u64 = (uintptr_t) w };
        if (w->stopped)
                return 0;
        return epoll_ctl(w->d->epoll_fd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void virtio_watch_stop(VirtioWatch *w) {
        if (w->stopped)
                return;
        (void) epoll_ctl(w->d->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
        w->stopped = true;
}

void virtio_device_set_status(VirtioDevice *d, uint8_t status) {
        uint8_t old = d->status;

        if (status == 0) {
                for (uint16_t q = 0; q < d->n_queues; q++) {
                        vq_reset(&d->vqs[q]);
                        d->queue_enabled[q] = false;
                }
                d->status = 0;
                d->features = 0;
                if (d->ops->reset)
                        d->ops->reset(d);
                return;
        }
        /* NEEDS_RESET is ours to set; the driver can only add the bits it owns. */
        d->status = (uint8_t) ((status & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));
        if ((status & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
            ((d->features & ~d->host_features) || !(d->features & (UINT64_C(1) << VIRTIO_F_VERSION_1))))
                d->status &= (uint8_t) ~VIRTIO_STATUS_FEATURES_OK; /* refused: the driver reads it back */
        if ((status & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
                if (!(d->status & VIRTIO_STATUS_FEATURES_OK)) {
                        virtio_device_fail(d, "DRIVER_OK without FEATURES_OK");
                        return;
                }
                for (uint16_t q = 0; q < d->n_queues; q++) {
                        Virtqueue *vq = &d->vqs[q];
                        if (!d->queue_enabled[q] || vq->started)
                                continue;
                        vq->event_idx = d->features & (UINT64_C(1) << VIRTIO_F_EVENT_IDX);
                        vq->indirect = d->features & (UINT64_C(1) << VIRTIO_F_INDIRECT_DESC);
                        if (vq_start(vq) < 0) {
                                virtio_device_fail(d, "a queue's rings are not in guest RAM");
                                return;
                        }
                }
                if (d->ops->activate && d->ops->activate(d) < 0) {
                        virtio_device_fail(d, "the device could not start");
                        return;
                }
                /* Buffers made available before DRIVER_OK (e.g. receive buffers) need no kick. */
                for (uint16_t q = 0; q < d->n_queues; q++)
                        if (d->vqs[q].started)
                                (void) eventfd_write(d->kick_fd[q], 1);
        }
}

int virtio_device_new(const VirtioDeviceParams *p, VirtioDevice **ret) {
        VirtioDevice *d;

        assert(p->ops && p->ops->queue_kick && p->ops->free);
        if (p->n_queues == 0 || p->n_queues > VIRTIO_QUEUES_MAX) {
                p->ops->free(p->priv);
                return -EINVAL;
        }
        d = calloc(1, sizeof *d);
        if (!d) {
                p->ops->free(p->priv);
                return -ENOMEM;
        }
        d->priv = p->priv;
        d->id = strdup(p->id);
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->cond, NULL);
        d->epoll_fd = d->ctl_fd = -EBADF;
        for (unsigned q = 0; q < VIRTIO_QUEUES_MAX; q++)
                d->kick_fd[q] = -EBADF;
        d->ops = p->ops;
        d->host_features = p->features | UINT64_C(1) << VIRTIO_F_VERSION_1 | UINT64_C(1) << VIRTIO_F_EVENT_IDX |
                           UINT64_C(1) << VIRTIO_F_INDIRECT_DESC;
        d->config_size = p->config_size;
        d->n_queues = p->n_queues;
        for (uint16_t q = 0; q < p->n_queues; q++)
                d->vqs[q].mem = p->mem;
        if (!d->id)
                goto fail;
        d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        d->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->epoll_fd < 0 || d->ctl_fd < 0)
                goto fail;
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_CTL };
        if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, d->ctl_fd, &ev) < 0)
                goto fail;
        for (uint16_t q = 0; q < p->n_queues; q++) {
                d->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                ev = (struct epoll_event) { .events = EPOLLIN, .data.u64 = q };
                if (d->kick_fd[q] < 0 || epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, d->kick_fd[q], &ev) < 0)
                        goto fail;
        }
        *ret = d;
        return 0;
fail:;
        int r = errno > 0 ? -errno : -ENOMEM;
        virtio_device_free(d); /* and with it priv */
        return r;
}

int virtio_device_start_thread(VirtioDevice *d) {
        int r;

        pthread_mutex_lock(&d->lock);
        d->thread_running = true;
        pthread_mutex_unlock(&d->lock);
        /* Named after the device ("io-disk0"), with the device-I/O role's signals and sandbox. */
        char name[16];
        (void) snprintf(name, sizeof name, "io-%s", d->id);
        r = thread_spawn(THREAD_ROLE_DEVICE_IO, name, -EBADF, io_thread, d, &d->thread);
        if (r < 0) {
                pthread_mutex_lock(&d->lock);
                d->thread_running = false;
                pthread_mutex_unlock(&d->lock);
                return r;
        }
        d->thread_started = true;
        return 0;
}

VirtioDevice *virtio_device_free(VirtioDevice *d) {
        if (!d)
                return NULL;
        if (d->thread_started) {
                /* Also wakes a parked thread: freeing a paused device is fine. */
                pthread_mutex_lock(&d->lock);
                d->stopping = true;
                pthread_cond_broadcast(&d->cond);
                pthread_mutex_unlock(&d->lock);
                (void) eventfd_write(d->ctl_fd, 1);
                thread_join(d->thread);
        }
        d->ops->free(d->priv);
        while (d->watches) {
                VirtioWatch *w = d->watches;
                d->watches = w->next;
                free(w);
        }
        for (unsigned q = 0; q < VIRTIO_QUEUES_MAX; q++)
                safe_close(d->kick_fd[q]);
        safe_close(d->ctl_fd);
        safe_close(d->epoll_fd);
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->lock);
        free(d->id);
        free(d);
        return NULL;
}

void virtio_device_save(VirtioDevice *d, VirtioState *ret) {
        VirtioState st = { .version = VIRTIO_STATE_VERSION };

        pthread_mutex_lock(&d->lock);
        st.status = d->status;
        st.n_queues = d->n_queues;
        st.features = d->features;
        for (uint16_t q = 0; q < d->n_queues; q++) {
                VirtqueueState *vs = &st.vqs[q];
                st.queue_enabled[q] = d->queue_enabled[q];
                vq_save(&d->vqs[q], vs);
                /* Chains the model holds are left available in the record; the rings in guest RAM are
                 * unchanged by it, so a restored device pops them again. */
                uint16_t n = d->ops->in_flight ? d->ops->in_flight(d, q) : 0;
                assert(n <= (uint16_t) (vs->last_avail - vs->used_idx));
                vs->last_avail = (uint16_t) (vs->last_avail - n);
                vs->n_popped -= n;
        }
        pthread_mutex_unlock(&d->lock);
        *ret = st;
}

/* With d->lock held. */
static int virtio_state_check_locked(const VirtioDevice *d, const VirtioState *st) {
        static const VirtqueueState unused_vq = {};
        int r;

        if (st->version != VIRTIO_STATE_VERSION || st->reserved != 0 || st->n_queues != d->n_queues)
                return -EINVAL;
        /* Without FEATURES_OK the features are the driver's proposal, which may be anything; with it they
         * passed virtio_device_set_status()'s check, and the driver can no longer change them. */
        if ((st->status & VIRTIO_STATUS_FEATURES_OK) &&
            ((st->features & ~d->host_features) || !(st->features & (UINT64_C(1) << VIRTIO_F_VERSION_1))))
                return -EINVAL;
        for (uint16_t q = 0; q < VIRTIO_QUEUES_MAX; q++) {
                const VirtqueueState *vs = &st->vqs[q];

                if (q >= d->n_queues) {
                        if (st->queue_enabled[q] != 0 || memcmp(vs, &unused_vq, sizeof *vs) != 0)
                                return -EINVAL;
                        continue;
                }
                if (st->queue_enabled[q] > 1)
                        return -EINVAL;
                r = vq_restore_check(&d->vqs[q], vs);
                if (r < 0)
                        return r;
                /* Only DRIVER_OK starts a queue, and only an enabled one; a queue breaks only while the
                 * device runs it, and that sets NEEDS_RESET, which stays until a reset stops the queue. */
                if (vs->started && !st->queue_enabled[q])
                        return -EINVAL;
                if (vs->broken && !(st->status & VIRTIO_STATUS_NEEDS_RESET))
                        return -EINVAL;
                if ((vs->event_idx && !(d->host_features & (UINT64_C(1) << VIRTIO_F_EVENT_IDX))) ||
                    (vs->indirect && !(d->host_features & (UINT64_C(1) << VIRTIO_F_INDIRECT_DESC))))
                        return -EINVAL;
        }
        return 0;
}

int virtio_device_restore_check(VirtioDevice *d, const VirtioState *st) {
        int r;

        pthread_mutex_lock(&d->lock);
        r = virtio_state_check_locked(d, st);
        pthread_mutex_unlock(&d->lock);
        return r;
}

int virtio_device_restore(VirtioDevice *d, const VirtioState *st) {
        int r;

        pthread_mutex_lock(&d->lock);
        r = virtio_state_check_locked(d, st);
        if (r < 0) {
                pthread_mutex_unlock(&d->lock);
                return r;
        }
        d->status = st->status;
        d->features = st->features;
        for (uint16_t q = 0; q < d->n_queues; q++) {
                d->queue_enabled[q] = st->queue_enabled[q];
                /* Cannot fail: checked above against the same memory. */
                (void) vq_restore(&d->vqs[q], &st->vqs[q]);
        }
        if (device_live(d))
                for (uint16_t q = 0; q < d->n_queues; q++)
                        if (d->vqs[q].started)
                                (void) eventfd_write(d->kick_fd[q], 1);
        pthread_mutex_unlock(&d->lock);
        return 0;
}

uint32_t virtio_device_model_state_size(const VirtioDevice *d) {
        return d->ops->state_save ? d->ops->state_size : 0;
}

void virtio_device_model_save(VirtioDevice *d, void *buf, size_t size) {
        uint32_t n = virtio_device_model_state_size(d);

        assert(size >= n);
        if (n == 0)
                return;
        pthread_mutex_lock(&d->lock);
        d->ops->state_save(d, buf);
        pthread_mutex_unlock(&d->lock);
}

int virtio_device_model_restore_check(VirtioDevice *d, const void *buf, size_t size) {
        uint32_t n = virtio_device_model_state_size(d);
        int r;

        if (size != n)
                return -EINVAL;
        if (n == 0)
                return 0;
        pthread_mutex_lock(&d->lock);
        r = d->ops->state_check(d, buf);
        pthread_mutex_unlock(&d->lock);
        return r;
}

int virtio_device_model_restore(VirtioDevice *d, const void *buf, size_t size) {
        uint32_t n = virtio_device_model_state_size(d);
        int r;

        if (size != n)
                return -EINVAL;
        if (n == 0)
                return 0;
        pthread_mutex_lock(&d->lock);
        r = d->ops->state_check(d, buf);
        if (r >= 0)
                d->ops->state_restore(d, buf);
        pthread_mutex_unlock(&d->lock);
        return r;
}
