/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "log.h"
#include "device/virtio/blk.h"
#include "ratelimit.h"

/* Feature bits (virtio spec 5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR_SIZE 512
#define BLK_ID_BYTES VIRTIO_BLK_SERIAL_SIZE
#define BLK_HEADER_SIZE 16
#define BLK_SEG_MAX (VQ_CHAIN_MAX - 2)          /* leaves room for the header and the status byte */
#define BLK_DISCARD_SECTORS_MAX (UINT32_C(1) << 22) /* 2 GiB per request */
#define BLK_DISCARD_ALIGNMENT 8                    /* sectors: 4 KiB, the usual file system block */
#define BLK_CONFIG_SIZE 60

typedef struct Blk {
        Disk *disk;
        char serial[BLK_ID_BYTES];
        uint8_t config[BLK_CONFIG_SIZE];
        VqChain chain;
        struct iovec data[VQ_CHAIN_MAX];
        uint64_t n_read, n_written, n_flushed, n_discarded, n_errors;
} Blk;

/* The [skip, skip+len) bytes of iov as new iovecs in out; returns how many. */
static int iov_slice(const struct iovec *iov, uint32_t n, uint64_t skip, uint64_t len, struct iovec *out) {
        int k = 0;
        for (uint32_t i = 0; i < n && len > 0; i++) {
                uint64_t l = iov[i].iov_len;
                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                uint64_t take = l - skip < len ? l - skip : len;
                out[k++] = (struct iovec) { .iov_base = (uint8_t *) iov[i].iov_base + skip, .iov_len = take };
                len -= take;
                skip = 0;
        }
        return k;
}

static uint8_t io_status(VirtioDevice *d, Blk *b, const char *what, int r) {
        /* Every error is counted (Inspect's errors); the lines are rate-limited, a failing store may fail
         * every request. */
        static RateLimit rl = RATELIMIT_GUEST;
        char more[RATELIMIT_SUFFIX_MAX];
        unsigned dropped;

        if (r >= 0)
                return VIRTIO_BLK_S_OK;
        if (r != -ERANGE && r != -EROFS) {
                b->n_errors++;
                if (ratelimit_below(&rl, &dropped))
                        log_warning_errno(r, "Device %s: %s failed: %m (%llu errors so far)%s", d->id, what,
                                          (unsigned long long) b->n_errors, ratelimit_suffix(more, dropped));
        }
        return VIRTIO_BLK_S_IOERR;
}

/* DISCARD and WRITE_ZEROES carry one 16-byte segment: sector, sector count, flags. */
static uint8_t blk_ranges(VirtioDevice *d, Blk *b, uint32_t type, const VqChain *c) {
        uint8_t seg[16];
        uint64_t sector, count;

        if (c->out_len != BLK_HEADER_SIZE + sizeof seg)
                return VIRTIO_BLK_S_UNSUPP; /* we said max_*_seg = 1 */
        (void) vq_chain_read(c, BLK_HEADER_SIZE, seg, sizeof seg);
        sector = le_read(seg, 8);
        count = le_read(seg + 8, 4);
        if (count == 0 || count > BLK_DISCARD_SECTORS_MAX || sector > b->disk->size / SECTOR_SIZE ||
            count > b->disk->size / SECTOR_SIZE - sector)
                return VIRTIO_BLK_S_IOERR;
        if (type == VIRTIO_BLK_T_DISCARD) {
                b->n_discarded++;
                return io_status(d, b, "discard", disk_discard(b->disk, sector * SECTOR_SIZE, count * SECTOR_SIZE));
        }
        return io_status(d, b, "write-zeroes", disk_write_zeroes(b->disk, sector * SECTOR_SIZE, count * SECTOR_SIZE));
}

/* Runs one request; returns the bytes written into the chain (data plus the status byte), or -EINVAL
 * if the chain is not a request at all. */
static int blk_request(VirtioDevice *d, Blk *b, const VqChain *c, uint32_t *ret_written) {
        uint8_t hdr[BLK_HEADER_SIZE], status;
        uint32_t type, written = 0;
        uint64_t sector, data_len;
        int n;

        /* The header is device-readable, the status byte the last device-writable byte. */
        if (c->out_len < BLK_HEADER_SIZE || c->in_len < 1)
                return -EINVAL;
        (void) vq_chain_read(c, 0, hdr, sizeof hdr);
        type = (uint32_t) le_read(hdr, 4);
        sector = le_read(hdr + 8, 8);

        switch (type) {
        case VIRTIO_BLK_T_IN:
        case VIRTIO_BLK_T_OUT: {
                bool in = type == VIRTIO_BLK_T_IN;
                data_len = in ? c->in_len - 1 : c->out_len - BLK_HEADER_SIZE;
                if (data_len % SECTOR_SIZE != 0 || sector > b->disk->size / SECTOR_SIZE ||
                    data_len / SECTOR_SIZE > b->disk->size / SECTOR_SIZE - sector) {
                        status = VIRTIO_BLK_S_IOERR;
                        break;
                }
                if (in) {
                        n = iov_slice(c->iov + c->n_out, c->n_in, 0, data_len, b->data);
                        status = io_status(d, b, "read", disk_preadv(b->disk, b->data, n, sector * SECTOR_SIZE));
                        if (status == VIRTIO_BLK_S_OK)
                                written = (uint32_t) data_len;
                        b->n_read++;
                } else {
                        n = iov_slice(c->iov, c->n_out, BLK_HEADER_SIZE, data_len, b->data);
                        status = io_status(d, b, "write",
                                           disk_pwritev(b->disk, b->data, n, sector * SECTOR_SIZE));
                        b->n_written++;
                }
                break;
        }
        case VIRTIO_BLK_T_FLUSH:
                b->n_flushed++;
                status = io_status(d, b, "flush", disk_flush(b->disk));
                break;
        case VIRTIO_BLK_T_GET_ID:
                data_len = c->in_len - 1;
                written = (uint32_t) vq_chain_write(c, 0, b->serial, data_len < BLK_ID_BYTES ? data_len : BLK_ID_BYTES);
                status = VIRTIO_BLK_S_OK;
                break;
        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES:
                if (b->disk->read_only || (type == VIRTIO_BLK_T_DISCARD && !b->disk->can_discard))
                        status = VIRTIO_BLK_S_UNSUPP;
                else
                        status = blk_ranges(d, b, type, c);
                break;
        default:
                status = VIRTIO_BLK_S_UNSUPP;
        }
        (void) vq_chain_write(c, c->in_len - 1, &status, 1);
        *ret_written = written + 1;
        return 0;
}

static void blk_kick(VirtioDevice *d, uint16_t q) {
        Blk *b = d->priv;
        uint32_t written;

        while (vq_pop(&d->vqs[q], &b->chain) > 0) {
                if (blk_request(d, b, &b->chain, &written) < 0) {
                        virtio_device_fail(d, "block request without header or status byte");
                        return;
                }
                virtio_complete(d, q, b->chain.head, written);
        }
}

static void blk_config_read(VirtioDevice *d, uint32_t offset, uint8_t *data, uint32_t len) {
        Blk *b = d->priv;
        memcpy(data, b->config + offset, len);
}

static size_t blk_counters(VirtioDevice *d, VirtioCounter *out, size_t max) {
        Blk *b = d->priv;
        VirtioCounter c[] = {
                { "reads", b->n_read },           { "writes", b->n_written },
                { "flushes", b->n_flushed },      { "discards", b->n_discarded },
                { "errors", b->n_errors },        { "capacity", b->disk->size },
                { "readOnly", b->disk->read_only },
        };
        size_t n = ELEMENTSOF(c) < max ? ELEMENTSOF(c) : max;
        memcpy(out, c, n * sizeof c[0]);
        return n;
}

static void blk_state_save(VirtioDevice *d, void *buf) {
        Blk *b = d->priv;
        VirtioBlkState st = {
                .version = VIRTIO_BLK_STATE_VERSION,
                .read_only = b->disk->read_only,
                .can_discard = b->disk->can_discard,
                .size = b->disk->size,
                .n_read = b->n_read,
                .n_written = b->n_written,
                .n_flushed = b->n_flushed,
                .n_discarded = b->n_discarded,
                .n_errors = b->n_errors,
        };

        memcpy(st.serial, b->serial, sizeof st.serial);
        memcpy(buf, &st, sizeof st);
}

static int blk_state_check(VirtioDevice *d, const void *buf) {
        Blk *b = d->priv;
        VirtioBlkState st;

        memcpy(&st, buf, sizeof st);
        if (st.version != VIRTIO_BLK_STATE_VERSION || st.reserved0[0] || st.reserved0[1] ||
            st.reserved1[0] || st.reserved1[1] || st.reserved1[2] || st.reserved1[3])
                return -EINVAL;
        /* Another disk, as far as the guest can tell: its capacity, features and ID would change under
         * the running driver. */
        if (st.size != b->disk->size || st.read_only != b->disk->read_only ||
            st.can_discard != b->disk->can_discard || memcmp(st.serial, b->serial, sizeof st.serial) != 0)
                return -EINVAL;
        return 0;
}

static void blk_state_restore(VirtioDevice *d, const void *buf) {
        Blk *b = d->priv;
        VirtioBlkState st;

        memcpy(&st, buf, sizeof st);
        b->n_read = st.n_read;
        b->n_written = st.n_written;
        b->n_flushed = st.n_flushed;
        b->n_discarded = st.n_discarded;
        b->n_errors = st.n_errors;
}

static void blk_free(void *priv) {
        Blk *b = priv;
        if (!b)
                return;
        disk_free(b->disk);
        free(b);
}

static const VirtioDeviceOps blk_ops = {
        .type = "virtio-blk",
        .device_id = VIRTIO_ID_BLOCK,
        .config_read = blk_config_read,
        .queue_kick = blk_kick,
        .counters = blk_counters,
        .free = blk_free,
        .state_size = sizeof(VirtioBlkState),
        .state_save = blk_state_save,
        .state_check = blk_state_check,
        .state_restore = blk_state_restore,
};
_Static_assert(sizeof(VirtioBlkState) <= VIRTIO_MODEL_STATE_MAX, "VirtioBlkState fits the model record");

int virtio_blk_new(const GuestMemory *mem, const char *id, Disk *disk, const char *serial, VirtioDevice **ret) {
        uint64_t features = UINT64_C(1) << VIRTIO_BLK_F_SEG_MAX | UINT64_C(1) << VIRTIO_BLK_F_BLK_SIZE |
                            UINT64_C(1) << VIRTIO_BLK_F_FLUSH;
        Blk *b;
        int r;

        b = calloc(1, sizeof *b);
        if (!b) {
                disk_free(disk);
                return -ENOMEM;
        }
        b->disk = disk;
        strncpy(b->serial, serial ?: "", sizeof b->serial); /* NUL-padded, not terminated at 20 bytes */
        le_write(b->config + 0, 8, disk->size / SECTOR_SIZE); /* capacity */
        le_write(b->config + 12, 4, BLK_SEG_MAX);
        le_write(b->config + 20, 4, SECTOR_SIZE); /* blk_size */
        if (disk->read_only)
                features |= UINT64_C(1) << VIRTIO_BLK_F_RO;
        else {
                features |= UINT64_C(1) << VIRTIO_BLK_F_WRITE_ZEROES;
                le_write(b->config + 48, 4, BLK_DISCARD_SECTORS_MAX); /* max_write_zeroes_sectors */
                le_write(b->config + 52, 4, 1);                       /* max_write_zeroes_seg */
                b->config[56] = disk->can_discard;                  /* write_zeroes_may_unmap */
                if (disk->can_discard) {
                        features |= UINT64_C(1) << VIRTIO_BLK_F_DISCARD;
                        le_write(b->config + 36, 4, BLK_DISCARD_SECTORS_MAX);
                        le_write(b->config + 40, 4, 1);
                        le_write(b->config + 44, 4, BLK_DISCARD_ALIGNMENT);
                }
        }
        r = virtio_device_new(&(VirtioDeviceParams) { .ops = &blk_ops, .priv = b, .id = id, .features = features,
                                                      .config_size = BLK_CONFIG_SIZE, .n_queues = 1, .mem = mem },
                              ret);
        return r; /* on failure b (and the disk) went with it */
}

const Disk *virtio_blk_disk(const VirtioDevice *d) {
        const Blk *b = d->ops == &blk_ops ? d->priv : NULL;
        return b ? b->disk : NULL;
}
