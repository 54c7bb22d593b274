/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "byteorder.h"
#include "device/pci/hotplug.h"
#include "device/pci/pci.h"

struct PciHotplug {
        pthread_mutex_t lock;
        const Irq *irq;
        uint32_t inserted, eject_req, ejected; /* under lock */
        int event_fd;
};

/* Slot 0 is the host bridge: never hot-plugged. */
#define SLOTS_MASK (~UINT32_C(1))

int pci_hotplug_new(const Irq *irq, PciHotplug **ret) {
        PciHotplug *h = calloc(1, sizeof *h);

        if (!h)
                return -ENOMEM;
        pthread_mutex_init(&h->lock, NULL);
        h->irq = irq;
        h->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (h->event_fd < 0) {
                int r = -errno;
                pci_hotplug_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

PciHotplug *pci_hotplug_free(PciHotplug *h) {
        if (!h)
                return NULL;
        if (h->event_fd >= 0)
                (void) close(h->event_fd);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
}

int pci_hotplug_event_fd(PciHotplug *h) {
        return h->event_fd;
}

static void wake_main(PciHotplug *h) {
        (void) eventfd_write(h->event_fd, 1);
}

void pci_hotplug_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        PciHotplug *h = opaque;
        uint32_t v = 0;
        bool wake = false;

        if (!is_write)
                memset(data, 0xff, len);
        /* Whole registers only, as the DSDT's DWordAcc field makes them. */
        if (len != 4 || offset % 4 != 0 || offset >= PCI_HOTPLUG_REGS)
                return;
        pthread_mutex_lock(&h->lock);
        switch (offset) {
        case PCI_HOTPLUG_REG_INSERTED:
                if (!is_write) {
                        v = h->inserted;
                        h->inserted = 0;
                }
                break;
        case PCI_HOTPLUG_REG_EJECT_REQ:
                if (!is_write) {
                        v = h->eject_req;
                        h->eject_req = 0;
                }
                break;
        case PCI_HOTPLUG_REG_EJECT:
                if (is_write) {
                        uint32_t slots = (uint32_t) le_read(data, 4) & SLOTS_MASK;
                        wake = slots & ~h->ejected;
                        h->ejected |= slots;
                } else
                        v = 0;
                break;
        }
        pthread_mutex_unlock(&h->lock);
        if (!is_write)
                le_write(data, 4, v);
        if (wake)
                wake_main(h);
}

static void post(PciHotplug *h, uint32_t *reg, unsigned slot) {
        if (slot == 0 || slot >= PCI_SLOTS)
                return;
        pthread_mutex_lock(&h->lock);
        *reg |= UINT32_C(1) << slot;
        pthread_mutex_unlock(&h->lock);
        irq_pulse(h->irq);
}

void pci_hotplug_inserted(PciHotplug *h, unsigned slot) {
        post(h, &h->inserted, slot);
}

void pci_hotplug_request_eject(PciHotplug *h, unsigned slot) {
        post(h, &h->eject_req, slot);
}

uint32_t pci_hotplug_take_ejected(PciHotplug *h) {
        uint64_t cnt;
        uint32_t v;

        (void) eventfd_read(h->event_fd, &cnt);
        pthread_mutex_lock(&h->lock);
        v = h->ejected;
        h->ejected = 0;
        pthread_mutex_unlock(&h->lock);
        return v;
}

int pci_hotplug_restore_check(const PciHotplugState *st) {
        if (st->version != PCI_HOTPLUG_STATE_VERSION)
                return -EINVAL;
        if ((st->inserted | st->eject_req | st->ejected) & ~SLOTS_MASK)
                return -EINVAL;
        return 0;
}

static int hotplug_save(Device *d, StateWriter *w) {
        PciHotplug *h = d->impl;
        PciHotplugState st = { .version = PCI_HOTPLUG_STATE_VERSION };

        pthread_mutex_lock(&h->lock);
        st.inserted = h->inserted;
        st.eject_req = h->eject_req;
        st.ejected = h->ejected;
        pthread_mutex_unlock(&h->lock);
        return state_write(w, PCI_HOTPLUG_STATE_TAG, &st, sizeof st);
}

static int hotplug_restore(Device *d, StateReader *r) {
        PciHotplug *h = d->impl;
        PciHotplugState st;
        int k;

        k = state_read(r, PCI_HOTPLUG_STATE_TAG, &st, sizeof st);
        if (k < 0)
                return k;
        k = pci_hotplug_restore_check(&st);
        if (k < 0)
                return k;
        pthread_mutex_lock(&h->lock);
        h->inserted = st.inserted;
        h->eject_req = st.eject_req;
        h->ejected = st.ejected;
        pthread_mutex_unlock(&h->lock);
        if (st.ejected)
                wake_main(h);
        return 0;
}

static int hotplug_describe(Device *d, sd_json_variant **ret) {
        PciHotplug *h = d->impl;
        uint32_t ins, req, ej;

        pthread_mutex_lock(&h->lock);
        ins = h->inserted, req = h->eject_req, ej = h->ejected;
        pthread_mutex_unlock(&h->lock);
        return sd_json_buildo(ret,
                              SD_JSON_BUILD_PAIR_UNSIGNED("insertedPending", ins),
                              SD_JSON_BUILD_PAIR_UNSIGNED("ejectRequested", req),
                              SD_JSON_BUILD_PAIR_UNSIGNED("ejected", ej));
}

static void hotplug_remove(Device *d) {
        /* Its port range is the tree's; nothing else reaches it. */
}

static void hotplug_free(void *impl) {
        pci_hotplug_free(impl);
}

const DeviceOps pci_hotplug_device_ops = {
        .type = "pci-hotplug",
        .pause = device_pause_nothing,
        .resume = device_resume_nothing,
        .save = hotplug_save,
        .restore = hotplug_restore,
        .describe = hotplug_describe,
        .remove = hotplug_remove,
        .free = hotplug_free,
};
