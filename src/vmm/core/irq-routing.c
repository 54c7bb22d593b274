/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "core/irq-routing.h"
#include "log.h"

#define IOAPIC_PINS 24
#define PIC_PINS 16

typedef struct MsiRoute {
        uint64_t address;
        uint32_t data;
        bool used; /* the GSI belongs to a source; fd is its irqfd */
        bool enabled;
        int fd;
} MsiRoute;

struct IrqRouting {
        int vm_fd;
        pthread_mutex_t lock;
        MsiRoute msi[IRQ_ROUTING_MSI_MAX]; /* GSI IRQ_ROUTING_FIRST_MSI_GSI + index */
};

/* With the lock held: the entry of an MSI GSI in use, or NULL. */
static MsiRoute *msi_route(IrqRouting *r, uint32_t gsi) {
        if (gsi < IRQ_ROUTING_FIRST_MSI_GSI || gsi - IRQ_ROUTING_FIRST_MSI_GSI >= IRQ_ROUTING_MSI_MAX)
                return NULL;
        MsiRoute *m = &r->msi[gsi - IRQ_ROUTING_FIRST_MSI_GSI];
        return m->used ? m : NULL;
}

/* With the lock held: unbinds and closes the irqfd, frees the GSI. The route stays until the next
 * commit. */
static void msi_release(IrqRouting *r, MsiRoute *m) {
        struct kvm_irqfd irqfd = {
                .fd = (uint32_t) m->fd,
                .gsi = IRQ_ROUTING_FIRST_MSI_GSI + (uint32_t) (m - r->msi),
                .flags = KVM_IRQFD_FLAG_DEASSIGN,
        };

        (void) ioctl(r->vm_fd, KVM_IRQFD, &irqfd);
        safe_close(m->fd);
        *m = (MsiRoute) { .fd = -EBADF };
}

IrqRouting *irq_routing_free(IrqRouting *r) {
        if (!r)
                return NULL;
        for (uint32_t i = 0; i < IRQ_ROUTING_MSI_MAX; i++)
                if (r->msi[i].used)
                        msi_release(r, &r->msi[i]);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

int irq_routing_new(int vm_fd, IrqRouting **ret) {
        IrqRouting *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->vm_fd = vm_fd;
        pthread_mutex_init(&r->lock, NULL);
        for (uint32_t i = 0; i < IRQ_ROUTING_MSI_MAX; i++)
                r->msi[i].fd = -EBADF;
        *ret = r;
        return 0;
}

/* Called with the lock held. */
static int irq_routing_commit(IrqRouting *r) {
        size_t max = PIC_PINS + IOAPIC_PINS + IRQ_ROUTING_MSI_MAX, n = 0;
        _cleanup_free_ struct kvm_irq_routing *t = NULL;

        t = calloc(1, sizeof *t + max * sizeof t->entries[0]);
        if (!t)
                return -ENOMEM;
        /* KVM's own defaults: ISA IRQs to both the PIC and the I/O APIC, the rest to the I/O APIC. */
        for (uint32_t gsi = 0; gsi < IOAPIC_PINS; gsi++) {
                if (gsi < PIC_PINS)
                        t->entries[n++] = (struct kvm_irq_routing_entry) {
                                .gsi = gsi,
                                .type = KVM_IRQ_ROUTING_IRQCHIP,
                                .u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                                               .pin = gsi % 8 },
                        };
                t->entries[n++] = (struct kvm_irq_routing_entry) {
                        .gsi = gsi,
                        .type = KVM_IRQ_ROUTING_IRQCHIP,
                        .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
                };
        }
        for (uint32_t i = 0; i < IRQ_ROUTING_MSI_MAX; i++) {
                if (!r->msi[i].enabled)
                        continue;
                t->entries[n++] = (struct kvm_irq_routing_entry) {
                        .gsi = IRQ_ROUTING_FIRST_MSI_GSI + i,
                        .type = KVM_IRQ_ROUTING_MSI,
                        .u.msi = { .address_lo = (uint32_t) r->msi[i].address,
                                   .address_hi = (uint32_t) (r->msi[i].address >> 32),
                                   .data = r->msi[i].data },
                };
        }
        t->nr = (uint32_t) n;
        if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0)
                return -errno;
        return 0;
}

int irq_routing_add_msi(IrqRouting *r, uint32_t *ret_gsi, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        uint32_t i, gsi;
        int ret = 0;

        pthread_mutex_lock(&r->lock);
        /* The lowest free GSI: one that irq_routing_remove_msi() gave back is taken again. */
        for (i = 0; i < IRQ_ROUTING_MSI_MAX && r->msi[i].used; i++)
                ;
        if (i >= IRQ_ROUTING_MSI_MAX) {
                ret = -ENOSPC;
                goto out;
        }
        gsi = IRQ_ROUTING_FIRST_MSI_GSI + i;
        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0) {
                ret = -errno;
                goto out;
        }
        struct kvm_irqfd irqfd = { .fd = (uint32_t) fd, .gsi = gsi };
        if (ioctl(r->vm_fd, KVM_IRQFD, &irqfd) < 0) {
                ret = -errno;
                goto out;
        }
        r->msi[i] = (MsiRoute) { .used = true, .fd = fd };
        *ret_gsi = gsi;
        *ret_fd = TAKE_FD(fd);
out:
        pthread_mutex_unlock(&r->lock);
        return ret;
}

int irq_routing_remove_msi(IrqRouting *r, uint32_t gsi) {
        MsiRoute *m;
        bool routed;
        int ret = 0;

        pthread_mutex_lock(&r->lock);
        m = msi_route(r, gsi);
        if (!m) {
                pthread_mutex_unlock(&r->lock);
                return -ENOENT;
        }
        routed = m->enabled;
        msi_release(r, m);
        /* Released whatever the commit says: the irqfd is gone, so a stale route cannot fire, and the
         * next commit drops it. */
        if (routed)
                ret = irq_routing_commit(r);
        pthread_mutex_unlock(&r->lock);
        return ret;
}

int irq_routing_set_msi(IrqRouting *r, uint32_t gsi, uint64_t address, uint32_t data, bool enable) {
        MsiRoute *m;
        int ret = 0;

        pthread_mutex_lock(&r->lock);
        m = msi_route(r, gsi);
        if (!m) {
                pthread_mutex_unlock(&r->lock);
                return -EINVAL;
        }
        if (m->enabled != enable || (enable && (m->address != address || m->data != data))) {
                m->address = address;
                m->data = data;
                m->enabled = enable;
                ret = irq_routing_commit(r);
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}
