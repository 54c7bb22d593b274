#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seeds of fuzz-device-state (the input format is in fuzz-device-state.c) into
# corpus/device-state/: each device's own record unedited, and a few edits that a restore takes.
import os
import struct
import sys

BLK, RNG, NET, BUILT_ONLY = 0, 1, 2, 4
# Offsets in VirtioPciState (device/virtio/virtio-pci.h).
VIRTIO = 8 + 264 + 1040 + 32
STATUS = VIRTIO + 4
VQ0 = VIRTIO + 24
LAST_AVAIL, BROKEN, DESC_GPA, USED_GPA, N_POPPED = 6, 13, 24, 40, 48
NEEDS_RESET = 64
RINGS0 = 0x1000


def edits(*e):
    return b''.join(struct.pack('<HB', off, xor) for off, xor in e)


def field(off, old, new, size):
    x = old ^ new
    return [(off + i, (x >> (8 * i)) & 0xff) for i in range(size) if (x >> (8 * i)) & 0xff]


def slots(start, n):
    """Edits that change nothing, one per byte of [start, start + n): a mutation of one of their values
    then edits that byte, where a blind offset would rarely hit it."""
    return [(off, 0) for off in range(start, start + n)]


SEEDS = {
    'blk': bytes([BLK]),
    'rng': bytes([RNG]),
    'net': bytes([NET]),
    'blk-built': bytes([BLK | BUILT_ONLY]),
    'rng-built': bytes([RNG | BUILT_ONLY]),
    'net-built': bytes([NET | BUILT_ONLY]),
    # Two more chains popped than pushed: the restored queue finds the driver behind it.
    'rng-ahead': bytes([RNG]) + edits((VQ0 + LAST_AVAIL, 2), (VQ0 + N_POPPED, 2)),
    # A broken receive queue, with NEEDS_RESET as it must have.
    'net-broken': bytes([NET]) + edits((VQ0 + BROKEN, 1), (STATUS, NEEDS_RESET)),
    # The descriptor table moved elsewhere in RAM, the used ring to its very end.
    'blk-moved': bytes([BLK]) + edits(*field(VQ0 + DESC_GPA, RINGS0, 0x8000, 8),
                                      *field(VQ0 + USED_GPA, RINGS0 + 0x2000, 0x10000 - 136, 8)),
    # Every byte of the core record's header and first queue (both queues for net) open to edits.
    'blk-fields': bytes([BLK]) + edits(*slots(STATUS, 20), *slots(VQ0, 64)),
    'rng-fields': bytes([RNG]) + edits(*slots(STATUS, 20), *slots(VQ0, 64)),
    'net-fields': bytes([NET]) + edits(*slots(STATUS, 20), *slots(VQ0, 128)),
}

if __name__ == '__main__':
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, seed in SEEDS.items():
        with open(os.path.join(sys.argv[1], name), 'wb') as f:
            f.write(seed)
