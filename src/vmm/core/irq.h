/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An interrupt line as devices see it: the Vm wires set_level to KVM_IRQ_LINE; tests wire a fake.
 * Level semantics: a device holds the line at 1 while it wants service. An edge-triggered consumer
 * (e.g. the ACPI GED) gets a pulse: irq_pulse(). */

#include <stdbool.h>
#include <stdint.h>

typedef struct Irq {
        void (*set_level)(void *opaque, uint32_t gsi, bool level);
        void *opaque;
        uint32_t gsi;
} Irq;

static inline void irq_set(const Irq *irq, bool level) {
        if (irq && irq->set_level)
                irq->set_level(irq->opaque, irq->gsi, level);
}

static inline void irq_pulse(const Irq *irq) {
        irq_set(irq, true);
        irq_set(irq, false);
}
