/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest's CPUID: what KVM_GET_SUPPORTED_CPUID offers, with the hypervisor bit and leaf set and
 * a topology of one socket with n_vcpus cores (one thread each) whose APIC IDs are the vCPU
 * indexes, so the guest sees exactly the configured vCPUs. */

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#define X86_CPUID_ENTRIES_MAX 256

/* Allocates a kvm_cpuid2 with room for X86_CPUID_ENTRIES_MAX entries and fills it from KVM. */
int x86_cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **ret);
/* Returns a copy of `supported` adjusted for vCPU `index` of `n_vcpus` (1..255). */
int x86_cpuid_for_vcpu(const struct kvm_cpuid2 *supported, uint32_t index, uint32_t n_vcpus,
                       struct kvm_cpuid2 **ret);
/* Lookup helper for tests and inspect: NULL if absent. */
const struct kvm_cpuid_entry2 *x86_cpuid_find(const struct kvm_cpuid2 *c, uint32_t function, uint32_t index);
