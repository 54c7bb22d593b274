/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A device's saved state: a sequence of records, each a tag, a length and a fixed-layout struct
 * whose first field is its version (SerialState and friends). The writer grows a buffer; the reader
 * takes nothing on trust: a record of another tag or length is -EBADMSG, and what a record says is
 * for the device's own restore check to judge. The snapshot file (its header, per-device framing and
 * checksum) is built on this. */

#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"

typedef struct StateWriter {
        uint8_t *data;
        size_t size, allocated;
} StateWriter;

typedef struct StateReader {
        const uint8_t *data;
        size_t size, offset;
} StateReader;

/* Appends one record. -ENOMEM, or -EINVAL for a record over STATE_RECORD_MAX. */
#define STATE_RECORD_MAX (1U << 20)
int state_write(StateWriter *w, uint32_t tag, const void *rec, size_t size);
void state_writer_done(StateWriter *w);

/* Copies the next record into rec, which it must fill exactly. -EBADMSG for another tag, another
 * length or a truncated buffer; the reader does not move then. */
int state_read(StateReader *r, uint32_t tag, void *rec, size_t size);
/* The next record's tag without taking it; -ENODATA at the end. */
int state_peek(const StateReader *r, uint32_t *ret_tag);
static inline StateReader state_reader(const void *data, size_t size) {
        return (StateReader) { .data = data, .size = size };
}

/* Four-character tags, so that a hex dump of a state file is readable. */
#define STATE_TAG(a, b, c, d) ((uint32_t) (a) | (uint32_t) (b) << 8 | (uint32_t) (c) << 16 | (uint32_t) (d) << 24)
