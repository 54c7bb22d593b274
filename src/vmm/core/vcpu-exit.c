/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"
#include "string-table.h"
#include "core/vcpu-exit.h"

static const char *const vcpu_exit_kind_table[_VCPU_EXIT_KIND_MAX] = {
        [VCPU_EXIT_KIND_IO] = "io",
        [VCPU_EXIT_KIND_MMIO] = "mmio",
        [VCPU_EXIT_KIND_HLT] = "hlt",
        [VCPU_EXIT_KIND_INTR] = "intr",
        [VCPU_EXIT_KIND_SHUTDOWN] = "shutdown",
        [VCPU_EXIT_KIND_OTHER] = "other",
        [VCPU_EXIT_KIND_UNHANDLED_IO] = "unhandled-io",
};

DEFINE_STRING_TABLE_TO_STRING(vcpu_exit_kind, VcpuExitKind);

static VcpuExitAction handle_io(struct kvm_run *run, size_t run_size, Bus *pio, VcpuExitStats *stats) {
        uint32_t size = run->io.size, count = run->io.count;
        uint64_t off = run->io.data_offset;
        bool write = run->io.direction == KVM_EXIT_IO_OUT;
        uint8_t *data;

        /* KVM fills these, but a bad value would make us write outside the mapping: check. */
        if ((size != 1 && size != 2 && size != 4) || count == 0 || off > run_size ||
            (uint64_t) size * count > run_size - off) {
                log_error("vCPU I/O exit with impossible geometry (port 0x%x size %u count %u offset %llu)",
                          run->io.port, size, count, (unsigned long long) off);
                return VCPU_EXIT_FAILED;
        }
        data = (uint8_t *) run + off;
        for (uint32_t i = 0; i < count; i++)
                if (!bus_dispatch(pio, run->io.port, data + (size_t) i * size, size, write)) {
                        stats->count[VCPU_EXIT_KIND_UNHANDLED_IO]++;
                        log_debug("Unhandled %s of %u bytes at port 0x%x", write ? "write" : "read", size,
                                  run->io.port);
                }
        return VCPU_EXIT_CONTINUE;
}

VcpuExitAction vcpu_exit_dispatch(struct kvm_run *run, size_t run_size, Bus *pio, Bus *mmio,
                                  VcpuExitStats *stats) {
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
                stats->count[VCPU_EXIT_KIND_IO]++;
                return handle_io(run, run_size, pio, stats);
        case KVM_EXIT_MMIO:
                stats->count[VCPU_EXIT_KIND_MMIO]++;
                if (run->mmio.len == 0 || run->mmio.len > sizeof run->mmio.data)
                        return VCPU_EXIT_FAILED;
                if (!bus_dispatch(mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len, run->mmio.is_write))
                        stats->count[VCPU_EXIT_KIND_UNHANDLED_IO]++;
                return VCPU_EXIT_CONTINUE;
        case KVM_EXIT_HLT: /* with the in-kernel LAPIC, HLT stays in the kernel; harmless if not */
                stats->count[VCPU_EXIT_KIND_HLT]++;
                return VCPU_EXIT_CONTINUE;
        case KVM_EXIT_INTR:
                stats->count[VCPU_EXIT_KIND_INTR]++;
                return VCPU_EXIT_CONTINUE;
        case KVM_EXIT_SHUTDOWN:
                stats->count[VCPU_EXIT_KIND_SHUTDOWN]++;
                return VCPU_EXIT_TRIPLE_FAULT;
        case KVM_EXIT_FAIL_ENTRY:
                stats->count[VCPU_EXIT_KIND_OTHER]++;
                log_error("KVM could not enter the guest (hardware reason 0x%llx)",
                          (unsigned long long) run->fail_entry.hardware_entry_failure_reason);
                return VCPU_EXIT_FAILED;
        case KVM_EXIT_INTERNAL_ERROR:
                stats->count[VCPU_EXIT_KIND_OTHER]++;
                log_error("KVM internal error (suberror %u)", run->internal.suberror);
                return VCPU_EXIT_FAILED;
        default:
                stats->count[VCPU_EXIT_KIND_OTHER]++;
                log_error("Unhandled vCPU exit reason %u", run->exit_reason);
                return VCPU_EXIT_FAILED;
        }
}
