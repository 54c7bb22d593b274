/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "core/state.h"

/* Each record: tag (4 bytes LE), length (4 bytes LE), the bytes, zero padding to 8. */
#define HEADER 8U

static size_t padded(size_t n) {
        return (n + 7U) & ~(size_t) 7U;
}

int state_write(StateWriter *w, uint32_t tag, const void *rec, size_t size) {
        size_t need;

        if (size > STATE_RECORD_MAX)
                return -EINVAL;
        need = w->size + HEADER + padded(size);
        if (need > w->allocated) {
                size_t a = w->allocated ? w->allocated : 4096;
                uint8_t *p;
                while (a < need)
                        a *= 2;
                p = realloc(w->data, a);
                if (!p)
                        return -ENOMEM;
                w->data = p;
                w->allocated = a;
        }
        le_write(w->data + w->size, 4, tag);
        le_write(w->data + w->size + 4, 4, size);
        if (size > 0)
                memcpy(w->data + w->size + HEADER, rec, size);
        memset(w->data + w->size + HEADER + size, 0, padded(size) - size);
        w->size = need;
        return 0;
}

void state_writer_done(StateWriter *w) {
        free(w->data);
        *w = (StateWriter) {};
}

int state_peek(const StateReader *r, uint32_t *ret_tag) {
        if (r->offset >= r->size)
                return -ENODATA;
        if (r->size - r->offset < HEADER)
                return -EBADMSG;
        *ret_tag = (uint32_t) le_read(r->data + r->offset, 4);
        return 0;
}

int state_read(StateReader *r, uint32_t tag, void *rec, size_t size) {
        size_t left = r->size - r->offset;
        uint64_t len;

        if (left < HEADER || (uint32_t) le_read(r->data + r->offset, 4) != tag)
                return -EBADMSG;
        len = le_read(r->data + r->offset + 4, 4);
        if (len != size || padded(len) > left - HEADER)
                return -EBADMSG;
        if (size > 0)
                memcpy(rec, r->data + r->offset + HEADER, size);
        r->offset += HEADER + padded(size);
        return 0;
}
