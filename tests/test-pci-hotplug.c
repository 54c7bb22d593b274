/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ACPI PCI hotplug register block (device/pci/hotplug.h), driven as the DSDT's methods drive it: the
 * hotplug interrupt, then PCNT reads "inserted" and "eject requested" once each (reading clears), and a
 * slot's _EJ0 writes its bit to "ejected", which wakes vmm's main loop. Then the device's round trip
 * through its record, and records it could not have written. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "byteorder.h"
#include "core/device.h"
#include "device/pci/hotplug.h"

typedef struct Line {
        unsigned pulses;
        bool level;
} Line;

static void set_level(void *opaque, uint32_t gsi, bool level) {
        Line *l = opaque;
        if (level && !l->level)
                l->pulses++;
        l->level = level;
}

static uint32_t rd(PciHotplug *h, uint64_t reg) {
        uint8_t b[4];
        pci_hotplug_io(h, reg, b, 4, false);
        return (uint32_t) le_read(b, 4);
}

static void wr(PciHotplug *h, uint64_t reg, uint32_t v) {
        uint8_t b[4];
        le_write(b, 4, v);
        pci_hotplug_io(h, reg, b, 4, true);
}

static bool readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return poll(&p, 1, 0) == 1;
}

static void test_protocol(void **state) {
        _cleanup_(pci_hotplug_freep) PciHotplug *h = NULL;
        Line line = {};
        Irq irq = { .set_level = set_level, .opaque = &line, .gsi = 6 };
        uint8_t b[4];

        assert_int_equal(pci_hotplug_new(&irq, &h), 0);
        assert_int_equal(rd(h, PCI_HOTPLUG_REG_INSERTED), 0);
        assert_int_equal(rd(h, PCI_HOTPLUG_REG_EJECT_REQ), 0);

        /* An insertion: one pulse, the bit is read once. */
        pci_hotplug_inserted(h, 5);
        assert_int_equal(line.pulses, 1);
        assert_false(line.level);
        pci_hotplug_inserted(h, 7);
        assert_int_equal(rd(h, PCI_HOTPLUG_REG_INSERTED), (1U << 5) | (1U << 7));
        assert_int_equal(rd(h, PCI_HOTPLUG_REG_INSERTED), 0);

        /* An eject request, and the guest's _EJ0: the main loop is woken once and takes the slot once. */
        pci_hotplug_request_eject(h, 5);
        assert_int_equal(line.pulses, 3);
        assert_int_equal(rd(h, PCI_HOTPLUG_REG_EJECT_REQ), 1U << 5);
        assert_int_equal(rd(h, PCI_HOTPLUG_REG_EJECT_REQ), 0);
        assert_false(readable(pci_hotplug_event_fd(h)));
        wr(h, PCI_HOTPLUG_REG_EJECT, 1U << 5);
        assert_true(readable(pci_hotplug_event_fd(h)));
        assert_int_equal(pci_hotplug_take_ejected(h), 1U << 5);
        assert_false(readable(pci_hotplug_event_fd(h)));
        assert_int_equal(pci_hotplug_take_ejected(h), 0);

        /* Slot 0 (the host bridge) and slots past the bus are never posted nor ejected. */
        pci_hotplug_inserted(h, 0);
        pci_hotplug_inserted(h, 32);
        assert_int_equal(line.pulses, 3);
        wr(h, PCI_HOTPLUG_REG_EJECT, 1);
        assert_false(readable(pci_hotplug_event_fd(h)));
        assert_int_equal(pci_hotplug_take_ejected(h), 0);

        /* What a guest could try: other widths and offsets read as all ones and change nothing; the
         * read-only registers ignore writes; the eject register reads 0. */
        pci_hotplug_inserted(h, 9);
        pci_hotplug_io(h, PCI_HOTPLUG_REG_INSERTED, b, 2, false);
        assert_int_equal(b[0], 0xff);
        assert_int_equal(b[1], 0xff);
        pci_hotplug_io(h, PCI_HOTPLUG_REG_INSERTED + 1, b, 4, false);
        assert_int_equal(b[3], 0xff);
        pci_hotplug_io(h, PCI_HOTPLUG_REGS, b, 4, false);
        assert_int_equal(b[0], 0xff);
        wr(h, PCI_HOTPLUG_REG_INSERTED, 0);
        assert_int_equal(rd(h, PCI_HOTPLUG_REG_EJECT), 0);
        assert_int_equal(rd(h, PCI_HOTPLUG_REG_INSERTED), 1U << 9);
}

static void test_round_trip(void **state) {
        _cleanup_(pci_hotplug_freep) PciHotplug *b_impl = NULL;
        PciHotplug *a_impl = NULL;
        Line la = {}, lb = {};
        Irq ia = { .set_level = set_level, .opaque = &la }, ib = { .set_level = set_level, .opaque = &lb };
        _cleanup_(device_freep) Device *root_a = device_root_new(), *root_b = device_root_new();
        Device *a, *b;
        StateWriter w = {}, w2 = {};
        StateReader r;
        PciHotplugState st;

        assert_non_null(root_a);
        assert_non_null(root_b);
        assert_int_equal(pci_hotplug_new(&ia, &a_impl), 0);
        assert_int_equal(device_add(root_a, "pci-hotplug", &pci_hotplug_device_ops, a_impl, DEVICE_ADDRESS_PORT,
                                    0xae00, &a),
                         0);
        assert_int_equal(pci_hotplug_new(&ib, &b_impl), 0);
        assert_int_equal(device_add(root_b, "pci-hotplug", &pci_hotplug_device_ops, b_impl, DEVICE_ADDRESS_PORT,
                                    0xae00, &b),
                         0);
        b_impl = NULL; /* the tree owns it */

        /* Saved between vmm's post and the guest's read, and after a guest's _EJ0 that main has not taken. */
        pci_hotplug_inserted(a_impl, 3);
        pci_hotplug_request_eject(a_impl, 4);
        wr(a_impl, PCI_HOTPLUG_REG_EJECT, 1U << 6);
        assert_int_equal(a->ops->pause(a), 0);
        assert_int_equal(a->ops->save(a, &w), 0);
        a->ops->resume(a);

        r = state_reader(w.data, w.size);
        assert_int_equal(b->ops->restore(b, &r), 0);
        /* The restored block wakes the main loop for the slot the guest had ejected. */
        assert_true(readable(pci_hotplug_event_fd(b->impl)));
        assert_int_equal(b->ops->save(b, &w2), 0);
        assert_int_equal(w.size, w2.size);
        assert_memory_equal(w.data, w2.data, w.size);
        assert_int_equal(rd(b->impl, PCI_HOTPLUG_REG_INSERTED), 1U << 3);
        assert_int_equal(rd(b->impl, PCI_HOTPLUG_REG_EJECT_REQ), 1U << 4);
        assert_int_equal(pci_hotplug_take_ejected(b->impl), 1U << 6);
        state_writer_done(&w2);

        /* Records it could not have written: refused by the pure check, and by restore. */
        memcpy(&st, w.data + (w.size - sizeof st), sizeof st);
        assert_int_equal(pci_hotplug_restore_check(&st), 0);
        PciHotplugState bad = st;
        bad.version = 2;
        assert_int_equal(pci_hotplug_restore_check(&bad), -EINVAL);
        bad = st;
        bad.inserted |= 1; /* the host bridge's slot */
        assert_int_equal(pci_hotplug_restore_check(&bad), -EINVAL);
        bad = st;
        bad.ejected |= 1;
        assert_int_equal(pci_hotplug_restore_check(&bad), -EINVAL);
        state_writer_done(&w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_protocol),
                cmocka_unit_test(test_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
