#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seeds of fuzz-virtqueue (input format in fuzz-virtqueue.c) into corpus/virtqueue/.
import os
import struct
import sys

REGION = 16 * 1024
HIGH = 0x10000
NEXT, WRITE, INDIRECT = 1, 2, 4


class Guest:
    def __init__(self):
        self.ram = bytearray(2 * REGION)

    def off(self, gpa):
        return gpa if gpa < REGION else REGION + gpa - HIGH

    def put(self, gpa, fmt, *v):
        struct.pack_into('<' + fmt, self.ram, self.off(gpa), *v)

    def desc(self, table, i, addr, length, flags=0, nxt=0):
        self.put(table + 16 * i, 'QIHH', addr, length, flags, nxt)


def seed(name, log2, flags, start, desc, avail, used, build, high=False):
    g = Guest()
    size = 1 << log2
    heads = build(g, size)
    for k, h in enumerate(heads):
        g.put(avail + 4 + 2 * ((start + k) % size), 'H', h)
    g.put(avail + 2, 'H', (start + len(heads)) & 0xffff)
    ram = bytes(g.ram) if high else bytes(g.ram[:REGION])
    data = struct.pack('<BBHIII', log2, flags, start, desc, avail, used) + ram.rstrip(b'\0')
    with open(os.path.join(sys.argv[1], name), 'wb') as f:
        f.write(data)


def direct(g, size):
    for j in range(3):
        g.desc(0x1000, 2 * j, 0x2000 + 0x100 * j, 16, NEXT, 2 * j + 1)
        g.desc(0x1000, 2 * j + 1, 0x2080 + 0x100 * j, 64, WRITE)
    return [0, 2, 4]


def indirect(g, size):
    g.desc(0x800, 0, 0x2000, 16, NEXT, 2)
    g.desc(0x800, 2, 0x2100, 32, NEXT | WRITE, 1)
    g.desc(0x800, 1, 0x2200, 32, WRITE)
    g.desc(0x1000, 0, 0x2300, 8, NEXT, 1)
    g.desc(0x1000, 1, 0x800, 48, INDIRECT)
    g.desc(0x1000, 2, 0x800, 48, INDIRECT | WRITE)
    return [0, 2]


def long_indirect(g, size):
    for i in range(256):
        g.desc(0x1000, i, 0x3000 + 4 * i, 4, NEXT if i < 255 else WRITE, i + 1)
    g.desc(0x2000, 0, 0x1000, 256 * 16, INDIRECT)
    return [0]


def hostile(g, size):
    g.desc(0x1000, 0, REGION - 8, 16)         # across the hole
    g.desc(0x1000, 1, 0x2000, 4, NEXT, 2)     # a loop
    g.desc(0x1000, 2, 0x2000, 4, NEXT, 1)
    g.desc(0x1000, 3, 0x2000, 0, NEXT | WRITE, 4)  # zero-length, then readable after writable
    g.desc(0x1000, 4, 0x2000, 4)
    return [5, 0, 1, 3]


def high_rings(g, size):
    for j in range(size):
        g.desc(HIGH, j, HIGH + 0x1000 + 16 * j, 16, WRITE)
    return list(range(size))


def event_idx(g, size):
    for j in range(size):
        g.desc(0x1000, j, 0x2000 + 16 * j, 16, NEXT if j % 2 == 0 else WRITE, j + 1)
    g.put(0x1800 + 4 + 2 * size, 'H', 0xffff)  # used_event
    return [0, 2, 4]


def edges(g, size):
    # An indirect table and buffers that end exactly where a region does.
    g.desc(REGION - 48, 0, REGION - 52, 4, NEXT, 1)
    g.desc(REGION - 48, 1, HIGH + REGION - 8, 8, NEXT | WRITE, 2)
    g.desc(REGION - 48, 2, HIGH, 8, WRITE)
    g.desc(0x1000, 0, REGION - 48, 48, INDIRECT)
    g.desc(0x1000, 1, HIGH + REGION - 1, 1, WRITE)
    return [0, 1]


def edge_rings(g, size):
    for j in range(size):
        g.desc(REGION - 16 * size, j, HIGH + REGION - 16, 16, NEXT if j + 1 < size else 0, j + 1)
    return [0]


seed('edges', 2, 2, 0, 0x1000, 0x1800, 0x1c00, edges, high=True)
seed('edge-rings', 3, 0, 0, REGION - 16 * 8, HIGH + REGION - 22, HIGH + REGION - 96, edge_rings, high=True)
seed('direct', 3, 0, 0, 0x1000, 0x1800, 0x1c00, direct)
seed('indirect', 2, 2, 0, 0x1000, 0x1800, 0x1c00, indirect)
seed('indirect-off', 2, 0, 0, 0x1000, 0x1800, 0x1c00, indirect)
seed('long-indirect', 8, 2, 0, 0x2000, 0x100, 0x400, long_indirect)
seed('hostile', 3, 2, 0, 0x1000, 0x1800, 0x1c00, hostile)
seed('high-rings', 4, 4, 0, HIGH, HIGH + 0x800, HIGH + 0xc00, high_rings, high=True)
seed('event-idx-wrap', 4, 1 | 2 | 4, 0xfffe, 0x1000, 0x1800, 0x1c00, event_idx)
