/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpuid.h"
#include "cleanup.h"

#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT (1U << 28)
#define CPUID_EXT1_ECX_CMP_LEGACY (1U << 1)
#define KVM_CPUID_SIGNATURE 0x40000000U

static struct kvm_cpuid2 *cpuid_alloc(uint32_t n) {
        struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof c->entries[0]);
        if (c)
                c->nent = n;
        return c;
}

int x86_cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **ret) {
        _cleanup_free_ struct kvm_cpuid2 *c = cpuid_alloc(X86_CPUID_ENTRIES_MAX);

        if (!c)
                return -ENOMEM;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0)
                return -errno;
        *ret = TAKE_PTR(c);
        return 0;
}

const struct kvm_cpuid_entry2 *x86_cpuid_find(const struct kvm_cpuid2 *c, uint32_t function, uint32_t index) {
        for (uint32_t i = 0; i < c->nent; i++) {
                const struct kvm_cpuid_entry2 *e = &c->entries[i];
                if (e->function == function &&
                    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
                        return e;
        }
        return NULL;
}

static unsigned bits_for(uint32_t n) {
        unsigned b = 0;
        while ((1U << b) < n)
                b++;
        return b;
}

/* Leaves 0xB/0x1F: level 0 is SMT (one thread per core), level 1 the cores of our one socket. */
static void topology_leaf(struct kvm_cpuid_entry2 *e, uint32_t index, uint32_t n) {
        e->edx = index; /* x2APIC ID */
        switch (e->index) {
        case 0:
                e->eax = 0;
                e->ebx = 1;
                e->ecx = 1U << 8 | 0;
                break;
        case 1:
                e->eax = bits_for(n);
                e->ebx = n;
                e->ecx = 2U << 8 | 1;
                break;
        default: /* invalid level: only the level number in ECX[7:0] */
                e->eax = e->ebx = 0;
                e->ecx = e->index & 0xff;
                break;
        }
}

int x86_cpuid_for_vcpu(const struct kvm_cpuid2 *supported, uint32_t index, uint32_t n, struct kvm_cpuid2 **ret) {
        _cleanup_free_ struct kvm_cpuid2 *c = NULL;
        bool have_kvm_leaf = false;
        uint32_t nent = 0;

        if (n == 0 || n > 255 || index >= n || supported->nent > X86_CPUID_ENTRIES_MAX)
                return -EINVAL;
        c = cpuid_alloc(supported->nent + 1);
        if (!c)
                return -ENOMEM;

        for (uint32_t i = 0; i < supported->nent; i++) {
                struct kvm_cpuid_entry2 e = supported->entries[i];

                switch (e.function) {
                case 0x1:
                        e.ebx = (e.ebx & 0x0000ffffU) | index << 24 | (n > 1 ? n : 1) << 16;
                        e.ecx |= CPUID_1_ECX_HYPERVISOR;
                        if (n > 1)
                                e.edx |= CPUID_1_EDX_HTT;
                        else
                                e.edx &= ~CPUID_1_EDX_HTT;
                        break;
                case 0x4: /* deterministic cache parameters: cores per package, sharing per level */
                        if ((e.eax & 0x1f) == 0)
                                break;
                        e.eax &= 0x3fff;
                        e.eax |= (n - 1 < 63 ? n - 1 : 63) << 26; /* a 6-bit field */
                        if (((e.eax >> 5) & 0x7) >= 3) /* L3 is shared by the package */
                                e.eax |= (n - 1) << 14;
                        break;
                case 0xb:
                case 0x1f:
                        topology_leaf(&e, index, n);
                        break;
                case 0x80000001:
                        if (n > 1)
                                e.ecx |= CPUID_EXT1_ECX_CMP_LEGACY;
                        else
                                e.ecx &= ~CPUID_EXT1_ECX_CMP_LEGACY;
                        break;
                case 0x80000008: /* AMD: NC = cores - 1, ApicIdCoreIdSize */
                        e.ecx = (e.ecx & ~0xf0ffU) | (n - 1) | bits_for(n) << 12;
                        break;
                case 0x8000001e: /* AMD: extended APIC ID, core ID, one thread per core */
                        e.eax = index;
                        e.ebx = (e.ebx & ~0xffffU) | (index & 0xff);
                        e.ecx &= ~0xffU;
                        break;
                case KVM_CPUID_SIGNATURE:
                        have_kvm_leaf = true;
                        break;
                default:
                        break;
                }
                c->entries[nent++] = e;
        }

        /* KVM offers its signature leaf; make sure the guest sees one even if it did not. */
        if (!have_kvm_leaf)
                c->entries[nent++] = (struct kvm_cpuid_entry2) {
                        .function = KVM_CPUID_SIGNATURE,
                        .eax = KVM_CPUID_SIGNATURE,
                        .ebx = 0x4b4d564b, /* "KVMKVMKVM\0\0\0" */
                        .ecx = 0x564b4d56,
                        .edx = 0x4d,
                };
        c->nent = nent;
        *ret = TAKE_PTR(c);
        return 0;
}
