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

/* The device model's view (core/device.h): vCPU exits are all that drive it, so pause has nothing to
 * stop. */
static int pvpanic_device_save(Device *d, StateWriter *w) {
        PvpanicState st;

        pvpanic_save(d->impl, &st);
        return state_write(w, PVPANIC_STATE_TAG, &st, sizeof st);
}

static int pvpanic_device_restore(Device *d, StateReader *r) {
        PvpanicState st;
        int k = state_read(r, PVPANIC_STATE_TAG, &st, sizeof st);
        return k < 0 ? k : pvpanic_restore(d->impl, &st);
}

static int pvpanic_device_describe(Device *d, sd_json_variant **ret) {
        return sd_json_build(ret, SD_JSON_BUILD_EMPTY_OBJECT);
}

static void pvpanic_device_remove(Device *d) {
        /* Its ports are all the guest reaches, and the tree has unregistered them. */
}

static void pvpanic_device_free(void *impl) {
        pvpanic_free(impl);
}

const DeviceOps pvpanic_device_ops = {
        .type = "pvpanic",
        .pause = device_pause_nothing,
        .resume = device_resume_nothing,
        .save = pvpanic_device_save,
        .restore = pvpanic_device_restore,
        .describe = pvpanic_device_describe,
        .remove = pvpanic_device_remove,
        .free = pvpanic_device_free,
};
