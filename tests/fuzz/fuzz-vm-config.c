/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "vm-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL;
        static bool initialized = false;
        uint64_t max, high;

        if (!initialized) {
                /* Messages are still formatted (the parser does that before the log level is
                 * consulted), only not written: SDVM_FUZZ_LOG=1 shows them. */
                if (!getenv("SDVM_FUZZ_LOG"))
                        log_set_max_level(-1);
                initialized = true;
        }

        if (vm_config_parse((const char *) data, size, "fuzz.conf", "fuzz", &c) < 0)
                return 0;

        /* What a successful parse promises: our own bugs if not, so crash loudly for the fuzzer. */
        if (!c || !c->kernel || c->kernel[0] != '/' || c->cpus < VM_CPUS_MIN || c->cpus > VM_CPUS_MAX ||
            c->memory < VM_MEMORY_MIN || c->memory > VM_MEMORY_MAX || c->memory % VM_MEMORY_ALIGN != 0 ||
            (c->initrd && c->initrd[0] != '/') || (c->cmdline && strlen(c->cmdline) > VM_CMDLINE_MAX) ||
            strcmp(c->name, "fuzz") != 0)
                abort();
        if ((c->cpu_quota != 0 && (c->cpu_quota < VM_CPU_QUOTA_MIN || c->cpu_quota > VM_CPU_QUOTA_MAX)) ||
            (c->cpu_weight != 0 && c->cpu_weight != VM_CPU_WEIGHT_IDLE &&
             (c->cpu_weight < VM_WEIGHT_MIN || c->cpu_weight > VM_WEIGHT_MAX)) ||
            (c->io_weight != 0 && (c->io_weight < VM_WEIGHT_MIN || c->io_weight > VM_WEIGHT_MAX)) ||
            (c->memory_overhead != 0 &&
             (c->memory_overhead < VM_MEMORY_OVERHEAD_MIN || c->memory_overhead > VM_MEMORY_OVERHEAD_MAX)) ||
            (c->allowed_cpus && (c->allowed_cpus[0] == 0 || strspn(c->allowed_cpus, "0123456789,-") !=
                                                                    strlen(c->allowed_cpus))) ||
            (c->description && c->description[0] && c->description[strlen(c->description) - 1] == '\\'))
                abort();
        max = vm_config_memory_max(c, &high);
        if (!(c->memory < high && high < max))
                abort();
        return 0;
}
