/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cleanup.h"
#include "core/memory.h"

GuestMemory *guest_memory_free(GuestMemory *m) {
        if (!m)
                return NULL;
        if (m->map && m->map != MAP_FAILED)
                (void) munmap(m->map, m->ram_size);
        safe_close(m->memfd);
        free(m);
        return NULL;
}
DEFINE_FREEP(GuestMemory, guest_memory_free);

int guest_memory_new(uint64_t ram_size, uint64_t hole_start, uint64_t high_start, GuestMemory **ret) {
        _cleanup_(guest_memory_freep) GuestMemory *m = NULL;
        uint64_t low;

        if (ram_size == 0 || ram_size % 4096 || hole_start % 4096 || high_start < hole_start ||
            ram_size - (ram_size > hole_start ? hole_start : ram_size) > UINT64_MAX - high_start)
                return -EINVAL;

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->memfd = memfd_create("guest-ram", MFD_CLOEXEC);
        if (m->memfd < 0)
                return -errno;
        if (ftruncate(m->memfd, (off_t) ram_size) < 0)
                return -errno;
        m->map = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->memfd, 0);
        if (m->map == MAP_FAILED)
                return -errno;
        m->ram_size = ram_size;
        /* Guest RAM is not worth dumping with vmm on a crash, and may be large. */
        (void) madvise(m->map, ram_size, MADV_DONTDUMP);

        low = ram_size < hole_start ? ram_size : hole_start;
        m->regions[m->n_regions++] = (GuestRegion) { .gpa = 0, .size = low, .host = m->map };
        if (ram_size > low)
                m->regions[m->n_regions++] = (GuestRegion) {
                        .gpa = high_start, .size = ram_size - low, .host = m->map + low,
                };
        *ret = TAKE_PTR(m);
        return 0;
}

void *guest_ptr(const GuestMemory *m, uint64_t gpa, uint64_t len) {
        if (len == 0)
                return NULL;
        for (size_t i = 0; i < m->n_regions; i++) {
                const GuestRegion *r = &m->regions[i];
                /* written to be overflow-proof: gpa + len may wrap */
                if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
                        return r->host + (gpa - r->gpa);
        }
        return NULL;
}

int guest_read(const GuestMemory *m, uint64_t gpa, void *dst, size_t len) {
        void *p = guest_ptr(m, gpa, len);
        if (!p)
                return -EFAULT;
        memcpy(dst, p, len);
        return 0;
}

int guest_write(const GuestMemory *m, uint64_t gpa, const void *src, size_t len) {
        void *p = guest_ptr(m, gpa, len);
        if (!p)
                return -EFAULT;
        memcpy(p, src, len);
        return 0;
}

uint64_t guest_memory_low_end(const GuestMemory *m) {
        return m->regions[0].size;
}
