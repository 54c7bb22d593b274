/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "console/ring.h"

int byte_ring_init(ByteRing *r, size_t size) {
        size_t s = 16;

        while (s < size) {
                if (s > SIZE_MAX / 2)
                        return -EINVAL;
                s <<= 1;
        }
        *r = (ByteRing) { .buf = malloc(s), .size = s };
        if (!r->buf)
                return -ENOMEM;
        return 0;
}

void byte_ring_done(ByteRing *r) {
        free(r->buf);
        *r = (ByteRing) {};
}

void byte_ring_write(ByteRing *r, const void *data, size_t n) {
        const uint8_t *p = data;

        if (n > r->size) { /* only the last size bytes survive */
                r->end += n - r->size;
                p += n - r->size;
                n = r->size;
        }
        while (n > 0) {
                size_t off = (size_t) (r->end & (r->size - 1));
                size_t k = r->size - off < n ? r->size - off : n;

                memcpy(r->buf + off, p, k);
                r->end += k;
                p += k;
                n -= k;
        }
}

uint64_t byte_ring_start(const ByteRing *r) {
        return r->end > r->size ? r->end - r->size : 0;
}

ssize_t byte_ring_read(const ByteRing *r, uint64_t pos, void *buf, size_t n) {
        uint8_t *out = buf;
        size_t done = 0;

        if (pos < byte_ring_start(r) || pos > r->end)
                return -ERANGE;
        if (n > r->end - pos)
                n = (size_t) (r->end - pos);
        while (done < n) {
                size_t off = (size_t) ((pos + done) & (r->size - 1));
                size_t k = r->size - off < n - done ? r->size - off : n - done;

                memcpy(out + done, r->buf + off, k);
                done += k;
        }
        return (ssize_t) n;
}

uint64_t byte_ring_tail_start(const ByteRing *r, size_t back, size_t scan) {
        uint64_t start = byte_ring_start(r), pos;

        if (back < r->end - start)
                start = r->end - back;
        if (start == 0 || (start > byte_ring_start(r) && r->buf[(start - 1) & (r->size - 1)] == '\n'))
                return start; /* already at the start of a line */
        for (pos = start; pos < r->end && pos - start < scan; pos++)
                if (r->buf[pos & (r->size - 1)] == '\n')
                        return pos + 1;
        return start;
}
