/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "byteorder.h"
#include "device/pci/msix.h"
#include "log.h"
#include "device/virtio/virtio-pci.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + device ID: modern-only devices */
#define VIRTIO_PCI_SUBSYSTEM 0x1100

/* virtio_pci_cap.cfg_type (virtio spec 4.1.4) */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

/* Common configuration structure offsets (virtio spec 4.1.4.3). */
enum {
        COMMON_DFSELECT = 0x00,
        COMMON_DF = 0x04,
        COMMON_GFSELECT = 0x08,
        COMMON_GF = 0x0c,
        COMMON_MSIX = 0x10,
        COMMON_NUMQ = 0x12,
        COMMON_STATUS = 0x14,
        COMMON_CFGGENERATION = 0x15,
        COMMON_Q_SELECT = 0x16,
        COMMON_Q_SIZE = 0x18,
        COMMON_Q_MSIX = 0x1a,
        COMMON_Q_ENABLE = 0x1c,
        COMMON_Q_NOFF = 0x1e,
        COMMON_Q_DESCLO = 0x20,
        COMMON_Q_DESCHI = 0x24,
        COMMON_Q_AVAILLO = 0x28,
        COMMON_Q_AVAILHI = 0x2c,
        COMMON_Q_USEDLO = 0x30,
        COMMON_Q_USEDHI = 0x34,
};

struct VirtioPci {
        VirtioDevice *dev;
        PciDevice *pci;
        Msix msix;
        int vm_fd;
        uint64_t notify_base; /* where the notify registers' ioeventfds are bound; 0 = not bound */
        uint32_t device_feature_select, driver_feature_select;
        uint16_t queue_select;
        uint16_t config_vector;
        uint16_t queue_vector[VIRTIO_QUEUES_MAX];
};

VirtioDevice *virtio_pci_device(VirtioPci *vp) {
        return vp->dev;
}

PciDevice *virtio_pci_pci_device(VirtioPci *vp) {
        return vp->pci;
}

static void notify_queue(void *opaque, uint16_t q) {
        VirtioPci *vp = opaque;
        msix_notify(&vp->msix, vp->queue_vector[q]);
}

static void set_gpa_half(uint64_t *gpa, bool high, uint32_t v) {
        *gpa = high ? (*gpa & 0xffffffffULL) | (uint64_t) v << 32 : (*gpa & ~0xffffffffULL) | v;
}

/* Called with d->lock held. */
static void common_write(VirtioPci *vp, uint64_t off, uint32_t v) {
        VirtioDevice *d = vp->dev;
        uint16_t q = vp->queue_select;
        bool q_valid = q < d->n_queues;
        /* Queue registers are frozen once the driver enabled the queue (virtio spec 4.1.4.3.2). */
        bool q_writable = q_valid && !d->queue_enabled[q] && !(d->status & VIRTIO_STATUS_DRIVER_OK);
        Virtqueue *vq = q_valid ? &d->vqs[q] : NULL;

        switch (off) {
        case COMMON_DFSELECT:
                vp->device_feature_select = v;
                break;
        case COMMON_GFSELECT:
                vp->driver_feature_select = v;
                break;
        case COMMON_GF:
                if (vp->driver_feature_select < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
                        unsigned shift = 32 * vp->driver_feature_select;
                        d->features = (d->features & ~(0xffffffffULL << shift)) | (uint64_t) v << shift;
                }
                break;
        case COMMON_MSIX:
                vp->config_vector = (uint16_t) (v < vp->msix.n_vectors ? v : MSIX_NO_VECTOR);
                break;
        case COMMON_STATUS:
                virtio_device_set_status(d, (uint8_t) v);
                if (v == 0) {
                        vp->config_vector = MSIX_NO_VECTOR;
                        for (unsigned i = 0; i < VIRTIO_QUEUES_MAX; i++)
                                vp->queue_vector[i] = MSIX_NO_VECTOR;
                        for (uint16_t i = 0; i < d->n_queues; i++)
                                d->vqs[i].size = VQ_SIZE_MAX;
                }
                break;
        case COMMON_Q_SELECT:
                vp->queue_select = (uint16_t) v;
                break;
        case COMMON_Q_SIZE:
                /* A power of two no larger than offered; anything else is left as it was. */
                if (q_writable && v >= 1 && v <= VQ_SIZE_MAX && !(v & (v - 1)))
                        vq->size = (uint16_t) v;
                break;
        case COMMON_Q_MSIX:
                if (q_valid)
                        vp->queue_vector[q] = (uint16_t) (v < vp->msix.n_vectors ? v : MSIX_NO_VECTOR);
                break;
        case COMMON_Q_ENABLE:
                if (q_writable && v == 1)
                        d->queue_enabled[q] = true;
                break;
        case COMMON_Q_DESCLO:
        case COMMON_Q_DESCHI:
                if (q_writable)
                        set_gpa_half(&vq->desc_gpa, off == COMMON_Q_DESCHI, v);
                break;
        case COMMON_Q_AVAILLO:
        case COMMON_Q_AVAILHI:
                if (q_writable)
                        set_gpa_half(&vq->avail_gpa, off == COMMON_Q_AVAILHI, v);
                break;
        case COMMON_Q_USEDLO:
        case COMMON_Q_USEDHI:
                if (q_writable)
                        set_gpa_half(&vq->used_gpa, off == COMMON_Q_USEDHI, v);
                break;
        default: /* read-only or unknown: ignored */
                break;
        }
}

static uint64_t common_read(VirtioPci *vp, uint64_t off) {
        VirtioDevice *d = vp->dev;
        uint16_t q = vp->queue_select;
        bool q_valid = q < d->n_queues;
        const Virtqueue *vq = q_valid ? &d->vqs[q] : NULL;

        switch (off) {
        case COMMON_DFSELECT:
                return vp->device_feature_select;
        case COMMON_DF:
                return vp->device_feature_select < 2 ? (uint32_t) (d->host_features >> (32 * vp->device_feature_select))
                                                     : 0;
        case COMMON_GFSELECT:
                return vp->driver_feature_select;
        case COMMON_GF:
                return vp->driver_feature_select < 2 ? (uint32_t) (d->features >> (32 * vp->driver_feature_select)) : 0;
        case COMMON_MSIX:
                return vp->config_vector;
        case COMMON_NUMQ:
                return d->n_queues;
        case COMMON_STATUS:
                return d->status;
        case COMMON_CFGGENERATION:
                return 0; /* device config never changes under the driver */
        case COMMON_Q_SELECT:
                return vp->queue_select;
        case COMMON_Q_SIZE:
                return q_valid ? vq->size : 0; /* 0: no such queue */
        case COMMON_Q_MSIX:
                return q_valid ? vp->queue_vector[q] : MSIX_NO_VECTOR;
        case COMMON_Q_ENABLE:
                return q_valid && d->queue_enabled[q];
        case COMMON_Q_NOFF:
                return q_valid ? q : 0;
        case COMMON_Q_DESCLO:
                return q_valid ? (uint32_t) vq->desc_gpa : 0;
        case COMMON_Q_DESCHI:
                return q_valid ? (uint32_t) (vq->desc_gpa >> 32) : 0;
        case COMMON_Q_AVAILLO:
                return q_valid ? (uint32_t) vq->avail_gpa : 0;
        case COMMON_Q_AVAILHI:
                return q_valid ? (uint32_t) (vq->avail_gpa >> 32) : 0;
        case COMMON_Q_USEDLO:
                return q_valid ? (uint32_t) vq->used_gpa : 0;
        case COMMON_Q_USEDHI:
                return q_valid ? (uint32_t) (vq->used_gpa >> 32) : 0;
        default:
                return 0;
        }
}

static void bar_io(void *opaque, unsigned bar, uint64_t off, uint8_t *data, uint32_t len, bool is_write) {
        VirtioPci *vp = opaque;
        VirtioDevice *d = vp->dev;

        if (bar != VIRTIO_PCI_BAR)
                return;
        if (off >= VIRTIO_PCI_MSIX_TABLE_OFFSET && off < VIRTIO_PCI_MSIX_PBA_OFFSET) {
                msix_table_io(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE_OFFSET, data, len, is_write);
                return;
        }
        if (off >= VIRTIO_PCI_MSIX_PBA_OFFSET) {
                msix_pba_io(&vp->msix, off - VIRTIO_PCI_MSIX_PBA_OFFSET, data, len, is_write);
                return;
        }
        if (off >= VIRTIO_PCI_NOTIFY_OFFSET) {
                /* Reaches here only when the ioeventfd did not match (unbound, or an odd width). */
                uint64_t q = (off - VIRTIO_PCI_NOTIFY_OFFSET) / VIRTIO_PCI_NOTIFY_MULTIPLIER;
                if (is_write && q < d->n_queues)
                        (void) eventfd_write(d->kick_fd[q], 1);
                else if (!is_write)
                        memset(data, 0, len);
                return;
        }

        pthread_mutex_lock(&d->lock);
        if (off < VIRTIO_PCI_COMMON_SIZE) {
                if (is_write)
                        common_write(vp, off, (uint32_t) le_read(data, len));
                else
                        le_write(data, len, common_read(vp, off));
        } else if (off >= VIRTIO_PCI_ISR_OFFSET && off < VIRTIO_PCI_ISR_OFFSET + 4) {
                if (!is_write)
                        memset(data, 0, len); /* MSI-X only: the ISR never has anything to say */
        } else if (off >= VIRTIO_PCI_DEVICE_OFFSET && off < VIRTIO_PCI_NOTIFY_OFFSET) {
                uint64_t o = off - VIRTIO_PCI_DEVICE_OFFSET;
                if (o + len > d->config_size) {
                        if (!is_write)
                                memset(data, 0, len);
                } else if (!is_write) {
                        memset(data, 0, len);
                        if (d->ops->config_read)
                                d->ops->config_read(d, (uint32_t) o, data, len);
                } else if (d->ops->config_write)
                        d->ops->config_write(d, (uint32_t) o, data, len);
        } else if (!is_write)
                memset(data, 0, len);
        pthread_mutex_unlock(&d->lock);
}

static int ioeventfds_bind(VirtioPci *vp, uint64_t base, bool assign) {
        for (uint16_t q = 0; q < vp->dev->n_queues; q++) {
                struct kvm_ioeventfd io = {
                        .addr = base + VIRTIO_PCI_NOTIFY_OFFSET + (uint64_t) q * VIRTIO_PCI_NOTIFY_MULTIPLIER,
                        .len = 2,
                        .fd = vp->dev->kick_fd[q],
                        .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
                };
                if (ioctl(vp->vm_fd, KVM_IOEVENTFD, &io) < 0)
                        return -errno;
        }
        return 0;
}

static void bar_moved(void *opaque, unsigned bar, uint64_t addr) {
        VirtioPci *vp = opaque;
        int r;

        if (bar != VIRTIO_PCI_BAR || vp->vm_fd < 0)
                return;
        if (vp->notify_base) {
                (void) ioeventfds_bind(vp, vp->notify_base, false);
                vp->notify_base = 0;
        }
        if (addr) {
                r = ioeventfds_bind(vp, addr, true);
                if (r < 0) {
                        /* Still correct, only slower: kicks come through bar_io. */
                        log_warning_errno(r, "Device %s: KVM_IOEVENTFD failed, kicks will exit to vmm: %m",
                                          vp->dev->id);
                        (void) ioeventfds_bind(vp, addr, false);
                } else
                        vp->notify_base = addr;
        }
}

static void config_written(void *opaque, uint32_t offset, uint32_t len) {
        VirtioPci *vp = opaque;
        msix_config_written(&vp->msix, offset, len);
}

static const PciDeviceOps virtio_pci_ops = {
        .bar_io = bar_io,
        .config_written = config_written,
        .bar_moved = bar_moved,
};

static uint32_t class_of(uint16_t device_id) {
        switch (device_id) {
        case VIRTIO_ID_NET:
                return 0x020000; /* Ethernet controller */
        case VIRTIO_ID_BLOCK:
                return 0x018000; /* mass storage, other */
        default:
                return 0xff0000; /* unassigned class */
        }
}

static int add_virtio_cap(PciDevice *pci, uint8_t type, uint32_t offset, uint32_t length, uint32_t multiplier) {
        uint8_t len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? 20 : 16;
        int cap = pci_device_add_cap(pci, PCI_CAP_ID_VNDR, len);
        if (cap < 0)
                return cap;
        pci_config_set(pci, cap + 2, len, 1);
        pci_config_set(pci, cap + 3, type, 1);
        pci_config_set(pci, cap + 4, VIRTIO_PCI_BAR, 1);
        pci_config_set(pci, cap + 8, offset, 4);
        pci_config_set(pci, cap + 12, length, 4);
        if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
                pci_config_set(pci, cap + 16, multiplier, 4);
        return 0;
}

VirtioPci *virtio_pci_free(VirtioPci *vp) {
        if (!vp)
                return NULL;
        /* 1. Off the bus: no vCPU reaches bar_io or config_written any more, and bar_moved() unbound the
         *    ioeventfds, so KVM stops signalling the kick fds. */
        if (vp->pci)
                pci_bus_remove_device(vp->pci->bus, vp->pci);
        vp->pci = NULL;
        /* 2. The I/O thread stops; until it has, it may still notify through the MSI-X vectors. */
        virtio_device_free(vp->dev);
        /* 3. Now nobody fires the vectors: their GSIs go back. */
        msix_done(&vp->msix);
        free(vp);
        return NULL;
}

int virtio_pci_new(PciBus *bus, IrqRouting *routing, int vm_fd, VirtioDevice *dev, VirtioPci **ret) {
        _cleanup_(virtio_device_freep) VirtioDevice *owned = dev;
        _cleanup_(virtio_pci_freep) VirtioPci *vp = NULL;
        PciDevice *pci;
        int r;

        if (dev->config_size > VIRTIO_PCI_NOTIFY_OFFSET - VIRTIO_PCI_DEVICE_OFFSET)
                return -EINVAL;
        vp = calloc(1, sizeof *vp);
        if (!vp)
                return -ENOMEM;
        vp->dev = TAKE_PTR(owned);
        vp->vm_fd = vm_fd;
        vp->config_vector = MSIX_NO_VECTOR;
        for (unsigned i = 0; i < VIRTIO_QUEUES_MAX; i++)
                vp->queue_vector[i] = MSIX_NO_VECTOR;
        for (uint16_t q = 0; q < dev->n_queues; q++)
                dev->vqs[q].size = VQ_SIZE_MAX;
        dev->notify = notify_queue;
        dev->notify_opaque = vp;

        r = pci_bus_add_device(bus, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + dev->ops->device_id,
                               class_of(dev->ops->device_id), &virtio_pci_ops, vp, &pci);
        if (r < 0)
                return r;
        vp->pci = pci;
        pci_config_set(pci, PCI_REVISION_ID, 1, 1); /* virtio 1.x devices have revision >= 1 */
        pci_config_set(pci, PCI_SUBSYSTEM_VENDOR_ID, VIRTIO_PCI_VENDOR, 2);
        pci_config_set(pci, PCI_SUBSYSTEM_ID, VIRTIO_PCI_SUBSYSTEM, 2);
        r = pci_device_add_bar(pci, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE);
        if (r < 0)
                return r;
        if ((r = add_virtio_cap(pci, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFFSET, VIRTIO_PCI_COMMON_SIZE,
                                0)) < 0 ||
            (r = add_virtio_cap(pci, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFFSET,
                                dev->n_queues * VIRTIO_PCI_NOTIFY_MULTIPLIER, VIRTIO_PCI_NOTIFY_MULTIPLIER)) < 0 ||
            (r = add_virtio_cap(pci, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFFSET, 4, 0)) < 0 ||
            (dev->config_size > 0 &&
             (r = add_virtio_cap(pci, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFFSET, dev->config_size, 0)) <
                     0))
                return r;
        /* One vector per queue and one for configuration changes. */
        r = msix_init(&vp->msix, pci, routing, (uint16_t) (dev->n_queues + 1), VIRTIO_PCI_BAR,
                      VIRTIO_PCI_MSIX_TABLE_OFFSET, VIRTIO_PCI_MSIX_PBA_OFFSET);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(vp);
        return 0;
}

void virtio_pci_transport_save(VirtioPci *vp, VirtioPciTransportState *ret) {
        VirtioPciTransportState st = { .version = VIRTIO_PCI_TRANSPORT_STATE_VERSION };

        pthread_mutex_lock(&vp->dev->lock);
        st.device_feature_select = vp->device_feature_select;
        st.driver_feature_select = vp->driver_feature_select;
        st.queue_select = vp->queue_select;
        st.config_vector = vp->config_vector;
        memcpy(st.queue_vector, vp->queue_vector, sizeof st.queue_vector);
        pthread_mutex_unlock(&vp->dev->lock);
        *ret = st;
}

static bool vector_valid(const VirtioPci *vp, uint16_t v) {
        return v < vp->msix.n_vectors || v == MSIX_NO_VECTOR;
}

/* Fixed at construction, so no lock. The selectors hold whatever the driver wrote. */
int virtio_pci_transport_restore_check(VirtioPci *vp, const VirtioPciTransportState *st) {
        if (st->version != VIRTIO_PCI_TRANSPORT_STATE_VERSION || !vector_valid(vp, st->config_vector))
                return -EINVAL;
        for (uint16_t q = 0; q < VIRTIO_QUEUES_MAX; q++)
                if (q < vp->dev->n_queues ? !vector_valid(vp, st->queue_vector[q])
                                          : st->queue_vector[q] != MSIX_NO_VECTOR)
                        return -EINVAL;
        return 0;
}

int virtio_pci_transport_restore(VirtioPci *vp, const VirtioPciTransportState *st) {
        int r;

        r = virtio_pci_transport_restore_check(vp, st);
        if (r < 0)
                return r;
        pthread_mutex_lock(&vp->dev->lock);
        vp->device_feature_select = st->device_feature_select;
        vp->driver_feature_select = st->driver_feature_select;
        vp->queue_select = st->queue_select;
        vp->config_vector = st->config_vector;
        memcpy(vp->queue_vector, st->queue_vector, sizeof vp->queue_vector);
        pthread_mutex_unlock(&vp->dev->lock);
        return 0;
}

void virtio_pci_save(VirtioPci *vp, VirtioPciState *ret) {
        VirtioPciState st = {
                .version = VIRTIO_PCI_STATE_VERSION,
                .model_size = virtio_device_model_state_size(vp->dev),
        };

        pci_device_save(vp->pci, &st.pci);
        msix_save(&vp->msix, &st.msix);
        virtio_pci_transport_save(vp, &st.transport);
        virtio_device_save(vp->dev, &st.virtio);
        virtio_device_model_save(vp->dev, st.model, sizeof st.model);
        *ret = st;
}

int virtio_pci_restore_check(VirtioPci *vp, const VirtioPciState *st) {
        const char *part = NULL;

        if (st->version != VIRTIO_PCI_STATE_VERSION || st->model_size > sizeof st->model)
                part = "device";
        else {
                for (size_t i = st->model_size; i < sizeof st->model && !part; i++)
                        if (st->model[i] != 0)
                                part = "device";
        }
        if (!part && pci_device_restore_check(vp->pci, &st->pci) < 0)
                part = "PCI function";
        if (!part && msix_restore_check(&vp->msix, &st->msix) < 0)
                part = "MSI-X";
        if (!part && virtio_pci_transport_restore_check(vp, &st->transport) < 0)
                part = "virtio-pci transport";
        if (!part && virtio_device_restore_check(vp->dev, &st->virtio) < 0)
                part = "virtio";
        if (!part && virtio_device_model_restore_check(vp->dev, st->model, st->model_size) < 0)
                part = vp->dev->ops->type;
        if (!part)
                return 0;
        log_debug("Device %s: refusing the saved state, its %s record does not fit.", vp->dev->id, part);
        return -EINVAL;
}

int virtio_pci_restore(VirtioPci *vp, const VirtioPciState *st) {
        int r;

        r = virtio_pci_restore_check(vp, st);
        if (r < 0)
                return r;
        /* Each restore checks its part again; none can fail now, as each check depends only on its
         * record and on what the device was built with, which the restores before it do not change.
         * MSI-X goes after the PCI function: it takes enable and mask from config space. */
        if ((r = pci_device_restore(vp->pci, &st->pci)) < 0 ||
            (r = msix_restore(&vp->msix, &st->msix)) < 0 ||
            (r = virtio_pci_transport_restore(vp, &st->transport)) < 0 ||
            (r = virtio_device_restore(vp->dev, &st->virtio)) < 0 ||
            (r = virtio_device_model_restore(vp->dev, st->model, st->model_size)) < 0)
                return r;
        return 0;
}

/* The device model's view (core/device.h) of a virtio function: the transport and the model as one
 * device, which owns the VirtioPci. */
static int virtio_pci_device_pause(Device *d) {
        VirtioPci *vp = d->impl;
        return virtio_device_pause(vp->dev);
}

static void virtio_pci_device_resume(Device *d) {
        VirtioPci *vp = d->impl;
        virtio_device_resume(vp->dev);
}

/* Its PCI address, driver status, queues and the model's counters. Read under the device lock, so one
 * request in flight may delay it. */
static int virtio_pci_device_describe(Device *dev, sd_json_variant **ret) {
        VirtioPci *vp = dev->impl;
        VirtioDevice *d = vp->dev;
        sd_json_variant *queues = NULL, *counters = NULL;
        VirtioCounter c[VIRTIO_COUNTERS_MAX];
        size_t n = 0;
        int r;

        pthread_mutex_lock(&d->lock);
        r = sd_json_build(&queues, SD_JSON_BUILD_EMPTY_ARRAY);
        for (uint16_t q = 0; r >= 0 && q < d->n_queues; q++) {
                const Virtqueue *vq = &d->vqs[q];
                sd_json_variant *e = NULL;
                r = sd_json_buildo(&e,
                                   SD_JSON_BUILD_PAIR_UNSIGNED("size", vq->size),
                                   SD_JSON_BUILD_PAIR_BOOLEAN("started", vq->started),
                                   SD_JSON_BUILD_PAIR_UNSIGNED("popped", vq->n_popped),
                                   SD_JSON_BUILD_PAIR_UNSIGNED("pushed", vq->n_pushed),
                                   SD_JSON_BUILD_PAIR_CONDITION(vq->broken, "broken",
                                                                SD_JSON_BUILD_STRING(vq->broken_reason ?: "yes")));
                if (r >= 0)
                        r = sd_json_variant_append_array(&queues, e);
                sd_json_variant_unref(e);
        }
        if (d->ops->counters)
                n = d->ops->counters(d, c, ELEMENTSOF(c));
        if (r >= 0)
                r = sd_json_build(&counters, SD_JSON_BUILD_EMPTY_OBJECT);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_json_variant_set_field_unsigned(&counters, c[i].name, c[i].value);
        if (r >= 0)
                r = sd_json_buildo(ret,
                                   SD_JSON_BUILD_PAIR_UNSIGNED("status", d->status),
                                   SD_JSON_BUILD_PAIR_BOOLEAN("needsReset", d->status & VIRTIO_STATUS_NEEDS_RESET),
                                   SD_JSON_BUILD_PAIR_UNSIGNED("features", d->features),
                                   SD_JSON_BUILD_PAIR_VARIANT("queues", queues),
                                   SD_JSON_BUILD_PAIR_VARIANT("counters", counters));
        pthread_mutex_unlock(&d->lock);
        sd_json_variant_unref(queues);
        sd_json_variant_unref(counters);
        return r;
}

static int virtio_pci_device_save(Device *d, StateWriter *w) {
        _cleanup_free_ VirtioPciState *st = malloc(sizeof *st);

        if (!st)
                return -ENOMEM;
        virtio_pci_save(d->impl, st);
        return state_write(w, VIRTIO_PCI_STATE_TAG, st, sizeof *st);
}

static int virtio_pci_device_restore(Device *d, StateReader *r) {
        _cleanup_free_ VirtioPciState *st = malloc(sizeof *st);
        int k;

        if (!st)
                return -ENOMEM;
        k = state_read(r, VIRTIO_PCI_STATE_TAG, st, sizeof *st);
        return k < 0 ? k : virtio_pci_restore(d->impl, st);
}

/* Step 1 of virtio_pci_free(): off the bus, so no vCPU reaches the function; free() does the rest. */
static void virtio_pci_device_remove(Device *d) {
        VirtioPci *vp = d->impl;

        if (vp->pci)
                pci_bus_remove_device(vp->pci->bus, vp->pci);
        vp->pci = NULL;
}

static void virtio_pci_device_free(void *impl) {
        virtio_pci_free(impl);
}

/* One table per model, so that the type says which ("virtio-blk", ...). */
#define VIRTIO_PCI_DEVICE_OPS(model)                       \
        {                                                  \
                .type = model,                             \
                .pause = virtio_pci_device_pause,          \
                .resume = virtio_pci_device_resume,        \
                .save = virtio_pci_device_save,            \
                .restore = virtio_pci_device_restore,      \
                .describe = virtio_pci_device_describe,    \
                .remove = virtio_pci_device_remove,        \
                .free = virtio_pci_device_free,            \
        }

static const DeviceOps ops_by_id[] = {
        [VIRTIO_ID_NET] = VIRTIO_PCI_DEVICE_OPS("virtio-net"),
        [VIRTIO_ID_BLOCK] = VIRTIO_PCI_DEVICE_OPS("virtio-blk"),
        [VIRTIO_ID_RNG] = VIRTIO_PCI_DEVICE_OPS("virtio-rng"),
};

const DeviceOps *virtio_pci_device_ops(VirtioPci *vp) {
        uint16_t id = vp->dev->ops->device_id;
        assert(id < ELEMENTSOF(ops_by_id) && ops_by_id[id].type); /* a model without a table is our bug */
        return &ops_by_id[id];
}
