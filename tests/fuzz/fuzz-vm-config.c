/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "vm-config.h"

/* What TUNSETIFF and SIOCBRADDIF can take as they are: 1..15 bytes of ASCII, no '/', ':', '%' or space. */
static bool ifname_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= 0x20 || s[i] > 0x7e || strchr("/:%", s[i]))
                        return false;
        return true;
}

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
        if (c->n_disks > VM_DISKS_MAX || c->n_networks > VM_NETWORKS_MAX || (c->n_disks > 0) != !!c->disks ||
            (c->n_networks > 0) != !!c->networks)
                abort();
        for (size_t i = 0; i < c->n_disks; i++) {
                const VmDisk *d = c->disks + i;
                size_t n;

                if (!d->path || d->path[0] != '/' || !d->serial || d->line == 0)
                        abort();
                n = strlen(d->serial);
                if (n == 0 || n > VM_DISK_SERIAL_MAX)
                        abort();
                for (size_t k = 0; k < n; k++)
                        if (d->serial[k] < 0x20 || d->serial[k] > 0x7e)
                                abort();
                for (size_t j = 0; j < i; j++)
                        if (strcmp(d->path, c->disks[j].path) == 0 || strcmp(d->serial, c->disks[j].serial) == 0 ||
                            d->line <= c->disks[j].line)
                                abort();
        }
        for (size_t i = 0; i < c->n_networks; i++) {
                const VmNetwork *w = c->networks + i;

                if (!w->tap || !ifname_ok(w->tap) || (w->bridge && (!ifname_ok(w->bridge) ||
                                                                     strcmp(w->bridge, w->tap) == 0)) ||
                    (w->mac[0] & 1) || !(w->mac[0] | w->mac[1] | w->mac[2] | w->mac[3] | w->mac[4] | w->mac[5]) ||
                    w->line == 0)
                        abort();
                for (size_t j = 0; j < i; j++)
                        if (strcmp(w->tap, c->networks[j].tap) == 0 ||
                            memcmp(w->mac, c->networks[j].mac, sizeof w->mac) == 0 || w->line <= c->networks[j].line)
                                abort();
        }
        max = vm_config_memory_max(c, &high);
        if (!(c->memory < high && high < max))
                abort();
        return 0;
}
