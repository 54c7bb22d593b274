/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The device tree (core/device.c): order of walks, pause with rollback, save/restore framing and the
 * checks on a hostile stream, describe/list, removal unregistering bus ranges. The devices here are
 * small counters: what is under test is the tree. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/device.h"
#include "core/state.h"
#include "device/i8042.h"
#include "device/pci/pci.h"
#include "device/pvpanic.h"
#include "device/serial.h"
#include "log.h"

typedef struct Counter {
        uint32_t value;
        int fail_pause;
        char *log; /* shared: each op appends "<op>:<id> " */
} Counter;

#define COUNTER_TAG STATE_TAG('C', 'N', 'T', 'R')
typedef struct CounterState {
        uint32_t version;
        uint32_t value;
} CounterState;

static char event_log[1024];
static unsigned n_freed;

static void note(const char *op, Device *d) {
        size_t n = strlen(event_log);
        (void) snprintf(event_log + n, sizeof event_log - n, "%s:%s ", op, d->id);
}

static int c_pause(Device *d) {
        Counter *c = d->impl;
        note("pause", d);
        return c->fail_pause ? -EIO : 0;
}
static void c_resume(Device *d) {
        note("resume", d);
}
static int c_save(Device *d, StateWriter *w) {
        Counter *c = d->impl;
        CounterState st = { .version = 1, .value = c->value };
        return state_write(w, COUNTER_TAG, &st, sizeof st);
}
static int c_restore(Device *d, StateReader *r) {
        Counter *c = d->impl;
        CounterState st;
        int k = state_read(r, COUNTER_TAG, &st, sizeof st);
        if (k < 0)
                return k;
        if (st.version != 1)
                return -EINVAL;
        c->value = st.value;
        return 0;
}
static int c_describe(Device *d, sd_json_variant **ret) {
        Counter *c = d->impl;
        return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_UNSIGNED("value", c->value));
}
static void c_remove(Device *d) {
        note("remove", d);
}
static void c_free(void *impl) {
        n_freed++;
        free(impl);
}

static const DeviceOps counter_ops = {
        .type = "counter", .pause = c_pause, .resume = c_resume, .save = c_save, .restore = c_restore,
        .describe = c_describe, .remove = c_remove, .free = c_free,
};
static const DeviceOps other_ops = {
        .type = "other", .pause = c_pause, .resume = c_resume, .save = c_save, .restore = c_restore,
        .describe = c_describe, .remove = c_remove, .free = c_free,
};

static Device *add(Device *parent, const char *id, uint32_t value) {
        Counter *c = calloc(1, sizeof *c);
        Device *d = NULL;
        assert_non_null(c);
        c->value = value;
        assert_int_equal(device_add(parent, id, &counter_ops, c, DEVICE_ADDRESS_PORT, 0x100 + value, &d), 0);
        return d;
}

/* root: a, bus (b, c), d */
static Device *make_tree(void) {
        Device *root = device_root_new(), *bus;
        assert_non_null(root);
        add(root, "a", 1);
        bus = add(root, "bus", 2);
        add(bus, "b", 3);
        add(bus, "c", 4);
        add(root, "d", 5);
        return root;
}

static void test_walk_and_find(void **state) {
        Device *root = make_tree();
        char order[64] = "";

        DEVICE_FOREACH(d, root) {
                strcat(order, d->id);
                strcat(order, " ");
        }
        assert_string_equal(order, "a bus b c d ");
        assert_string_equal(device_find(root, "c")->parent->id, "bus");
        assert_null(device_find(root, "nope"));
        /* ids are unique in the whole tree, not only among siblings; the refused impl is freed */
        n_freed = 0;
        Counter *dup = calloc(1, sizeof *dup);
        assert_int_equal(device_add(device_find(root, "bus"), "a", &counter_ops, dup, DEVICE_ADDRESS_NONE, 0, NULL),
                         -EEXIST);
        assert_int_equal(n_freed, 1);
        device_free(root);
}

static void test_pause_order_and_rollback(void **state) {
        Device *root = make_tree();

        event_log[0] = 0;
        assert_int_equal(device_tree_pause(root), 0);
        /* children before their bus; resume the other way round */
        assert_string_equal(event_log, "pause:a pause:b pause:c pause:bus pause:d ");
        assert_int_equal(device_tree_pause(root), 0); /* all paused already: nothing happens */
        assert_string_equal(event_log, "pause:a pause:b pause:c pause:bus pause:d ");
        event_log[0] = 0;
        device_tree_resume(root);
        assert_string_equal(event_log, "resume:a resume:bus resume:b resume:c resume:d ");

        /* c refuses: what was paused is resumed, and the error comes back */
        ((Counter *) device_find(root, "c")->impl)->fail_pause = 1;
        event_log[0] = 0;
        log_set_max_level(-1);
        assert_int_equal(device_tree_pause(root), -EIO);
        log_set_max_level(LOG_INFO);
        assert_string_equal(event_log, "pause:a pause:b pause:c resume:a resume:b ");
        DEVICE_FOREACH(d, root)
                assert_false(d->paused);
        device_free(root);
}

static void test_save_restore(void **state) {
        Device *a = make_tree(), *b = make_tree();
        StateWriter w = {}, w2 = {};
        StateReader r;

        assert_int_equal(device_tree_save(a, &w), 0);
        DEVICE_FOREACH(d, b)
                ((Counter *) d->impl)->value = 99;
        r = state_reader(w.data, w.size);
        assert_int_equal(device_tree_restore(b, &r), 0);
        assert_int_equal(device_tree_save(b, &w2), 0);
        assert_int_equal(w.size, w2.size);
        assert_memory_equal(w.data, w2.data, w.size);

        log_set_max_level(-1);
        /* every truncation is refused */
        for (size_t n = 0; n < w.size; n += 8) {
                r = state_reader(w.data, n);
                assert_int_not_equal(device_tree_restore(b, &r), 0);
        }
        /* a device this VM lacks, and one of another type */
        Device *c = device_root_new();
        add(c, "a", 1);
        r = state_reader(w.data, w.size);
        assert_int_equal(device_tree_restore(c, &r), -EBADMSG);
        device_free(c);
        c = device_root_new();
        Counter *x = calloc(1, sizeof *x);
        assert_int_equal(device_add(c, "a", &other_ops, x, DEVICE_ADDRESS_NONE, 0, NULL), 0);
        r = state_reader(w.data, w.size);
        assert_int_equal(device_tree_restore(c, &r), -EBADMSG);
        device_free(c);
        /* a flipped tag byte */
        w.data[0] ^= 0xff;
        r = state_reader(w.data, w.size);
        assert_int_equal(device_tree_restore(b, &r), -EBADMSG);
        log_set_max_level(LOG_INFO);

        state_writer_done(&w);
        state_writer_done(&w2);
        device_free(a);
        device_free(b);
}

static void test_describe_and_list(void **state) {
        Device *root = make_tree();
        sd_json_variant *tree = NULL, *list = NULL;

        assert_int_equal(device_tree_describe(root, &tree), 0);
        sd_json_variant *c = sd_json_variant_by_key(tree, "c");
        assert_non_null(c);
        assert_string_equal(sd_json_variant_string(sd_json_variant_by_key(c, "type")), "counter");
        assert_string_equal(sd_json_variant_string(sd_json_variant_by_key(c, "bus")), "bus");
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(c, "value")), 4);
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(c, "port")), 0x104);
        assert_int_equal(device_tree_list(root, &list), 0);
        assert_int_equal(sd_json_variant_elements(list), 5);
        sd_json_variant_unref(tree);
        sd_json_variant_unref(list);
        device_free(root);
}

static void nop_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
}

static void test_remove(void **state) {
        Device *root = make_tree(), *bus = device_find(root, "bus");
        Bus pio = {};
        uint8_t data[1];

        assert_int_equal(bus_init(&pio), 0);
        assert_int_equal(device_add_range(device_find(root, "b"), &pio, 0x10, 4, nop_io, NULL, "b"), 0);
        assert_int_equal(device_add_range(bus, &pio, 0x20, 4, nop_io, NULL, "bus"), 0);
        assert_true(bus_dispatch(&pio, 0x10, data, 1, false));
        event_log[0] = 0;
        n_freed = 0;
        device_free(bus); /* the bus and what sits on it: children first, ranges gone before remove */
        assert_string_equal(event_log, "remove:b remove:c remove:bus ");
        assert_int_equal(n_freed, 3);
        assert_false(bus_dispatch(&pio, 0x10, data, 1, false));
        assert_false(bus_dispatch(&pio, 0x20, data, 1, false));
        assert_null(device_find(root, "b"));
        assert_non_null(device_find(root, "d"));
        device_free(root);
        bus_done(&pio);
}

/* The real platform devices through their DeviceOps: a tree of them saved, restored into a second
 * tree of the same devices, saved again, byte for byte; and the UART's pause holding host input. */
static Device *platform_tree(Serial **ret_serial) {
        Device *root = device_root_new();
        Serial *s;
        Pvpanic *p;
        I8042 *k;
        PciBus *b;

        assert_int_equal(serial_new(NULL, NULL, NULL, &s), 0);
        assert_int_equal(device_add(root, "com1", &serial_device_ops, s, DEVICE_ADDRESS_PORT, 0x3f8, NULL), 0);
        assert_int_equal(pvpanic_new(NULL, NULL, &p), 0);
        assert_int_equal(device_add(root, "pvpanic", &pvpanic_device_ops, p, DEVICE_ADDRESS_PORT, 0x505, NULL), 0);
        assert_int_equal(i8042_new(NULL, NULL, &k), 0);
        assert_int_equal(device_add(root, "reset", &i8042_device_ops, k, DEVICE_ADDRESS_PORT, 0x64, NULL), 0);
        assert_int_equal(pci_bus_new(&(PciBusParams) { .mmio_base = 0xc0000000, .mmio_size = 0x20000000 }, NULL, NULL,
                                     &b),
                         0);
        assert_int_equal(device_add(root, "pci0", &pci_bus_device_ops, b, DEVICE_ADDRESS_PORT, 0xcf8, NULL), 0);
        *ret_serial = s;
        return root;
}

static void io8(BusHandler h, void *dev, uint64_t off, uint8_t v) {
        h(dev, off, &v, 1, true);
}

static void test_platform_round_trip(void **state) {
        Serial *s1, *s2;
        Device *a = platform_tree(&s1), *b = platform_tree(&s2);
        StateWriter w1 = {}, w2 = {}, w3 = {};
        StateReader r;
        uint8_t v[4] = { 0x12, 0x34, 0x56, 0x80 };

        /* state worth keeping: UART registers and a byte waiting in its FIFO, i8042's CTR, the 0xCF8 latch */
        io8(serial_io, s1, SERIAL_REG_LCR, 0x03);
        io8(serial_io, s1, SERIAL_REG_IER, SERIAL_IER_RDI);
        io8(serial_io, s1, SERIAL_REG_SCR, 0x5a);
        assert_int_equal(serial_receive(s1, (const uint8_t *) "x", 1), 1);
        io8(i8042_cmd_io, device_find(a, "reset")->impl, 0, 0x60);
        io8(i8042_data_io, device_find(a, "reset")->impl, 0, 0x45);
        pci_bus_config_io(device_find(a, "pci0")->impl, 0, v, 4, true);

        assert_int_equal(device_tree_save(a, &w1), 0);
        assert_int_equal(device_tree_save(b, &w3), 0);
        assert_true(w1.size != w3.size || memcmp(w1.data, w3.data, w1.size) != 0); /* a differs from fresh */
        r = state_reader(w1.data, w1.size);
        assert_int_equal(device_tree_restore(b, &r), 0);
        assert_int_equal(device_tree_save(b, &w2), 0);
        assert_int_equal(w1.size, w2.size);
        assert_memory_equal(w1.data, w2.data, w1.size);

        /* paused, the UART takes no host input; resumed, it does again (first the guest reads "x") */
        uint8_t byte;
        serial_io(s2, SERIAL_REG_RBR, &byte, 1, false);
        assert_int_equal(byte, 'x');
        assert_int_equal(device_tree_pause(b), 0);
        assert_int_equal(serial_receive(s2, (const uint8_t *) "y", 1), 0);
        device_tree_resume(b);
        assert_int_equal(serial_receive(s2, (const uint8_t *) "y", 1), 1);

        state_writer_done(&w1);
        state_writer_done(&w2);
        state_writer_done(&w3);
        device_free(a);
        device_free(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_walk_and_find),
                cmocka_unit_test(test_pause_order_and_rollback),
                cmocka_unit_test(test_save_restore),
                cmocka_unit_test(test_describe_and_list),
                cmocka_unit_test(test_remove),
                cmocka_unit_test(test_platform_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
