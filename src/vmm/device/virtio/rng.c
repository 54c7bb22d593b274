/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "device/virtio/rng.h"

/* Per request, so that one greedy driver request cannot keep the thread busy for long. */
#define RNG_REQUEST_MAX (64 * 1024)

typedef struct Rng {
        VqChain chain;
        uint64_t bytes;
} Rng;

static void rng_kick(VirtioDevice *d, uint16_t q) {
        Rng *rng = d->priv;
        VqChain *c = &rng->chain;
        int r;

        while ((r = vq_pop(&d->vqs[q], c)) > 0) {
                uint32_t written = 0;
                if (c->n_out > 0) {
                        virtio_device_fail(d, "rng request with a device-readable buffer");
                        return;
                }
                for (uint32_t i = 0; i < c->n_in && written < RNG_REQUEST_MAX; i++) {
                        size_t want = c->iov[i].iov_len;
                        if (want > RNG_REQUEST_MAX - written)
                                want = RNG_REQUEST_MAX - written;
                        ssize_t n = getrandom(c->iov[i].iov_base, want, 0);
                        if (n < 0) {
                                log_warning_errno(errno, "Device %s: getrandom failed: %m", d->id);
                                break;
                        }
                        written += (uint32_t) n;
                        if ((size_t) n < want)
                                break;
                }
                rng->bytes += written;
                virtio_complete(d, q, c->head, written);
        }
}

static size_t rng_counters(VirtioDevice *d, VirtioCounter *out, size_t max) {
        Rng *rng = d->priv;
        if (max < 1)
                return 0;
        out[0] = (VirtioCounter) { "bytes", rng->bytes };
        return 1;
}

static void rng_state_save(VirtioDevice *d, void *buf) {
        Rng *rng = d->priv;
        VirtioRngState st = { .version = VIRTIO_RNG_STATE_VERSION, .bytes = rng->bytes };

        memcpy(buf, &st, sizeof st);
}

static int rng_state_check(VirtioDevice *d, const void *buf) {
        VirtioRngState st;

        memcpy(&st, buf, sizeof st);
        return st.version == VIRTIO_RNG_STATE_VERSION && st.reserved == 0 ? 0 : -EINVAL;
}

static void rng_state_restore(VirtioDevice *d, const void *buf) {
        Rng *rng = d->priv;
        VirtioRngState st;

        memcpy(&st, buf, sizeof st);
        rng->bytes = st.bytes;
}

static void rng_free(void *priv) {
        free(priv);
}

static const VirtioDeviceOps rng_ops = {
        .type = "virtio-rng",
        .device_id = VIRTIO_ID_RNG,
        .queue_kick = rng_kick,
        .counters = rng_counters,
        .free = rng_free,
        .state_size = sizeof(VirtioRngState),
        .state_save = rng_state_save,
        .state_check = rng_state_check,
        .state_restore = rng_state_restore,
};
_Static_assert(sizeof(VirtioRngState) <= VIRTIO_MODEL_STATE_MAX, "VirtioRngState fits the model record");

int virtio_rng_new(const GuestMemory *mem, const char *id, VirtioDevice **ret) {
        Rng *rng = calloc(1, sizeof *rng);
        int r;

        if (!rng)
                return -ENOMEM;
        r = virtio_device_new(&(VirtioDeviceParams) { .ops = &rng_ops, .priv = rng, .id = id, .n_queues = 1,
                                                      .mem = mem },
                              ret);
        return r; /* on failure rng went with it */
}
