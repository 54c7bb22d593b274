/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Inspect's tree and Describe's device list for the real VM: plain reads of what vm_* and console_*
 * keep, turned into JSON here, so that vm_* never sees JSON. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "arch/x86/layout.h"
#include "arch/x86/board.h"
#include "console/console.h"
#include "control/varlink.h"
#include "device/virtio/virtio.h"

static int vcpus_tree(Vm *vm, sd_json_variant **ret) {
        _cleanup_free_ VcpuState *states = NULL;
        sd_json_variant *tree = NULL;
        int r = 0;

        states = calloc(vm->n_vcpus ?: 1, sizeof *states);
        if (!states)
                return -ENOMEM;
        vm_get_vcpu_states(vm, states);
        r = sd_json_build(&tree, SD_JSON_BUILD_EMPTY_OBJECT);
        for (uint32_t i = 0; r >= 0 && i < vm->n_vcpus; i++) {
                /* Written by the vCPU's own thread without a lock: a snapshot, possibly a little old. */
                const VcpuExitStats *st = &vm->vcpus[i].stats;
                sd_json_variant *exits = NULL;
                char key[16];

                r = sd_json_build(&exits, SD_JSON_BUILD_EMPTY_OBJECT);
                for (int k = 0; r >= 0 && k < _VCPU_EXIT_KIND_MAX; k++)
                        r = sd_json_variant_set_field_unsigned(&exits, vcpu_exit_kind_to_string(k),
                                                               __atomic_load_n(&st->count[k], __ATOMIC_RELAXED));
                (void) snprintf(key, sizeof key, "%u", i);
                if (r >= 0)
                        r = sd_json_variant_set_fieldbo(
                                        &tree, key,
                                        SD_JSON_BUILD_PAIR_STRING("state", vcpu_state_to_string(states[i]) ?: "unknown"),
                                        SD_JSON_BUILD_PAIR_VARIANT("exits", exits));
                sd_json_variant_unref(exits);
        }
        if (r < 0) {
                sd_json_variant_unref(tree);
                return r;
        }
        *ret = tree;
        return 0;
}

static int console_tree(Console *console, sd_json_variant **ret) {
        ConsoleStats st;

        console_get_stats(console, &st);
        return sd_json_buildo(ret,
                              SD_JSON_BUILD_PAIR_UNSIGNED("outputBytes", st.output_bytes),
                              SD_JSON_BUILD_PAIR_UNSIGNED("inputBytes", st.input_bytes),
                              SD_JSON_BUILD_PAIR_UNSIGNED("inputDiscardedBytes", st.input_discarded_bytes),
                              SD_JSON_BUILD_PAIR_UNSIGNED("clientBytes", st.client_bytes),
                              SD_JSON_BUILD_PAIR_UNSIGNED("clients", st.clients),
                              SD_JSON_BUILD_PAIR_UNSIGNED("clientsAttached", st.clients_attached),
                              SD_JSON_BUILD_PAIR_UNSIGNED("clientsDropped", st.clients_dropped),
                              SD_JSON_BUILD_PAIR_UNSIGNED("clientsRefused", st.clients_refused),
                              SD_JSON_BUILD_PAIR_UNSIGNED("journalLines", st.journal_lines),
                              SD_JSON_BUILD_PAIR_UNSIGNED("journalLinesDropped", st.journal_lines_dropped),
                              SD_JSON_BUILD_PAIR_UNSIGNED("outputSkippedBytes", st.output_skipped_bytes),
                              SD_JSON_BUILD_PAIR_UNSIGNED("journalSkippedBytes", st.journal_skipped_bytes));
}

static const char *pci_address(unsigned slot, char buf[static 16]) {
        (void) snprintf(buf, 16, "0000:00:%02x.0", slot);
        return buf;
}

/* One virtio device: its PCI address, driver status, queues and the model's counters. Read under the
 * device lock, so one request in flight may delay it. */
static int virtio_tree(VirtioDevice *d, unsigned slot, sd_json_variant **ret) {
        sd_json_variant *queues = NULL, *counters = NULL;
        VirtioCounter c[VIRTIO_COUNTERS_MAX];
        char pci[16];
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
                                   SD_JSON_BUILD_PAIR_STRING("type", d->ops->type),
                                   SD_JSON_BUILD_PAIR_STRING("pci", pci_address(slot, pci)),
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

/* devices/: the platform devices, then each virtio device under its id ("disk0", "net0", "rng0"). */
static int devices_tree(Machine *machine, Console *console, sd_json_variant **ret) {
        sd_json_variant *devices = NULL, *con = NULL;
        VirtioDevice *d;
        unsigned slot;
        int r = 0;

        if (console)
                r = console_tree(console, &con);
        if (r >= 0)
                r = sd_json_buildo(&devices,
                                   SD_JSON_BUILD_PAIR_CONDITION(!!con, "console", SD_JSON_BUILD_VARIANT(con)),
                                   SD_JSON_BUILD_PAIR_OBJECT("pvpanic", SD_JSON_BUILD_PAIR_STRING("type", "pvpanic")),
                                   SD_JSON_BUILD_PAIR_OBJECT("reset", SD_JSON_BUILD_PAIR_STRING("type", "i8042")));
        sd_json_variant_unref(con);
        for (size_t i = 0; r >= 0 && (d = machine_virtio_device(machine, i, &slot)); i++) {
                sd_json_variant *dev = NULL;
                r = virtio_tree(d, slot, &dev);
                if (r >= 0)
                        r = sd_json_variant_set_field(&devices, d->id, dev);
                sd_json_variant_unref(dev);
        }
        if (r < 0) {
                sd_json_variant_unref(devices);
                return r;
        }
        *ret = devices;
        return 0;
}

int varlink_vm_inspect(Vm *vm, Machine *machine, Console *console, sd_json_variant **ret) {
        sd_json_variant *vcpus = NULL, *regions = NULL, *devices = NULL;
        int r;

        r = vcpus_tree(vm, &vcpus);
        if (r >= 0)
                r = sd_json_build(&regions, SD_JSON_BUILD_EMPTY_ARRAY);
        for (size_t i = 0; r >= 0 && vm->mem && i < vm->mem->n_regions; i++) {
                sd_json_variant *reg = NULL;

                r = sd_json_buildo(&reg,
                                   SD_JSON_BUILD_PAIR_UNSIGNED("gpa", vm->mem->regions[i].gpa),
                                   SD_JSON_BUILD_PAIR_UNSIGNED("size", vm->mem->regions[i].size));
                if (r >= 0)
                        r = sd_json_variant_append_array(&regions, reg);
                sd_json_variant_unref(reg);
        }
        if (r >= 0)
                r = devices_tree(machine, console, &devices);
        if (r >= 0)
                r = sd_json_buildo(
                                ret,
                                SD_JSON_BUILD_PAIR_VARIANT("vcpus", vcpus),
                                SD_JSON_BUILD_PAIR_OBJECT("memory",
                                                          SD_JSON_BUILD_PAIR_UNSIGNED("size", vm->mem ? vm->mem->ram_size : 0),
                                                          SD_JSON_BUILD_PAIR_VARIANT("regions", regions)),
                                SD_JSON_BUILD_PAIR_VARIANT("devices", devices));
        sd_json_variant_unref(vcpus);
        sd_json_variant_unref(regions);
        sd_json_variant_unref(devices);
        return r < 0 ? r : 0;
}

int varlink_vm_devices(Vm *vm, Machine *machine, Console *console, sd_json_variant **ret) {
        sd_json_variant *list = NULL;
        VirtioDevice *d;
        unsigned slot;
        int r;

        r = sd_json_build(&list,
                             SD_JSON_BUILD_ARRAY(
                                     SD_JSON_BUILD_OBJECT(SD_JSON_BUILD_PAIR_STRING("name", "console"),
                                                          SD_JSON_BUILD_PAIR_STRING("type", "serial-8250"),
                                                          SD_JSON_BUILD_PAIR_UNSIGNED("port", X86_PORT_COM1)),
                                     SD_JSON_BUILD_OBJECT(SD_JSON_BUILD_PAIR_STRING("name", "pvpanic"),
                                                          SD_JSON_BUILD_PAIR_STRING("type", "pvpanic"),
                                                          SD_JSON_BUILD_PAIR_UNSIGNED("port", X86_PORT_PVPANIC)),
                                     SD_JSON_BUILD_OBJECT(SD_JSON_BUILD_PAIR_STRING("name", "reset"),
                                                          SD_JSON_BUILD_PAIR_STRING("type", "i8042"),
                                                          SD_JSON_BUILD_PAIR_UNSIGNED("port", X86_PORT_I8042_CMD))));
        for (size_t i = 0; r >= 0 && (d = machine_virtio_device(machine, i, &slot)); i++) {
                sd_json_variant *e = NULL;
                char pci[16];
                r = sd_json_buildo(&e,
                                   SD_JSON_BUILD_PAIR_STRING("name", d->id),
                                   SD_JSON_BUILD_PAIR_STRING("type", d->ops->type),
                                   SD_JSON_BUILD_PAIR_STRING("pci", pci_address(slot, pci)));
                if (r >= 0)
                        r = sd_json_variant_append_array(&list, e);
                sd_json_variant_unref(e);
        }
        if (r < 0) {
                sd_json_variant_unref(list);
                return r;
        }
        *ret = list;
        return 0;
}
