/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "device/pvpanic.h"

struct Pvpanic {
        PvpanicEventFn event;
        void *opaque;
};

int pvpanic_new(PvpanicEventFn event, void *opaque, Pvpanic **ret) {
        Pvpanic *p;

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->event = event;
        p->opaque = opaque;
        *ret = p;
        return 0;
}

Pvpanic *pvpanic_free(Pvpanic *p) {
        free(p);
        return NULL;
}

/* No lock: the device has no mutable state, and each write is reported on the vCPU that made it. */
void pvpanic_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Pvpanic *p = opaque;

        if (!is_write) {
                for (uint32_t i = 0; i < len; i++)
                        data[i] = offset == 0 && i == 0 ? PVPANIC_SUPPORTED : 0xff;
                return;
        }
        if (offset != 0 || len == 0)
                return;
        uint8_t events = data[0] & PVPANIC_SUPPORTED;
        if (events && p->event)
                p->event(p->opaque, events);
}

void pvpanic_save(const Pvpanic *p, PvpanicState *ret) {
        *ret = (PvpanicState) { .version = PVPANIC_STATE_VERSION, .supported = PVPANIC_SUPPORTED };
}

int pvpanic_restore(Pvpanic *p, const PvpanicState *st) {
        if (st->version != PVPANIC_STATE_VERSION)
                return -EINVAL;
        /* A guest that was told about an event we do not know would send it in vain. */
        if (st->supported & ~PVPANIC_SUPPORTED)
                return -EINVAL;
        for (size_t i = 0; i < sizeof st->reserved; i++)
                if (st->reserved[i] != 0)
                        return -EINVAL;
        return 0;
}
