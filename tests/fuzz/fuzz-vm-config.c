/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "vm-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL;
        static bool initialized = false;

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
        return 0;
}
