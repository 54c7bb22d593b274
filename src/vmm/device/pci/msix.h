/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* MSI-X for a PCI function (PCI Local Bus 3.0, 6.8.2): the capability, the vector table and the
 * pending-bit array in one of the function's BARs. Each vector is an irqfd on its own KVM GSI whose
 * route follows the table entry; msix_notify() from any thread either fires it or, while the vector
 * or the function is masked, records it as pending and fires it when unmasked. */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "device/pci/pci.h"
#include "core/irq-routing.h"

#define MSIX_VECTORS_MAX 64
#define MSIX_ENTRY_SIZE 16
#define MSIX_NO_VECTOR 0xffff

typedef struct Msix {
        PciDevice *pci;
        IrqRouting *routing;
        pthread_mutex_t lock;
        uint8_t cap; /* offset of the capability in config space */
        uint16_t n_vectors;
        uint8_t table[MSIX_VECTORS_MAX * MSIX_ENTRY_SIZE];
        uint64_t pending;
        bool enabled, function_masked;
        uint32_t gsi[MSIX_VECTORS_MAX];
        int fd[MSIX_VECTORS_MAX]; /* owned by routing */
        uint64_t n_fired[MSIX_VECTORS_MAX];
} Msix;

/* Adds the capability; table at table_offset and PBA at pba_offset of BAR bar. routing may be NULL
 * (tests): vectors then only count. */
int msix_init(Msix *m, PciDevice *pci, IrqRouting *routing, uint16_t n_vectors, unsigned bar, uint32_t table_offset,
              uint32_t pba_offset);
/* Gives the vectors' GSIs back to routing (irqfds unbound and closed, routes dropped). Nothing may use m
 * any more: no BAR or config access reaches it (the function is off the bus) and no thread notifies.
 * Fine on a zeroed Msix and after a failed msix_init(). Does not touch m->pci, which may be gone. */
void msix_done(Msix *m);

/* BAR accesses to the table and the PBA (offsets relative to each). */
void msix_table_io(Msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void msix_pba_io(Msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* From the PCI device's config_written hook. */
void msix_config_written(Msix *m, uint32_t offset, uint32_t len);

/* Interrupts the guest through vector (MSIX_NO_VECTOR or out of range: nothing). Any thread. */
void msix_notify(Msix *m, uint16_t vector);

#define MSIX_STATE_VERSION 1

/* The guest-visible MSI-X state, fixed layout, host byte order (little-endian on every arch we build
 * for; the table holds its entries as the guest wrote them, little-endian). Not stored: the enable and
 * function-mask bits, which are the function's config space (PciFunctionState) and are re-derived from
 * it; the GSIs, irqfds and KVM routes, which are host resources rebuilt from the table; the n_fired
 * counters. */
typedef struct MsixState {
        uint32_t version;   /* MSIX_STATE_VERSION */
        uint16_t n_vectors; /* must match the device */
        uint16_t reserved;  /* 0 */
        uint64_t pending;   /* the PBA: bits below n_vectors only */
        uint8_t table[MSIX_VECTORS_MAX * MSIX_ENTRY_SIZE]; /* entries from n_vectors on: 0 */
} MsixState;
_Static_assert(sizeof(MsixState) == 1040, "MsixState is a fixed on-disk layout");

/* Save and restore are called while the function is quiesced (vCPUs paused, the owner's I/O thread
 * paused). */
void msix_save(const Msix *m, MsixState *ret);
/* -EINVAL if st cannot be a state of m (version, vector count, bits or entries past it). Pure. */
int msix_restore_check(const Msix *m, const MsixState *st);
/* Checks as above (-EINVAL, m untouched), then loads the table and the PBA, takes enable and mask from
 * the function's config space, which must already be restored, reprograms every vector's route and
 * delivers what is pending on a vector that is not masked, as an unmask by the guest would. */
int msix_restore(Msix *m, const MsixState *st);
