/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "byteorder.h"
#include "device/pci/msix.h"
#include "log.h"

#define MSIX_CONTROL 2 /* offset in the capability */
#define MSIX_CONTROL_MASKALL 0x4000
#define MSIX_CONTROL_ENABLE 0x8000
#define MSIX_ENTRY_VECTOR_CTRL 12
#define MSIX_ENTRY_MASKED 0x1

/* For save, which does not change the device but takes its lock. */
static pthread_mutex_t *msix_lock(const Msix *m) {
        return (pthread_mutex_t *) &m->lock;
}

static uint32_t entry_u32(const Msix *m, uint16_t v, unsigned off) {
        return (uint32_t) le_read(m->table + v * MSIX_ENTRY_SIZE + off, 4);
}

static bool vector_masked(const Msix *m, uint16_t v) {
        return !m->enabled || m->function_masked || (entry_u32(m, v, MSIX_ENTRY_VECTOR_CTRL) & MSIX_ENTRY_MASKED);
}

static void vector_fire(Msix *m, uint16_t v) {
        uint64_t one = 1;
        m->n_fired[v]++;
        if (m->fd[v] >= 0 && write(m->fd[v], &one, sizeof one) < 0 && errno != EAGAIN)
                log_warning_errno(errno, "MSI-X vector %u: irqfd write failed: %m", v);
}

/* With the lock held: route the entry as programmed, and deliver what was held back while masked. */
static void vector_update(Msix *m, uint16_t v) {
        if (m->routing) {
                uint64_t addr = entry_u32(m, v, 0) | (uint64_t) entry_u32(m, v, 4) << 32;
                int r = irq_routing_set_msi(m->routing, m->gsi[v], addr, entry_u32(m, v, 8), true);
                if (r < 0)
                        log_warning_errno(r, "MSI-X vector %u: failed to update its KVM route: %m", v);
        }
        if (!vector_masked(m, v) && (m->pending & (UINT64_C(1) << v))) {
                m->pending &= ~(UINT64_C(1) << v);
                vector_fire(m, v);
        }
}

int msix_init(Msix *m, PciDevice *pci, IrqRouting *routing, uint16_t n_vectors, unsigned bar, uint32_t table_offset,
              uint32_t pba_offset) {
        int cap, r;

        if (n_vectors == 0 || n_vectors > MSIX_VECTORS_MAX || (table_offset & 7) || (pba_offset & 7))
                return -EINVAL;
        *m = (Msix) { .pci = pci, .routing = routing, .n_vectors = n_vectors };
        pthread_mutex_init(&m->lock, NULL);
        for (uint16_t v = 0; v < MSIX_VECTORS_MAX; v++)
                m->fd[v] = -EBADF;
        for (uint16_t v = 0; v < n_vectors; v++) {
                m->table[v * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CTRL] = MSIX_ENTRY_MASKED; /* reset state */
                if (routing) {
                        r = irq_routing_add_msi(routing, &m->gsi[v], &m->fd[v]);
                        if (r < 0)
                                return r;
                }
        }

        cap = pci_device_add_cap(pci, PCI_CAP_ID_MSIX, 12);
        if (cap < 0)
                return cap;
        m->cap = (uint8_t) cap;
        pci_config_set(pci, cap + MSIX_CONTROL, n_vectors - 1U, 2);
        pci_config_set(pci, cap + 4, table_offset | bar, 4);
        pci_config_set(pci, cap + 8, pba_offset | bar, 4);
        pci->wmask[cap + MSIX_CONTROL + 1] = (MSIX_CONTROL_MASKALL | MSIX_CONTROL_ENABLE) >> 8;
        return 0;
}

void msix_done(Msix *m) {
        if (m->n_vectors == 0) /* msix_init() never got as far as the lock */
                return;
        for (uint16_t v = 0; v < m->n_vectors; v++)
                if (m->fd[v] >= 0) {
                        int r = irq_routing_remove_msi(m->routing, m->gsi[v]);
                        if (r < 0)
                                log_debug_errno(r, "MSI-X vector %u: failed to drop its KVM route: %m", v);
                        m->fd[v] = -EBADF;
                }
        pthread_mutex_destroy(&m->lock);
        m->n_vectors = 0;
}

/* With the lock held: enable and mask as the config space has them. */
static void control_update(Msix *m) {
        uint16_t control = (uint16_t) pci_config_get(m->pci, m->cap + MSIX_CONTROL, 2);

        m->enabled = control & MSIX_CONTROL_ENABLE;
        m->function_masked = control & MSIX_CONTROL_MASKALL;
}

void msix_config_written(Msix *m, uint32_t offset, uint32_t len) {
        if (offset > m->cap + MSIX_CONTROL + 1U || offset + len <= (uint32_t) m->cap + MSIX_CONTROL)
                return;
        pthread_mutex_lock(&m->lock);
        control_update(m);
        for (uint16_t v = 0; v < m->n_vectors; v++)
                if (!vector_masked(m, v) && (m->pending & (UINT64_C(1) << v))) {
                        m->pending &= ~(UINT64_C(1) << v);
                        vector_fire(m, v);
                }
        pthread_mutex_unlock(&m->lock);
}

void msix_table_io(Msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        uint64_t size = (uint64_t) m->n_vectors * MSIX_ENTRY_SIZE;

        /* Dword or qword accesses within the table (the spec's rule); others are dropped. */
        if ((len != 4 && len != 8) || (offset & (len - 1)) || offset + len > size)
                return;
        pthread_mutex_lock(&m->lock);
        if (!is_write)
                memcpy(data, m->table + offset, len);
        else {
                memcpy(m->table + offset, data, len);
                vector_update(m, (uint16_t) (offset / MSIX_ENTRY_SIZE));
        }
        pthread_mutex_unlock(&m->lock);
}

void msix_pba_io(Msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        if (is_write || offset >= 8 || offset + len > 8)
                return;
        pthread_mutex_lock(&m->lock);
        for (uint32_t i = 0; i < len; i++)
                data[i] = (uint8_t) (m->pending >> (8 * (offset + i)));
        pthread_mutex_unlock(&m->lock);
}

void msix_notify(Msix *m, uint16_t vector) {
        if (vector >= m->n_vectors)
                return;
        pthread_mutex_lock(&m->lock);
        if (vector_masked(m, vector))
                m->pending |= UINT64_C(1) << vector;
        else
                vector_fire(m, vector);
        pthread_mutex_unlock(&m->lock);
}

void msix_save(const Msix *m, MsixState *ret) {
        MsixState st = { .version = MSIX_STATE_VERSION, .n_vectors = m->n_vectors };

        pthread_mutex_lock(msix_lock(m));
        st.pending = m->pending;
        memcpy(st.table, m->table, (size_t) m->n_vectors * MSIX_ENTRY_SIZE);
        pthread_mutex_unlock(msix_lock(m));
        *ret = st;
}

int msix_restore_check(const Msix *m, const MsixState *st) {
        if (st->version != MSIX_STATE_VERSION || st->reserved != 0 || st->n_vectors != m->n_vectors)
                return -EINVAL;
        /* n_vectors <= MSIX_VECTORS_MAX = 64, so the shift is defined. */
        if (m->n_vectors < 64 && (st->pending >> m->n_vectors) != 0)
                return -EINVAL;
        for (size_t i = (size_t) m->n_vectors * MSIX_ENTRY_SIZE; i < sizeof st->table; i++)
                if (st->table[i] != 0)
                        return -EINVAL;
        /* Any entry contents are valid: the guest may write anything there, and does on a live device. */
        return 0;
}

int msix_restore(Msix *m, const MsixState *st) {
        int r;

        r = msix_restore_check(m, st);
        if (r < 0)
                return r;
        pthread_mutex_lock(&m->lock);
        memcpy(m->table, st->table, sizeof m->table);
        m->pending = st->pending;
        control_update(m);
        for (uint16_t v = 0; v < m->n_vectors; v++)
                vector_update(m, v);
        pthread_mutex_unlock(&m->lock);
        return 0;
}
