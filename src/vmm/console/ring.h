/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A byte ring that keeps the most recent `size` bytes written to it. Positions are absolute byte counts
 * since creation (64-bit, they never wrap), so several readers can each keep their own position and
 * tell whether what they have not read yet was overwritten. No locking: the owner serialises. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ByteRing {
        uint8_t *buf;
        size_t size;  /* a power of two */
        uint64_t end; /* bytes written so far: the position the next byte gets */
} ByteRing;

/* size is rounded up to a power of two (at least 16). */
int byte_ring_init(ByteRing *r, size_t size);
void byte_ring_done(ByteRing *r);

/* Appends, overwriting the oldest bytes when full. */
void byte_ring_write(ByteRing *r, const void *data, size_t n);
/* The oldest position still held. */
uint64_t byte_ring_start(const ByteRing *r);
/* Copies up to n bytes from position pos on. Returns how many (0 at the end), or -ERANGE if pos was
 * overwritten already (or lies beyond the end). */
ssize_t byte_ring_read(const ByteRing *r, uint64_t pos, void *buf, size_t n);
/* Where a reader that wants the last `back` bytes should start so that it starts at a line: the window's
 * start if that is the very first byte or follows a newline, else the position after the first newline
 * in the window's first `scan` bytes, else the window's start. */
uint64_t byte_ring_tail_start(const ByteRing *r, size_t back, size_t scan);
