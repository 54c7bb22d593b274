/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Guest RAM: one memfd, mapped once, exposed to the guest as up to two regions around the PCI hole
 * (x86: [0, 3 GiB) and [4 GiB, ...)). Every guest-physical access from the host goes through
 * guest_ptr()/guest_read()/guest_write(), which refuse ranges that are not wholly inside one region. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEMORY_REGIONS_MAX 2

typedef struct GuestRegion {
        uint64_t gpa;
        uint64_t size;
        uint8_t *host;
} GuestRegion;

typedef struct GuestMemory {
        int memfd;
        uint64_t ram_size;
        uint8_t *map;
        GuestRegion regions[GUEST_MEMORY_REGIONS_MAX];
        size_t n_regions;
        /* Set by snapshot_map_ram(): the regions are a MAP_PRIVATE mapping of that file (st_dev, st_ino),
         * and the memfd no longer holds the guest's RAM, so a later save must read it from the mapping. */
        bool file_mapped;
        uint64_t file_dev, file_ino;
} GuestMemory;

/* hole_start: where RAM stops below 4 GiB (the PCI hole); high_start: where the rest continues. */
int guest_memory_new(uint64_t ram_size, uint64_t hole_start, uint64_t high_start, GuestMemory **ret);
GuestMemory *guest_memory_free(GuestMemory *m);

/* Host pointer for [gpa, gpa+len), or NULL if that range is not wholly guest RAM (len 0 is refused). */
void *guest_ptr(const GuestMemory *m, uint64_t gpa, uint64_t len);
int guest_read(const GuestMemory *m, uint64_t gpa, void *dst, size_t len);        /* -EFAULT */
int guest_write(const GuestMemory *m, uint64_t gpa, const void *src, size_t len); /* -EFAULT */
/* End of the region that starts at 0 (RAM below the hole). */
uint64_t guest_memory_low_end(const GuestMemory *m);
