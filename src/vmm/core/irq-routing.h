/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* MSIs through KVM's GSI routing table. Each MSI source (an MSI-X vector) gets a GSI above the I/O
 * APIC's pins whose route carries the guest-programmed address/data, and an irqfd on that GSI, so any
 * thread interrupts the guest with one eventfd write and no vmm-side lookup.
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, including the default routes of the in-kernel PIC
 * and I/O APIC that KVM_IRQ_LINE relies on, so the table written always starts with those.
 *
 * The functions below are thread-safe. */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"

#define IRQ_ROUTING_MSI_MAX 256
#define IRQ_ROUTING_FIRST_MSI_GSI 24 /* after the I/O APIC's 24 pins */

typedef struct IrqRouting IrqRouting;

int irq_routing_new(int vm_fd, IrqRouting **ret);
IrqRouting *irq_routing_free(IrqRouting *r);
DEFINE_FREEP(IrqRouting, irq_routing_free);

/* A new MSI source: the lowest free GSI, with no route yet, and an eventfd bound to it as irqfd. The fd
 * stays owned by the routing table; writing 1 to it interrupts the guest once the route is set. */
int irq_routing_add_msi(IrqRouting *r, uint32_t *ret_gsi, int *ret_fd);
/* The source is gone: deassigns its irqfd, closes the fd, drops its route and commits the table. The GSI
 * is free for a later irq_routing_add_msi() even if the commit fails (its error is returned; the stale
 * route has no irqfd left to fire it). -ENOENT for a GSI that is not an MSI source's. The caller must
 * not write to the fd any more. */
int irq_routing_remove_msi(IrqRouting *r, uint32_t gsi);
/* Sets (or with enable=false removes) the route of an MSI GSI; -EINVAL for a GSI that is not an MSI
 * source's. */
int irq_routing_set_msi(IrqRouting *r, uint32_t gsi, uint64_t address, uint32_t data, bool enable);
