#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seeds of fuzz-snapshot (the input format is in fuzz-snapshot.c) into corpus/snapshot/:
# edits to the harness's valid file, and raw files built here from the format as snapshot.h documents
# it (a second writer, so that a seed that opens also says the documentation is right).
import os
import struct
import sys

RAW, EDITS, FIX_CRC, FIX_SIZE = 0, 1, 2, 4
MIB = 1 << 20
RAM = 128 * MIB
HOLE, HIGH = 64 * MIB, 4 << 30
RAM_EDITS = 0x8000

# Where the fields of the harness's valid file are: a 40-byte state (two records), three extents.
IDENTITY = 32
STATE = IDENTITY + 728 + 16
RAM_TABLE = STATE + 40 + 16
EXTENTS = RAM_TABLE + 56
END = EXTENTS + 3 * 32 + 16


def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82f63b78 if crc & 1 else crc >> 1
    return crc ^ 0xffffffff


def edits(*e):
    return b''.join(struct.pack('<HB', off, xor) for off, xor in e)


def slots(start, n):
    """Edits that change nothing, one per byte: a mutation of one of their masks edits that byte."""
    return [(off, 0) for off in range(start, start + n)]


def section(tag, data, flags=0):
    return struct.pack('<4sIQ', tag, flags, len(data)) + data


def identity(name=b'raw', memory=RAM, cpus=1, tsc_khz=0, disks=()):
    d = b''.join(struct.pack('<QQQqII', *disk, 0) for disk in disks)
    d += bytes(40 * (16 - len(disks)))
    return struct.pack('<64sQIIII', name, memory, cpus, tsc_khz, len(disks), 0) + d


def state_records(*records):
    out = b''
    for tag, data in records:
        out += struct.pack('<4sI', tag, len(data)) + data + bytes(-len(data) % 8)
    return out


def ram_table(regions, data_offset, extents):
    """extents: (ram_offset, length); the data is left as holes, so each CRC is that of zeros."""
    zero_page_crc = crc32c(bytes(4096))
    h = struct.pack('<II', len(regions), 0)
    for i in range(2):
        h += struct.pack('<QQ', *(regions[i] if i < len(regions) else (0, 0)))
    h += struct.pack('<QQ', data_offset, len(extents))
    for off, length in extents:
        crc = zero_page_crc if length == 4096 else crc32c(bytes(length))
        h += struct.pack('<QQQII', off, length, data_offset + off, crc, 0)
    return h


def raw_file(sections, version=1):
    head = b'SDVMSNAP' + struct.pack('<II', version, 0) + b''.join(sections)
    head += struct.pack('<4sIQ', b'end ', 0, 8)
    return head + struct.pack('<II', crc32c(head), 0)


TWO = [(0, HOLE), (HIGH, RAM - HOLE)]
STATE_DATA = state_records((b'raw1', struct.pack('<Q', 7)), (b'raw2', b'abc'))
GOOD = [section(b'idty', identity(disks=[(1 << 30, 0x801, 5, 1700000000, 0)])),
        section(b'stat', STATE_DATA),
        section(b'ram ', ram_table(TWO, 2 * MIB, [(0, 4096), (MIB, 8192), (RAM - 4096, 4096)]))]

SEEDS = {
    'valid': bytes([EDITS]),
    'valid-fixed': bytes([EDITS | FIX_CRC]),
    # Every byte of the header, identity, RAM table and end section open to edits behind the checksum.
    'identity-fields': bytes([EDITS | FIX_CRC]) + edits(*slots(0, 16), *slots(IDENTITY, 128)),
    'table-fields': bytes([EDITS | FIX_CRC]) + edits(*slots(STATE - 16, 16), *slots(RAM_TABLE - 16, 16 + 56 + 96),
                                                     *slots(END - 16, 24)),
    # RAM data changed in an extent (verify and read refuse it), and in a hole (verify refuses it).
    'ram-edit': bytes([EDITS]) + edits((RAM_EDITS + 10, 0x40)),
    'hole-edit': bytes([EDITS]) + edits((RAM_EDITS + 512, 0x01)),
    # The extent table shifted: extent 1 moved by a page, overlapping or out of range.
    'extent-moved': bytes([EDITS | FIX_CRC]) + edits((EXTENTS + 32 + 1, 0x10), (EXTENTS + 32 + 16 + 1, 0x10)),
    'raw-valid': bytes([RAW | FIX_SIZE]) + raw_file(GOOD),
    'raw-reordered': bytes([RAW | FIX_SIZE]) + raw_file([GOOD[2], GOOD[0], GOOD[1]]),
    'raw-optional': bytes([RAW | FIX_SIZE]) + raw_file(GOOD[:1] + [section(b'note', b'later', 1)] + GOOD[1:]),
    'raw-one-region': bytes([RAW | FIX_SIZE]) + raw_file(
        GOOD[:2] + [section(b'ram ', ram_table([(0, RAM)], 2 * MIB, [(0, 4096)]))]),
    'raw-no-extents': bytes([RAW | FIX_SIZE]) + raw_file(GOOD[:2] + [section(b'ram ', ram_table(TWO, 2 * MIB, []))]),
    'raw-twice': bytes([RAW | FIX_SIZE]) + raw_file(GOOD + GOOD[1:2]),
    'raw-missing': bytes([RAW | FIX_SIZE]) + raw_file(GOOD[1:]),
    'raw-version': bytes([RAW | FIX_SIZE]) + raw_file(GOOD, version=2),
    'raw-unsized': bytes([RAW]) + raw_file(GOOD),
    'raw-half': bytes([RAW]) + raw_file(GOOD)[:500],
}

if __name__ == '__main__':
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, seed in SEEDS.items():
        with open(os.path.join(sys.argv[1], name), 'wb') as f:
            f.write(seed)
