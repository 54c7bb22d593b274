#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seeds of fuzz-virtio-pci (the program format is in fuzz-virtio-pci.c) into corpus/virtio-pci/.
import os
import struct
import sys

BLK, RNG, NET = 0, 1, 2
NEXT, WRITE, INDIRECT = 1, 2, 4
NO_EVENT_IDX, NO_INDIRECT, NO_VERSION_1, UNOFFERED = 1, 2, 4, 8
WIDTH = {1: 0, 2: 2, 4: 4, 8: 6}
NOTIFY, MSIX_TABLE, MSIX_PBA, DEVICE_CFG, ISR = 0x3000, 0x4000, 0x5000, 0x2000, 0x1000


class Program:
    def __init__(self, flags=0):
        self.b = bytearray([flags])

    def op(self, code, fmt='', *v):
        self.b += bytes([code]) + struct.pack('<' + fmt, *v)
        return self

    def pio(self, port, value=0, width=4, write=True):
        return self.op(0, 'BQB', WIDTH[width] | write, value, port)

    def cfg(self, slot, reg, value=0, width=4, write=True):
        return self.op(1, 'BQBB', WIDTH[width] | write, value, slot, reg)

    def bar(self, dev, off, value=0, width=4, write=True):
        return self.op(2, 'BQBH', WIDTH[width] | write, value, dev, off)

    def mmio(self, off, value=0, width=4, write=True):
        return self.op(3, 'BQI', WIDTH[width] | write, value, off)

    def mem(self, gpa, data):
        high = gpa >= 1 << 32
        off = gpa - (1 << 32) if high else gpa
        for i in range(0, len(data), 255):
            chunk = data[i:i + 255]
            self.op(4, 'BHB', high, off + i, len(chunk))
            self.b += chunk
        return self

    def desc(self, table, i, addr, length, flags=0, nxt=0):
        return self.mem(table + 16 * i, struct.pack('<QIHH', addr, length, flags, nxt))

    def avail(self, dev, q, head):
        return self.op(5, 'BBH', dev, q, head)

    def kick(self, dev, q):
        return self.op(6, 'BB', dev, q)

    def frame(self, data, length=None):
        self.op(7, 'HB', len(data) if length is None else length, len(data))
        self.b += data
        return self

    def up(self, dev, log2_size=4, changes=0, base=0x10):
        return self.op(8, 'BBBB', dev, log2_size, changes, base)

    def msix(self, dev, flags=1):
        return self.op(9, 'BB', dev, flags)

    def drain(self):
        return self.op(10)

    def status(self, dev, s):
        return self.bar(dev, 0x14, s, 1)


def queue(base, q):
    """Where the UP operation puts queue q: desc, avail, used."""
    d = base * 256 + q * 0x2000
    return d, d + 0x1000, d + 0x1400


def blk_req(p, desc, hdr, typ, sector, data_len, data_flags, status, head=0, extra=b''):
    p.mem(hdr, struct.pack('<IIQ', typ, 0, sector) + extra)
    out_len = 16 + len(extra)
    if data_len:
        p.desc(desc, head, hdr, out_len, NEXT, head + 1)
        p.desc(desc, head + 1, hdr + 0x100, data_len, NEXT | data_flags, head + 2)
        p.desc(desc, head + 2, status, 1, WRITE)
    else:
        p.desc(desc, head, hdr, out_len, NEXT, head + 1)
        p.desc(desc, head + 1, status, 1, WRITE)
    return p.avail(BLK, 0, head).kick(BLK, 0)


def blk():
    p = Program().up(BLK).msix(BLK)
    d, _, _ = queue(0x10, 0)
    p.mem(0x8100, bytes(range(256)) * 2)
    blk_req(p, d, 0x8000, 1, 8, 512, 0, 0x8f00)             # write
    blk_req(p, d, 0x8000, 0, 8, 512, WRITE, 0x8f00)         # read
    blk_req(p, d, 0x8000, 0, 127, 1024, WRITE, 0x8f00)      # read past the end
    blk_req(p, d, 0x8000, 8, 0, 20, WRITE, 0x8f00)          # GET_ID
    blk_req(p, d, 0x8000, 4, 0, 0, 0, 0x8f00)               # flush
    seg = struct.pack('<QII', 4, 8, 0)
    blk_req(p, d, 0x8000, 11, 0, 0, 0, 0x8f00, extra=seg)   # discard
    blk_req(p, d, 0x8000, 13, 0, 0, 0, 0x8f00, extra=seg)   # write zeroes
    blk_req(p, d, 0x8000, 99, 0, 0, 0, 0x8f00)              # unsupported
    p.desc(d, 0, 0x8000, 16)                                # no status byte: NEEDS_RESET
    p.avail(BLK, 0, 0).kick(BLK, 0).kick(BLK, 0)
    p.up(BLK)
    blk_req(p, d, 0x8000, 0, 0, 512, WRITE, 0x8f00)
    return p


def blk_ro():
    p = blk()
    p.b[0] = 1
    return p


def blk_indirect():
    p = Program().up(BLK, 3).msix(BLK, 1)
    d, _, _ = queue(0x10, 0)
    t = 0x6000
    p.mem(0x8000, struct.pack('<IIQ', 0, 0, 2))
    for i in range(4):
        p.desc(t, i, 0x8200 + 128 * i, 128, NEXT | WRITE, i + 1)
    p.desc(t, 4, 0x8f00, 1, WRITE)
    p.desc(d, 0, 0x8000, 16, NEXT, 1).desc(d, 1, t, 5 * 16, INDIRECT)
    p.avail(BLK, 0, 0).kick(BLK, 0)
    # The same without INDIRECT_DESC negotiated: the queue breaks.
    p.up(BLK, 3, NO_INDIRECT).desc(d, 0, 0x8000, 16, NEXT, 1).desc(d, 1, t, 5 * 16, INDIRECT)
    p.avail(BLK, 0, 0).kick(BLK, 0)
    return p


def blk_event_idx():
    p = Program().up(BLK, 1).msix(BLK, 1)
    d, a, u = queue(0x10, 0)
    for k in range(5):
        p.mem(a + 4 + 2 * 2, struct.pack('<H', k))  # used_event
        blk_req(p, d, 0x8000, 4, 0, 0, 0, 0x8f00)
    p.up(BLK, 1, NO_EVENT_IDX).mem(a, struct.pack('<H', 1))  # NO_INTERRUPT
    blk_req(p, d, 0x8000, 4, 0, 0, 0, 0x8f00)
    return p


def rng():
    p = Program().up(RNG, 2).msix(RNG, 5)
    d, _, _ = queue(0x10, 0)
    p.desc(d, 0, 0x8000, 64, WRITE).avail(RNG, 0, 0).kick(RNG, 0)
    p.desc(d, 1, 0x8000, 0x1000, WRITE | NEXT, 2).desc(d, 2, 1 << 32, 0x1000, WRITE).avail(RNG, 0, 1).kick(RNG, 0)
    p.bar(RNG, MSIX_PBA, 0, 8, False).msix(RNG, 1).bar(RNG, MSIX_PBA, 0, 8, False)
    p.desc(d, 3, 0xfff0, 64, WRITE).avail(RNG, 0, 3).kick(RNG, 0)     # past the end of RAM
    p.status(RNG, 0).up(RNG, 2)
    p.desc(d, 0, 0x8000, 16).avail(RNG, 0, 0).kick(RNG, 0)          # device-readable: NEEDS_RESET
    p.avail(RNG, 0, 0).kick(RNG, 0)
    return p


def net_rx_buffer(p, d, i, addr, length=1526):
    return p.desc(d, i, addr, length, WRITE)


def net():
    p = Program().up(NET, 3).msix(NET)
    rx, _, _ = queue(0x10, 0)
    tx, _, _ = queue(0x10, 1)
    p.bar(NET, DEVICE_CFG, 0, 8, False)
    eth = bytes(12) + b'\xff' * 6 + b'\x02\0\0\0\0\x02' + b'\x08\x00' + bytes(46)
    p.frame(eth)                                   # no buffer yet: it waits
    for i in range(2):
        net_rx_buffer(p, rx, i, 0x8000 + 0x800 * i).avail(NET, 0, i)
    p.kick(NET, 0)
    p.frame(eth).frame(eth[:8]).frame(eth, 2000)
    p.desc(tx, 0, 0x9000, 12, NEXT, 1).desc(tx, 1, 0x9100, 60)
    p.mem(0x9100, eth[12:])
    p.avail(NET, 1, 0).kick(NET, 1).drain()
    p.desc(tx, 1, 0x9100, 4).avail(NET, 1, 0).kick(NET, 1)   # too short: NEEDS_RESET
    p.up(NET, 3)
    net_rx_buffer(p, rx, 0, 0x8000, 8).avail(NET, 0, 0).kick(NET, 0).frame(eth)  # no room for the header
    return p


def net_tx_only():
    # Only the transmit queue is enabled; frames arrive anyway.
    p = Program().cfg(3, 4, 6, 2)
    for s in (0, 1, 3):
        p.status(NET, s)
    p.bar(NET, 0x08, 0).bar(NET, 0x0c, 0).bar(NET, 0x08, 1).bar(NET, 0x0c, 1).status(NET, 11)
    tx, a, u = queue(0x10, 1)
    p.bar(NET, 0x16, 1, 2).bar(NET, 0x18, 16, 2).bar(NET, 0x20, tx).bar(NET, 0x28, a).bar(NET, 0x30, u)
    p.bar(NET, 0x1c, 1, 2).status(NET, 15)
    eth = bytes(12) + bytes(60)
    p.frame(eth).frame(eth)
    p.desc(tx, 0, 0x9000, 72).avail(NET, 1, 0).kick(NET, 1).drain()
    return p


def transport():
    p = Program()
    for dev in (BLK, RNG, NET):
        p.status(dev, 1).status(dev, 3)
        p.status(dev, 7)                               # DRIVER_OK without FEATURES_OK
        p.status(dev, 0).up(dev, 4, UNOFFERED)         # refused
        p.up(dev, 4, NO_VERSION_1)
        p.up(dev, 9)                                   # size 1
        p.bar(dev, 0x16, 9, 2).bar(dev, 0x18, 0, 2, False).bar(dev, 0x18, 3, 2)
        p.bar(dev, 0x16, 0, 2).bar(dev, 0x18, 12, 2).bar(dev, 0x20, 0xfff0).bar(dev, 0x1c, 1, 2)
        p.status(dev, 0x0b).bar(dev, 0x08, 0).bar(dev, 0x0c, 0xffffffff)  # features after FEATURES_OK
        p.status(dev, 3).status(dev, 0x0b).status(dev, 0x0f)
        p.status(dev, 0x4f).status(dev, 0xff).status(dev, 0x8b)
        for off in range(0, 0x40, 1):
            p.bar(dev, off, 0, 1, False)
        for w in (1, 2, 4, 8):
            p.bar(dev, DEVICE_CFG + 60 - w, 0, w, False).bar(dev, DEVICE_CFG + 61 - w, 0, w, False)
            p.bar(dev, DEVICE_CFG + 4, 0xffffffffffffffff, w)
            p.bar(dev, ISR, 0, w, False).bar(dev, NOTIFY + 1, 0, w).bar(dev, NOTIFY + 4 * 9, 0, w)
            p.bar(dev, MSIX_TABLE + 4, 0, w).bar(dev, MSIX_TABLE + 16 * 3 - w, 0, w, False)
            p.bar(dev, MSIX_PBA + 6, 0, w, False).bar(dev, MSIX_PBA, 0xff, w).bar(dev, 0x7fff, 0, w, False)
        p.bar(dev, 0x10, 5, 2).bar(dev, 0x1a, 0x40, 2).bar(dev, 0x10, 0, 8, False)
        p.up(dev, 8).kick(dev, 0).kick(dev, 1).kick(dev, 7)
    return p


def pci():
    p = Program()
    for slot in (0, 1, 2, 3, 4, 31):
        for reg in range(0, 0x100, 4):
            p.cfg(slot, reg, 0, 4, False)
            p.cfg(slot, reg, 0xffffffff, 4)
            p.cfg(slot, reg + 1, 0, 2, False).cfg(slot, reg + 3, 0, 1, False).cfg(slot, reg + 2, 0, 4, False)
    p.pio(0, 0x80000800, 4).pio(3, 0x80, 1).pio(4, 0, 4, False).pio(0, 0, 4, False).pio(2, 0, 2, False)
    p.pio(0, 0x80010800, 4).pio(4, 0, 4, False).pio(0, 0x80000900, 4).pio(5, 0, 1, False)
    # Sizing, decode off and on, the BAR moved out of the window and onto another device's.
    p.cfg(1, 0x10, 0xffffffff).cfg(1, 0x10, 0, 4, False).cfg(1, 0x10, 0xc0000000).cfg(1, 4, 6, 2)
    p.up(BLK).cfg(1, 4, 0, 2).bar(BLK, 0x12, 0, 2, False).cfg(1, 4, 6, 2)
    p.cfg(2, 0x10, 0xc0000000).cfg(2, 4, 6, 2).up(RNG).bar(BLK, 0x14, 0, 1, False)
    p.cfg(1, 0x10, 0x1000).up(BLK).cfg(3, 0x10, 0xc00ff000).cfg(3, 4, 6, 2).up(NET)
    p.mmio(0xfffffffc, 0, 8, False).mmio(0, 0, 8, False).mmio(0x7ffc, 0, 8).mmio(0x17ffe, 0, 4, False)
    # MSI-X control with every width, the capabilities' read-only bytes.
    for slot in (1, 2, 3):
        for reg in range(0x40, 0x90):
            p.cfg(slot, reg, 0xff, 1).cfg(slot, reg, 0xffff, 2)
    return p


SEEDS = {
    'blk': blk, 'blk-read-only': blk_ro, 'blk-indirect': blk_indirect, 'blk-event-idx': blk_event_idx,
    'rng': rng, 'net': net, 'net-tx-only': net_tx_only, 'transport': transport, 'pci': pci,
}

if __name__ == '__main__':
    for name, fn in SEEDS.items():
        with open(os.path.join(sys.argv[1], name), 'wb') as f:
            f.write(bytes(fn().b))
