/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The small legacy devices: pvpanic and the i8042 reset path. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "device/i8042.h"
#include "device/pvpanic.h"

typedef struct Events {
        unsigned calls;
        uint8_t last;
} Events;

static void pvpanic_event(void *opaque, uint8_t events) {
        Events *e = opaque;
        e->calls++;
        e->last = events;
}

static uint8_t pv_read(Pvpanic *p) {
        uint8_t v = 0;
        pvpanic_io(p, 0, &v, 1, false);
        return v;
}

static void pv_write(Pvpanic *p, uint8_t v) {
        pvpanic_io(p, 0, &v, 1, true);
}

static void test_pvpanic(void **state) {
        _cleanup_(pvpanic_freep) Pvpanic *p = NULL;
        Events e = {};
        uint8_t wide[4] = {};

        assert_int_equal(pvpanic_new(pvpanic_event, &e, &p), 0);
        assert_int_equal(pv_read(p), PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);

        pv_write(p, PVPANIC_PANICKED);
        assert_int_equal(e.calls, 1);
        assert_int_equal(e.last, PVPANIC_PANICKED);
        pv_write(p, PVPANIC_CRASH_LOADED);
        assert_int_equal(e.calls, 2);
        assert_int_equal(e.last, PVPANIC_CRASH_LOADED);
        /* Unknown bits are dropped; a write of nothing known reports nothing. */
        pv_write(p, 0xff);
        assert_int_equal(e.calls, 3);
        assert_int_equal(e.last, PVPANIC_SUPPORTED);
        pv_write(p, 0x04);
        pv_write(p, 0);
        assert_int_equal(e.calls, 3);

        /* Wider or misplaced accesses: byte 0 only, the rest all-ones; writes elsewhere ignored. */
        pvpanic_io(p, 0, wide, 4, false);
        assert_int_equal(wide[0], PVPANIC_SUPPORTED);
        assert_int_equal(wide[1], 0xff);
        assert_int_equal(wide[3], 0xff);
        pvpanic_io(p, 1, wide, 1, false);
        assert_int_equal(wide[0], 0xff);
        wide[0] = PVPANIC_PANICKED;
        pvpanic_io(p, 1, wide, 1, true);
        assert_int_equal(e.calls, 3);
        pvpanic_io(p, 0, wide, 2, true);
        assert_int_equal(e.calls, 4);
}

static void test_pvpanic_no_callback(void **state) {
        _cleanup_(pvpanic_freep) Pvpanic *p = NULL;

        assert_int_equal(pvpanic_new(NULL, NULL, &p), 0);
        pv_write(p, PVPANIC_PANICKED);
        assert_null(pvpanic_free(NULL));
}

static void test_pvpanic_save_restore(void **state) {
        _cleanup_(pvpanic_freep) Pvpanic *p = NULL, *p2 = NULL;
        PvpanicState st, st2, bad;
        Events e = {};

        assert_int_equal(pvpanic_new(NULL, NULL, &p), 0);
        assert_int_equal(pvpanic_new(pvpanic_event, &e, &p2), 0);
        pvpanic_save(p, &st);
        assert_int_equal(st.version, PVPANIC_STATE_VERSION);
        assert_int_equal(st.supported, PVPANIC_SUPPORTED);
        assert_int_equal(pvpanic_restore(p2, &st), 0);
        pvpanic_save(p2, &st2);
        assert_memory_equal(&st, &st2, sizeof st);
        assert_int_equal(pv_read(p2), pv_read(p));
        pv_write(p2, PVPANIC_PANICKED);
        assert_int_equal(e.calls, 1);

        /* A guest told of fewer events is fine; more, or garbage, is refused. */
        bad = st;
        bad.supported = PVPANIC_PANICKED;
        assert_int_equal(pvpanic_restore(p2, &bad), 0);
        bad = st;
        bad.supported = 0x04;
        assert_int_equal(pvpanic_restore(p2, &bad), -EINVAL);
        bad = st;
        bad.version = 2;
        assert_int_equal(pvpanic_restore(p2, &bad), -EINVAL);
        bad = st;
        bad.reserved[2] = 1;
        assert_int_equal(pvpanic_restore(p2, &bad), -EINVAL);
}

static void reset_cb(void *opaque) {
        unsigned *n = opaque;
        (*n)++;
}

static uint8_t kbd_status(I8042 *k) {
        uint8_t v = 0;
        i8042_cmd_io(k, 0, &v, 1, false);
        return v;
}

static uint8_t kbd_read(I8042 *k) {
        uint8_t v = 0;
        i8042_data_io(k, 0, &v, 1, false);
        return v;
}

static void kbd_cmd(I8042 *k, uint8_t v) {
        i8042_cmd_io(k, 0, &v, 1, true);
}

static void kbd_write(I8042 *k, uint8_t v) {
        i8042_data_io(k, 0, &v, 1, true);
}

/* What Linux's i8042_command() does for a command with one reply byte. */
static uint8_t kbd_query(I8042 *k, uint8_t cmd) {
        assert_int_equal(kbd_status(k) & I8042_STATUS_IBF, 0);
        kbd_cmd(k, cmd);
        assert_true(kbd_status(k) & I8042_STATUS_OBF);
        uint8_t v = kbd_read(k);
        assert_int_equal(kbd_status(k) & I8042_STATUS_OBF, 0);
        return v;
}

static void test_i8042_reset(void **state) {
        _cleanup_(i8042_freep) I8042 *k = NULL;
        unsigned resets = 0;

        assert_int_equal(i8042_new(reset_cb, &resets, &k), 0);
        /* No data, input buffer empty: Linux's kb_wait() returns at once. */
        assert_int_equal(kbd_status(k) & (I8042_STATUS_OBF | I8042_STATUS_IBF), 0);
        assert_int_equal(kbd_status(k), I8042_STATUS_UNLOCK | I8042_STATUS_SYS);

        kbd_cmd(k, 0xfe);
        assert_int_equal(resets, 1);
        /* Other pulse commands: bit 0 clear pulses reset too, bit 0 set does not. */
        kbd_cmd(k, 0xff);
        kbd_cmd(k, 0xf1);
        assert_int_equal(resets, 1);
        kbd_cmd(k, 0xf0);
        assert_int_equal(resets, 2);
        /* 0xfe on the data port is a keyboard byte, not a reset. */
        kbd_write(k, 0xfe);
        assert_int_equal(resets, 2);
        /* Writing the output port with bit 0 clear holds the CPU in reset. */
        kbd_cmd(k, 0xd1);
        kbd_write(k, 0xdf); /* A20 on, reset released: the classic A20 gate write */
        assert_int_equal(resets, 2);
        assert_int_equal(kbd_query(k, 0xd0), 0xdf);
        kbd_cmd(k, 0xd1);
        kbd_write(k, 0xde);
        assert_int_equal(resets, 3);
        assert_int_equal(kbd_query(k, 0xd0), 0xdf);

        /* Wide and misplaced accesses do nothing. */
        uint8_t wide[2] = { 0xfe, 0xfe };
        i8042_cmd_io(k, 1, wide, 1, true);
        assert_int_equal(resets, 3);
        i8042_cmd_io(k, 0, wide, 2, false);
        assert_int_equal(wide[1], 0xff);

        /* Without a callback a reset request is dropped, not a crash. */
        _cleanup_(i8042_freep) I8042 *k2 = NULL;
        assert_int_equal(i8042_new(NULL, NULL, &k2), 0);
        kbd_cmd(k2, 0xfe);
}

static void test_i8042_commands(void **state) {
        _cleanup_(i8042_freep) I8042 *k = NULL;
        unsigned resets = 0;
        uint8_t ctr;

        assert_int_equal(i8042_new(reset_cb, &resets, &k), 0);
        assert_int_equal(kbd_query(k, 0xaa), 0x55);
        ctr = kbd_query(k, 0x20);
        assert_int_equal(ctr, I8042_CTR_SYS | I8042_CTR_XLATE | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
        assert_true(kbd_status(k) & I8042_STATUS_CMD);

        kbd_cmd(k, 0x60);
        kbd_write(k, 0x47);
        assert_int_equal(kbd_status(k) & I8042_STATUS_CMD, 0);
        assert_int_equal(kbd_query(k, 0x20), 0x47);
        kbd_cmd(k, 0xad);
        kbd_cmd(k, 0xa7);
        assert_int_equal(kbd_query(k, 0x20), 0x47 | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
        kbd_cmd(k, 0xae);
        kbd_cmd(k, 0xa8);
        assert_int_equal(kbd_query(k, 0x20), 0x47);
        /* The system flag follows the CTR. */
        kbd_cmd(k, 0x60);
        kbd_write(k, 0);
        assert_int_equal(kbd_status(k) & I8042_STATUS_SYS, 0);

        /* Interface tests say nothing usable is attached. */
        assert_int_equal(kbd_query(k, 0xa9), 0x01);
        assert_int_equal(kbd_query(k, 0xab), 0x01);

        /* A command cancels a pending parameter. */
        kbd_cmd(k, 0x60);
        kbd_cmd(k, 0xa7);
        kbd_write(k, 0x12);
        assert_int_equal(kbd_query(k, 0x20), I8042_CTR_AUXDIS);

        /* Unknown commands and keyboard bytes: no reply, no effect. */
        kbd_cmd(k, 0xd4);
        kbd_write(k, 0xff);
        kbd_cmd(k, 0xc0);
        kbd_write(k, 0xf2);
        assert_int_equal(kbd_status(k) & I8042_STATUS_OBF, 0);
        assert_int_equal(resets, 0);
}

static void test_i8042_save_restore(void **state) {
        _cleanup_(i8042_freep) I8042 *k = NULL, *k2 = NULL;
        I8042State st, st2, bad;

        assert_int_equal(i8042_new(NULL, NULL, &k), 0);
        assert_int_equal(i8042_new(NULL, NULL, &k2), 0);
        kbd_cmd(k, 0x60);
        kbd_write(k, 0x65);
        kbd_cmd(k, 0x20); /* reply left unread */
        kbd_cmd(k, 0xd1); /* parameter pending */
        i8042_save(k, &st);
        assert_int_equal(st.version, I8042_STATE_VERSION);
        assert_int_equal(i8042_restore(k2, &st), 0);
        i8042_save(k2, &st2);
        assert_memory_equal(&st, &st2, sizeof st);
        assert_int_equal(kbd_status(k2), kbd_status(k));
        assert_true(kbd_status(k2) & I8042_STATUS_OBF);
        assert_int_equal(kbd_read(k2), 0x65);
        assert_int_equal(kbd_read(k), 0x65);
        kbd_write(k2, 0xdd); /* the pending 0xd1 parameter */
        kbd_write(k, 0xdd);
        assert_int_equal(kbd_query(k2, 0xd0), 0xdd);
        assert_int_equal(kbd_query(k, 0xd0), 0xdd);

#define REFUSED(change)                                                 \
        do {                                                            \
                bad = st;                                               \
                change;                                                 \
                i8042_save(k2, &st2);                                   \
                assert_int_equal(i8042_restore(k2, &bad), -EINVAL);     \
                i8042_save(k2, &bad);                                   \
                assert_memory_equal(&bad, &st2, sizeof st2);            \
        } while (0)
        REFUSED(bad.version = 0);
        REFUSED(bad.obf = 2);
        REFUSED(bad.cmd_last = 7);
        REFUSED(bad.pending = 0xfe);
        REFUSED(bad.output_port = 0xfe);
        REFUSED(bad.reserved[1] = 1);
#undef REFUSED
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pvpanic),
                cmocka_unit_test(test_pvpanic_no_callback),
                cmocka_unit_test(test_pvpanic_save_restore),
                cmocka_unit_test(test_i8042_reset),
                cmocka_unit_test(test_i8042_commands),
                cmocka_unit_test(test_i8042_save_restore),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
