/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Inspect's tree and Describe's device list for the real VM: the vCPUs' states and exit counters, guest
 * memory, and the device tree, each device describing itself (core/device.h), plus the host side of the
 * console. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "console/console.h"
#include "control/varlink.h"

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

/* devices/: every device of the tree under its id, and the host side of the console. */
static int devices_tree(Vm *vm, Console *console, sd_json_variant **ret) {
        sd_json_variant *devices = NULL, *con = NULL;
        int r;

        r = device_tree_describe(vm->devices, &devices);
        if (r >= 0 && console) {
                r = console_tree(console, &con);
                if (r >= 0)
                        r = sd_json_variant_set_field(&devices, "console", con);
                sd_json_variant_unref(con);
        }
        if (r < 0) {
                sd_json_variant_unref(devices);
                return r;
        }
        *ret = devices;
        return 0;
}

int varlink_vm_inspect(Vm *vm, Console *console, sd_json_variant **ret) {
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
                r = devices_tree(vm, console, &devices);
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

int varlink_vm_devices(Vm *vm, sd_json_variant **ret) {
        return device_tree_list(vm->devices, ret);
}
