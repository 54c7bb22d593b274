/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "log.h"
#include "string-table.h"

static const char *const device_address_kind_table[_DEVICE_ADDRESS_KIND_MAX] = {
        [DEVICE_ADDRESS_NONE] = "none",
        [DEVICE_ADDRESS_PORT] = "port",
        [DEVICE_ADDRESS_MMIO] = "mmio",
        [DEVICE_ADDRESS_PCI] = "pci",
};
DEFINE_STRING_TABLE_TO_STRING(device_address_kind, DeviceAddressKind);

/* What DEVICE_TAG records hold: fixed-size, NUL-padded. */
typedef struct DeviceHeader {
        char id[DEVICE_ID_MAX];
        char type[DEVICE_ID_MAX];
} DeviceHeader;

static void root_free(void *impl) {
}

static const DeviceOps root_ops = { .type = "root", .free = root_free };

Device *device_root_new(void) {
        Device *d = calloc(1, sizeof *d);
        if (d)
                d->ops = &root_ops;
        return d;
}

int device_pause_nothing(Device *d) {
        return 0;
}

void device_resume_nothing(Device *d) {
}

char *device_pci_address(uint64_t slot, char buf[static 16]) {
        (void) snprintf(buf, 16, "0000:00:%02x.0", (unsigned) (slot & 0x1f));
        return buf;
}

static Device *tree_root(Device *d) {
        while (d->parent)
                d = d->parent;
        return d;
}

int device_add(Device *parent, const char *id, const DeviceOps *ops, void *impl, DeviceAddressKind kind,
               uint64_t address, Device **ret) {
        Device *d, **tail;

        /* Every op, always: a device that cannot save cannot be in a VM that snapshots. */
        assert(ops && ops->type && ops->pause && ops->resume && ops->save && ops->restore && ops->describe &&
               ops->remove && ops->free);
        if (strlen(id) >= DEVICE_ID_MAX || strlen(ops->type) >= DEVICE_ID_MAX || device_find(tree_root(parent), id)) {
                ops->free(impl);
                return -EEXIST;
        }
        d = calloc(1, sizeof *d);
        if (d)
                d->id = strdup(id);
        if (!d || !d->id) {
                free(d);
                ops->free(impl);
                return -ENOMEM;
        }
        d->ops = ops;
        d->impl = impl;
        d->address_kind = kind;
        d->address = address;
        d->parent = parent;
        for (tail = &parent->children; *tail; tail = &(*tail)->next)
                ;
        *tail = d;
        if (ret)
                *ret = d;
        return 0;
}

int device_add_range(Device *d, Bus *bus, uint64_t base, uint64_t len, BusHandler handler, void *opaque,
                     const char *name) {
        int r;

        if (d->n_ranges >= DEVICE_RANGES_MAX)
                return -E2BIG;
        r = bus_register(bus, base, len, handler, opaque, name);
        if (r < 0)
                return r;
        d->ranges[d->n_ranges++] = (DeviceRange) { .bus = bus, .base = base };
        return 0;
}

static void unlink_child(Device *d) {
        Device **p;

        if (!d->parent)
                return;
        for (p = &d->parent->children; *p; p = &(*p)->next)
                if (*p == d) {
                        *p = d->next;
                        break;
                }
        d->parent = NULL;
}

Device *device_free(Device *d) {
        if (!d)
                return NULL;
        while (d->children)
                device_free(d->children); /* unlinks itself */
        unlink_child(d);
        for (unsigned i = d->n_ranges; i > 0; i--)
                (void) bus_unregister(d->ranges[i - 1].bus, d->ranges[i - 1].base);
        if (d->ops->remove)
                d->ops->remove(d);
        d->ops->free(d->impl);
        free(d->id);
        free(d);
        return NULL;
}

Device *device_next(Device *root, Device *d) {
        if (!d)
                return root->children;
        if (d->children)
                return d->children;
        for (; d && d != root; d = d->parent)
                if (d->next)
                        return d->next;
        return NULL;
}

Device *device_find(Device *root, const char *id) {
        DEVICE_FOREACH(d, root)
                if (strcmp(d->id, id) == 0)
                        return d;
        return NULL;
}

static int pause_subtree(Device *d) {
        int r;

        for (Device *c = d->children; c; c = c->next) {
                r = pause_subtree(c);
                if (r < 0)
                        return r;
        }
        if (d->ops == &root_ops || d->paused)
                return 0;
        r = d->ops->pause(d);
        if (r < 0)
                return log_error_errno(r, "Failed to pause device %s: %m", d->id);
        d->paused = true;
        return 0;
}

static void resume_subtree(Device *d) {
        if (d->ops != &root_ops && d->paused) {
                d->ops->resume(d);
                d->paused = false;
        }
        for (Device *c = d->children; c; c = c->next)
                resume_subtree(c);
}

int device_tree_pause(Device *root) {
        int r = pause_subtree(root);
        if (r < 0)
                resume_subtree(root);
        return r;
}

void device_tree_resume(Device *root) {
        resume_subtree(root);
}

int device_tree_save(Device *root, StateWriter *w) {
        int r;

        DEVICE_FOREACH(d, root) {
                DeviceHeader h = {};
                (void) snprintf(h.id, sizeof h.id, "%s", d->id);
                (void) snprintf(h.type, sizeof h.type, "%s", d->ops->type);
                r = state_write(w, DEVICE_TAG, &h, sizeof h);
                if (r < 0)
                        return r;
                r = d->ops->save(d, w);
                if (r < 0)
                        return log_error_errno(r, "Failed to save device %s: %m", d->id);
        }
        return 0;
}

int device_tree_restore(Device *root, StateReader *r) {
        size_t n_devices = 0, n_restored = 0;
        int k;

        DEVICE_FOREACH(d, root)
                n_devices++;
        while (r->offset < r->size) {
                DeviceHeader h;
                Device *d;

                k = state_read(r, DEVICE_TAG, &h, sizeof h);
                if (k < 0)
                        return log_error_errno(k, "Saved device state is malformed at offset %zu.", r->offset);
                if (memchr(h.id, 0, sizeof h.id) == NULL || memchr(h.type, 0, sizeof h.type) == NULL)
                        return log_error_errno(EBADMSG, "Saved device state names a device without a valid id.");
                d = device_find(root, h.id);
                if (!d)
                        return log_error_errno(EBADMSG, "Saved state has device %s, which this VM lacks.", h.id);
                if (strcmp(h.type, d->ops->type) != 0)
                        return log_error_errno(EBADMSG, "Saved device %s is a %s, this VM's is a %s.", h.id, h.type,
                                               d->ops->type);
                k = d->ops->restore(d, r);
                if (k < 0)
                        return log_error_errno(k, "Failed to restore device %s: %m", h.id);
                n_restored++;
        }
        if (n_restored != n_devices)
                return log_error_errno(EBADMSG, "Saved state has %zu devices, this VM %zu.", n_restored, n_devices);
        return 0;
}

static int add_address(Device *d, sd_json_variant **v) {
        char pci[16];

        switch (d->address_kind) {
        case DEVICE_ADDRESS_PORT:
        case DEVICE_ADDRESS_MMIO:
                return sd_json_variant_set_field_unsigned(v, device_address_kind_to_string(d->address_kind),
                                                          d->address);
        case DEVICE_ADDRESS_PCI:
                return sd_json_variant_set_field_string(v, "pci", device_pci_address(d->address, pci));
        default:
                return 0;
        }
}

int device_tree_describe(Device *root, sd_json_variant **ret) {
        sd_json_variant *tree = NULL;
        int r;

        r = sd_json_build(&tree, SD_JSON_BUILD_EMPTY_OBJECT);
        DEVICE_FOREACH(d, root) {
                sd_json_variant *v = NULL;
                if (r >= 0)
                        r = d->ops->describe(d, &v);
                if (r >= 0 && !v)
                        r = sd_json_build(&v, SD_JSON_BUILD_EMPTY_OBJECT);
                if (r >= 0)
                        r = sd_json_variant_set_field_string(&v, "type", d->ops->type);
                if (r >= 0)
                        r = add_address(d, &v);
                if (r >= 0 && d->parent && d->parent != root)
                        r = sd_json_variant_set_field_string(&v, "bus", d->parent->id);
                if (r >= 0)
                        r = sd_json_variant_set_field(&tree, d->id, v);
                sd_json_variant_unref(v);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                sd_json_variant_unref(tree);
                return r;
        }
        *ret = tree;
        return 0;
}

int device_tree_list(Device *root, sd_json_variant **ret) {
        sd_json_variant *list = NULL;
        int r;

        r = sd_json_build(&list, SD_JSON_BUILD_EMPTY_ARRAY);
        DEVICE_FOREACH(d, root) {
                sd_json_variant *e = NULL;
                if (r >= 0)
                        r = sd_json_buildo(&e, SD_JSON_BUILD_PAIR_STRING("name", d->id),
                                           SD_JSON_BUILD_PAIR_STRING("type", d->ops->type));
                if (r >= 0)
                        r = add_address(d, &e);
                if (r >= 0)
                        r = sd_json_variant_append_array(&list, e);
                sd_json_variant_unref(e);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                sd_json_variant_unref(list);
                return r;
        }
        *ret = list;
        return 0;
}
