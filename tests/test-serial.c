/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "device/serial.h"

/* An interrupt line that records what the device does with it. */
typedef struct FakeIrq {
        bool level;
        unsigned raises, lowers;
        unsigned redundant; /* set to the level it already had: the device must not do that */
        uint32_t last_gsi;
} FakeIrq;

typedef struct T {
        FakeIrq irq;
        Serial *s;
        uint8_t out[1024];
        size_t n_out;
        unsigned rx_ready;
        bool echo; /* output callback feeds what it gets back through serial_receive() */
} T;

static void fake_set_level(void *opaque, uint32_t gsi, bool level) {
        FakeIrq *f = opaque;

        f->last_gsi = gsi;
        if (level == f->level)
                f->redundant++;
        else if (level)
                f->raises++;
        else
                f->lowers++;
        f->level = level;
}

static void output_cb(void *opaque, const uint8_t *buf, size_t len) {
        T *t = opaque;

        assert_true(t->n_out + len <= sizeof t->out);
        memcpy(t->out + t->n_out, buf, len);
        t->n_out += len;
        if (t->echo)
                /* Must not deadlock: the device calls us with its lock dropped. */
                assert_int_equal(serial_receive(t->s, buf, len), len);
}

static void rx_ready_cb(void *opaque) {
        T *t = opaque;
        t->rx_ready++;
}

static int setup(void **state) {
        T *t = calloc(1, sizeof *t);
        Irq irq = { .set_level = fake_set_level, .opaque = &t->irq, .gsi = 4 };

        assert_non_null(t);
        assert_int_equal(serial_new(&irq, output_cb, t, &t->s), 0);
        serial_set_rx_ready(t->s, rx_ready_cb, t);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        T *t = *state;

        assert_int_equal(t->irq.redundant, 0);
        serial_free(t->s);
        free(t);
        return 0;
}

static uint8_t rd(Serial *s, unsigned reg) {
        uint8_t v = 0xee;
        serial_io(s, reg, &v, 1, false);
        return v;
}

static void wr(Serial *s, unsigned reg, uint8_t v) {
        serial_io(s, reg, &v, 1, true);
}

static void test_reset_values(void **state) {
        T *t = *state;

        assert_int_equal(rd(t->s, SERIAL_REG_IER), 0);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_NO_INT);
        assert_int_equal(rd(t->s, SERIAL_REG_LCR), 0);
        assert_int_equal(rd(t->s, SERIAL_REG_MCR), 0);
        assert_int_equal(rd(t->s, SERIAL_REG_LSR), SERIAL_LSR_THRE | SERIAL_LSR_TEMT);
        /* Not in loopback: the host end is connected and ready, nothing changed yet. */
        assert_int_equal(rd(t->s, SERIAL_REG_MSR), SERIAL_MSR_CTS | SERIAL_MSR_DSR | SERIAL_MSR_DCD);
        assert_int_equal(rd(t->s, SERIAL_REG_RBR), 0);
        assert_false(t->irq.level);
        assert_int_equal(t->irq.raises, 0);
}

static void test_registers(void **state) {
        T *t = *state;

        /* IER keeps the four enable bits only. */
        wr(t->s, SERIAL_REG_IER, 0xf0);
        assert_int_equal(rd(t->s, SERIAL_REG_IER), 0);
        wr(t->s, SERIAL_REG_IER, 0x05);
        assert_int_equal(rd(t->s, SERIAL_REG_IER), 0x05);

        wr(t->s, SERIAL_REG_LCR, 0x1b);
        assert_int_equal(rd(t->s, SERIAL_REG_LCR), 0x1b);
        wr(t->s, SERIAL_REG_SCR, 0xa5);
        assert_int_equal(rd(t->s, SERIAL_REG_SCR), 0xa5);
        wr(t->s, SERIAL_REG_MCR, 0xeb);
        assert_int_equal(rd(t->s, SERIAL_REG_MCR), 0x0b); /* bits 5-7 do not exist */

        /* DLAB: offsets 0 and 1 become the divisor latch, and writing DLL transmits nothing. */
        wr(t->s, SERIAL_REG_LCR, 0x80 | 0x03);
        wr(t->s, SERIAL_REG_DLL, 0x34);
        wr(t->s, SERIAL_REG_DLM, 0x12);
        assert_int_equal(rd(t->s, SERIAL_REG_DLL), 0x34);
        assert_int_equal(rd(t->s, SERIAL_REG_DLM), 0x12);
        assert_int_equal(rd(t->s, SERIAL_REG_LCR), 0x83);
        assert_int_equal(t->n_out, 0);
        wr(t->s, SERIAL_REG_LCR, 0x03);
        assert_int_equal(rd(t->s, SERIAL_REG_IER), 0x05);
        assert_int_equal(rd(t->s, SERIAL_REG_RBR), 0);
        wr(t->s, SERIAL_REG_LCR, 0x83);
        assert_int_equal(rd(t->s, SERIAL_REG_DLL), 0x34);
        wr(t->s, SERIAL_REG_LCR, 0x03);

        /* LSR and MSR ignore writes. */
        wr(t->s, SERIAL_REG_LSR, 0xff);
        assert_int_equal(rd(t->s, SERIAL_REG_LSR), SERIAL_LSR_THRE | SERIAL_LSR_TEMT);

        /* FCR is write-only: offset 2 reads IIR, whose top bits follow FCR bit 0. */
        wr(t->s, SERIAL_REG_IER, 0);
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc1);
        wr(t->s, SERIAL_REG_FCR, 0);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0x01);
        /* Without the enable bit the trigger bits are not programmed either. */
        wr(t->s, SERIAL_REG_FCR, 0xc0);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0x01);
}

/* The sequence of Linux's 8250 autoconfig(), autoconfig_16550a() and size_fifo(). */
static void test_linux_probe(void **state) {
        T *t = *state;
        uint8_t save_ier, save_mcr, save_lcr, iir, excr1, mcr;
        SerialStats stats;
        unsigned count;

        /* IER existence test. */
        save_ier = rd(t->s, SERIAL_REG_IER);
        wr(t->s, SERIAL_REG_IER, 0);
        assert_int_equal(rd(t->s, SERIAL_REG_IER) & 0x0f, 0);
        wr(t->s, SERIAL_REG_IER, 0x0f);
        assert_int_equal(rd(t->s, SERIAL_REG_IER) & 0x0f, 0x0f);
        wr(t->s, SERIAL_REG_IER, save_ier);

        /* Loopback test: MCR = LOOP|OUT2|RTS must read back DCD|CTS. */
        save_mcr = rd(t->s, SERIAL_REG_MCR);
        save_lcr = rd(t->s, SERIAL_REG_LCR);
        wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP | SERIAL_MCR_OUT2 | SERIAL_MCR_RTS);
        assert_int_equal(rd(t->s, SERIAL_REG_MSR) & 0xf0, SERIAL_MSR_DCD | SERIAL_MSR_CTS);
        wr(t->s, SERIAL_REG_MCR, save_mcr);

        /* EFR write in LCR 0xbf (our FCR), then FIFO detection: IIR >> 6 == 3 means 16550A. */
        wr(t->s, SERIAL_REG_LCR, 0xbf);
        wr(t->s, 2, 0);
        wr(t->s, SERIAL_REG_LCR, 0);
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        iir = rd(t->s, SERIAL_REG_IIR);
        assert_int_equal(iir, 0xc1);
        assert_int_equal(iir >> 6, 3);

        /* autoconfig_16550a(): no EFR with LCR 0x80 or 0xbf (offset 2 reads a non-zero IIR)... */
        wr(t->s, SERIAL_REG_LCR, 0x80);
        assert_int_not_equal(rd(t->s, 2), 0);
        wr(t->s, SERIAL_REG_LCR, 0xbf);
        assert_int_not_equal(rd(t->s, 2), 0);
        /* ...not a NatSemi part (EXCR1 at LCR 0xe0 does not follow MCR LOOP)... */
        wr(t->s, SERIAL_REG_LCR, 0);
        mcr = rd(t->s, SERIAL_REG_MCR);
        wr(t->s, SERIAL_REG_LCR, 0xe0);
        excr1 = rd(t->s, 2);
        assert_int_equal((excr1 ^ mcr) & SERIAL_MCR_LOOP, 0);
        wr(t->s, SERIAL_REG_LCR, 0);
        wr(t->s, SERIAL_REG_MCR, mcr ^ SERIAL_MCR_LOOP);
        wr(t->s, SERIAL_REG_LCR, 0xe0);
        excr1 = rd(t->s, 2);
        wr(t->s, SERIAL_REG_LCR, 0);
        wr(t->s, SERIAL_REG_MCR, mcr);
        assert_int_equal((excr1 ^ mcr) & SERIAL_MCR_LOOP, 0);
        /* ...not a 16750 (no 64-byte FIFO bit in IIR, with or without DLAB)... */
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE | 0x20);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR) & 0xe0, 0xc0);
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        wr(t->s, SERIAL_REG_LCR, 0x80);
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE | 0x20);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR) & 0xe0, 0xc0);
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        wr(t->s, SERIAL_REG_LCR, 0);
        /* ...not an XScale (IER bit 6, UUE, does not stick). */
        save_ier = rd(t->s, SERIAL_REG_IER);
        wr(t->s, SERIAL_REG_IER, save_ier | 0x40);
        assert_int_equal(rd(t->s, SERIAL_REG_IER) & 0x40, 0);
        wr(t->s, SERIAL_REG_IER, save_ier);

        /* size_fifo(): 256 bytes sent in loopback, 16 come back, the rest overrun. */
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE | SERIAL_FCR_CLEAR_RX | SERIAL_FCR_CLEAR_TX);
        wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP);
        wr(t->s, SERIAL_REG_LCR, 0x80);
        wr(t->s, SERIAL_REG_DLL, 1);
        wr(t->s, SERIAL_REG_DLM, 0);
        wr(t->s, SERIAL_REG_LCR, 0x03);
        for (unsigned i = 0; i < 256; i++)
                wr(t->s, SERIAL_REG_THR, (uint8_t) i);
        for (count = 0; (rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_DR) && count < 256; count++)
                assert_int_equal(rd(t->s, SERIAL_REG_RBR), count);
        assert_int_equal(count, SERIAL_FIFO_SIZE);
        assert_int_equal(t->n_out, 0); /* loopback never reaches the line */
        serial_get_stats(t->s, &stats);
        assert_int_equal(stats.overruns, 256 - SERIAL_FIFO_SIZE);
        assert_int_equal(stats.tx_bytes, 0);
        wr(t->s, SERIAL_REG_MCR, save_mcr);
        wr(t->s, SERIAL_REG_LCR, save_lcr);

        /* Reset at the end of autoconfig(): clear FIFOs, read RBR, IER 0. Nothing is pending. */
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE | SERIAL_FCR_CLEAR_RX | SERIAL_FCR_CLEAR_TX);
        wr(t->s, SERIAL_REG_FCR, 0);
        (void) rd(t->s, SERIAL_REG_RBR);
        wr(t->s, SERIAL_REG_IER, 0);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_NO_INT);

        /* autoconfig_8250() scratch test, had the FIFO test failed. */
        wr(t->s, SERIAL_REG_SCR, 0xa5);
        assert_int_equal(rd(t->s, SERIAL_REG_SCR), 0xa5);
        wr(t->s, SERIAL_REG_SCR, 0x5a);
        assert_int_equal(rd(t->s, SERIAL_REG_SCR), 0x5a);

        /* serial8250_do_startup() THRE re-assert test and TXEN test: all must see THRE. */
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_THRI);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR) & SERIAL_IIR_NO_INT, 0);
        wr(t->s, SERIAL_REG_IER, 0);
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_THRI);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR) & SERIAL_IIR_NO_INT, 0);
        wr(t->s, SERIAL_REG_IER, 0);
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_THRI);
        assert_true(rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_TEMT);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_THRI);
        wr(t->s, SERIAL_REG_IER, 0);
        assert_false(t->irq.level);
        /* The LSR safety check: never 0xff. */
        assert_int_not_equal(rd(t->s, SERIAL_REG_LSR), 0xff);
}

static void test_loopback_msr(void **state) {
        T *t = *state;
        static const struct {
                uint8_t mcr, msr;
        } map[] = {
                { SERIAL_MCR_DTR, SERIAL_MSR_DSR },
                { SERIAL_MCR_RTS, SERIAL_MSR_CTS },
                { SERIAL_MCR_OUT1, SERIAL_MSR_RI },
                { SERIAL_MCR_OUT2, SERIAL_MSR_DCD },
        };

        wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP);
        /* Entering loopback drops CTS, DSR and DCD: deltas for all three. */
        assert_int_equal(rd(t->s, SERIAL_REG_MSR), SERIAL_MSR_DCTS | SERIAL_MSR_DDSR | SERIAL_MSR_DDCD);
        assert_int_equal(rd(t->s, SERIAL_REG_MSR), 0);
        for (size_t i = 0; i < ELEMENTSOF(map); i++) {
                uint8_t delta = map[i].msr == SERIAL_MSR_RI ? 0 : map[i].msr >> 4;

                wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP | map[i].mcr);
                assert_int_equal(rd(t->s, SERIAL_REG_MSR), map[i].msr | delta);
                wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP);
                /* Falling edge: RI reports TERI, the others their delta bit. */
                delta = map[i].msr == SERIAL_MSR_RI ? SERIAL_MSR_TERI : map[i].msr >> 4;
                assert_int_equal(rd(t->s, SERIAL_REG_MSR), delta);
        }
        wr(t->s, SERIAL_REG_MCR, 0x1f);
        assert_int_equal(rd(t->s, SERIAL_REG_MSR) & 0xf0, 0xf0);

        /* A modem status interrupt when enabled. */
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_MSI);
        assert_false(t->irq.level);
        wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP);
        assert_true(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_MSI);
        (void) rd(t->s, SERIAL_REG_MSR);
        assert_false(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_NO_INT);
}

static void test_tx(void **state) {
        T *t = *state;
        SerialStats stats;
        uint8_t wide[2] = { 'A', 0x00 };

        for (const char *p = "hello"; *p; p++) {
                assert_true(rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_THRE);
                wr(t->s, SERIAL_REG_THR, (uint8_t) *p);
        }
        assert_int_equal(t->n_out, 5);
        assert_memory_equal(t->out, "hello", 5);

        /* A 16-bit write at offset 0: THR gets the low byte, IER the high one. */
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_RDI);
        serial_io(t->s, 0, wide, 2, true);
        assert_int_equal(t->n_out, 6);
        assert_int_equal(t->out[5], 'A');
        assert_int_equal(rd(t->s, SERIAL_REG_IER), 0);

        serial_get_stats(t->s, &stats);
        assert_int_equal(stats.tx_bytes, 6);
        assert_int_equal(stats.interrupts, 0);
        assert_int_equal(stats.rx_bytes, 0);
}

static void test_wide_access(void **state) {
        T *t = *state;
        uint8_t d[8];

        wr(t->s, SERIAL_REG_LCR, 0x03);
        wr(t->s, SERIAL_REG_SCR, 0x77);
        memset(d, 0, sizeof d);
        serial_io(t->s, 4, d, 4, false);
        assert_int_equal(d[0], 0);                                      /* MCR */
        assert_int_equal(d[1], SERIAL_LSR_THRE | SERIAL_LSR_TEMT);     /* LSR */
        assert_int_equal(d[2], SERIAL_MSR_CTS | SERIAL_MSR_DSR | SERIAL_MSR_DCD);
        assert_int_equal(d[3], 0x77);                                   /* SCR */

        /* Past the last register (only reachable by calling the handler directly): all-ones. */
        memset(d, 0, sizeof d);
        serial_io(t->s, 6, d, 4, false);
        assert_int_equal(d[1], 0x77);
        assert_int_equal(d[2], 0xff);
        assert_int_equal(d[3], 0xff);
        memset(d, 0, sizeof d);
        serial_io(t->s, UINT64_MAX, d, 8, false);
        for (size_t i = 0; i < 8; i++)
                assert_int_equal(d[i], 0xff);
        memset(d, 0x41, sizeof d);
        serial_io(t->s, UINT64_MAX - 1, d, 8, true);
        serial_io(t->s, 8, d, 1, true);
        assert_int_equal(t->n_out, 0);
        assert_int_equal(rd(t->s, SERIAL_REG_LCR), 0x03);
}

static void test_irq_rx(void **state) {
        T *t = *state;
        const uint8_t abc[] = "abc";

        wr(t->s, SERIAL_REG_IER, SERIAL_IER_RDI);
        assert_false(t->irq.level);
        assert_int_equal(serial_receive(t->s, abc, 1), 1);
        assert_true(t->irq.level);
        assert_int_equal(t->irq.last_gsi, 4);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_RDI); /* 16450 mode: no FIFO bits */
        assert_int_equal(rd(t->s, SERIAL_REG_LSR), SERIAL_LSR_DR | SERIAL_LSR_THRE | SERIAL_LSR_TEMT);
        assert_int_equal(rd(t->s, SERIAL_REG_RBR), 'a');
        assert_false(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_NO_INT);

        /* FIFO with trigger level 8: three bytes report the character timeout instead. */
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE | 0x80);
        assert_int_equal(serial_receive(t->s, abc, 3), 3);
        assert_true(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_FIFOS | SERIAL_IIR_TIMEOUT);
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(rd(t->s, SERIAL_REG_RBR), abc[i]);
        assert_false(t->irq.level);
        {
                uint8_t many[10];
                memset(many, 'x', sizeof many);
                assert_int_equal(serial_receive(t->s, many, sizeof many), sizeof many);
        }
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_FIFOS | SERIAL_IIR_RDI);
        /* Clearing the receive FIFO withdraws the interrupt. */
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE | SERIAL_FCR_CLEAR_RX | 0x80);
        assert_false(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_DR, 0);
        assert_int_equal(t->irq.raises, 3);
        assert_int_equal(t->irq.lowers, 3);
}

static void test_irq_thre(void **state) {
        T *t = *state;
        SerialStats stats;

        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        /* Enabling THRI with THR empty raises the interrupt. */
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_THRI);
        assert_true(t->irq.level);
        assert_int_equal(t->irq.raises, 1);
        /* Reading IIR reports it and clears it. */
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc2);
        assert_false(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc1);
        /* Rewriting IER with THRI still set is no 0 -> 1 change: nothing. */
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_THRI);
        assert_false(t->irq.level);
        /* Off and on again re-raises it. */
        wr(t->s, SERIAL_REG_IER, 0);
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_THRI);
        assert_true(t->irq.level);
        assert_int_equal(t->irq.raises, 2);
        /* Writing THR: the byte leaves at once and THR is empty again, so it stays pending (no toggle
         * of the line in between). */
        (void) rd(t->s, SERIAL_REG_IIR);
        assert_false(t->irq.level);
        wr(t->s, SERIAL_REG_THR, 'x');
        assert_true(t->irq.level);
        wr(t->s, SERIAL_REG_THR, 'y');
        assert_true(t->irq.level);
        assert_int_equal(t->irq.raises, 3);
        /* The driver stops the transmitter by clearing THRI: the line drops. */
        wr(t->s, SERIAL_REG_IER, 0);
        assert_false(t->irq.level);
        /* Reading LSR does not clear THRE. */
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_THRI);
        (void) rd(t->s, SERIAL_REG_LSR);
        assert_true(t->irq.level);
        wr(t->s, SERIAL_REG_IER, 0);
        serial_get_stats(t->s, &stats);
        assert_int_equal(stats.interrupts, 4);
        assert_int_equal(t->irq.raises, 4);
        assert_int_equal(t->irq.lowers, 4);
}

static void test_irq_line_status(void **state) {
        T *t = *state;
        SerialStats stats;

        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP);
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_RLSI);
        for (unsigned i = 0; i < SERIAL_FIFO_SIZE; i++)
                wr(t->s, SERIAL_REG_THR, (uint8_t) ('A' + i));
        assert_false(t->irq.level); /* RDI is masked, nothing lost yet */
        wr(t->s, SERIAL_REG_THR, '!');
        assert_true(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc6);
        /* LSR shows and clears the overrun. */
        assert_int_equal(rd(t->s, SERIAL_REG_LSR),
                         SERIAL_LSR_DR | SERIAL_LSR_OE | SERIAL_LSR_THRE | SERIAL_LSR_TEMT);
        assert_false(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_LSR), SERIAL_LSR_DR | SERIAL_LSR_THRE | SERIAL_LSR_TEMT);
        /* The FIFO kept the first 16 bytes; the 17th was lost. */
        for (unsigned i = 0; i < SERIAL_FIFO_SIZE; i++)
                assert_int_equal(rd(t->s, SERIAL_REG_RBR), 'A' + i);
        assert_int_equal(rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_DR, 0);
        serial_get_stats(t->s, &stats);
        assert_int_equal(stats.overruns, 1);

        /* 16450 mode: one byte of buffer, and an overrun replaces it. */
        wr(t->s, SERIAL_REG_FCR, 0);
        wr(t->s, SERIAL_REG_THR, '1');
        wr(t->s, SERIAL_REG_THR, '2');
        assert_true(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_RLSI);
        assert_true(rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_OE);
        assert_int_equal(rd(t->s, SERIAL_REG_RBR), '2');
        assert_int_equal(rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_DR, 0);
        assert_false(t->irq.level);
}

static void test_irq_masking(void **state) {
        T *t = *state;
        const uint8_t b = 'z';

        /* Every source pending, none enabled: the line stays low and IIR says nothing. */
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        assert_int_equal(serial_receive(t->s, &b, 1), 1);
        wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP); /* MSR deltas */
        for (unsigned i = 0; i < SERIAL_FIFO_SIZE; i++)
                wr(t->s, SERIAL_REG_THR, 0); /* overrun on the last one; THRE latched */
        assert_false(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc1);

        static const struct {
                uint8_t ier, iir;
        } each[] = {
                { SERIAL_IER_RLSI, 0xc6 },
                { SERIAL_IER_RDI, 0xc4 },
                { SERIAL_IER_THRI, 0xc2 },
                { SERIAL_IER_MSI, 0xc0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(each); i++) {
                wr(t->s, SERIAL_REG_IER, each[i].ier);
                assert_true(t->irq.level);
                /* Peek without clearing THRE: only the THRI case reads IIR destructively, last. */
                if (each[i].ier != SERIAL_IER_THRI)
                        assert_int_equal(rd(t->s, SERIAL_REG_IIR), each[i].iir);
                wr(t->s, SERIAL_REG_IER, 0);
                assert_false(t->irq.level);
        }
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_THRI);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc2);
        assert_false(t->irq.level);
        assert_int_equal(t->irq.raises, 5);
}

static void test_irq_priority(void **state) {
        T *t = *state;
        const uint8_t b = 'q';

        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP); /* modem status deltas pending */
        for (unsigned i = 0; i <= SERIAL_FIFO_SIZE; i++)
                wr(t->s, SERIAL_REG_THR, b); /* data and an overrun pending */
        wr(t->s, SERIAL_REG_IER, 0x0f);    /* THRE pending too */
        assert_true(t->irq.level);
        assert_int_equal(t->irq.raises, 1);

        /* Line status > received data > THR empty > modem status; each cleared by its own action. */
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc6);
        (void) rd(t->s, SERIAL_REG_LSR);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc4);
        for (unsigned i = 0; i < SERIAL_FIFO_SIZE; i++)
                assert_int_equal(rd(t->s, SERIAL_REG_RBR), b);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc2); /* this read clears THRE */
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc0);
        assert_true(t->irq.level);
        (void) rd(t->s, SERIAL_REG_MSR);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc1);
        assert_false(t->irq.level);
        /* One interrupt for the whole batch: the line was never toggled in between. */
        assert_int_equal(t->irq.raises, 1);
        assert_int_equal(t->irq.lowers, 1);

        /* Reading IIR while a higher source is pending leaves THRE latched. */
        wr(t->s, SERIAL_REG_THR, b); /* loopback: data, and THRE re-latched */
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc4);
        (void) rd(t->s, SERIAL_REG_RBR);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc2);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), 0xc1);
}

static void test_rx_fifo(void **state) {
        T *t = *state;
        uint8_t buf[20];
        SerialStats stats;

        for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (uint8_t) i;

        /* 16450 mode holds one byte. */
        assert_int_equal(serial_rx_room(t->s), 1);
        assert_int_equal(serial_receive(t->s, buf, 3), 1);
        assert_false(serial_can_receive(t->s));
        assert_int_equal(rd(t->s, SERIAL_REG_RBR), 0);
        assert_int_equal(t->rx_ready, 1);

        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        assert_int_equal(serial_rx_room(t->s), SERIAL_FIFO_SIZE);
        assert_int_equal(serial_receive(t->s, buf, 0), 0);
        assert_int_equal(serial_receive(t->s, buf, 10), 10);
        assert_int_equal(serial_receive(t->s, buf + 10, 10), 6); /* partial */
        assert_int_equal(serial_receive(t->s, buf + 16, 4), 0);  /* full */
        assert_int_equal(serial_rx_room(t->s), 0);
        /* Nothing was lost: the device only takes what fits. */
        assert_int_equal(rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_OE, 0);
        for (unsigned i = 0; i < SERIAL_FIFO_SIZE; i++) {
                assert_true(rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_DR);
                /* The host is told to retry only once the FIFO is empty. */
                assert_int_equal(t->rx_ready, 1);
                assert_int_equal(rd(t->s, SERIAL_REG_RBR), i);
        }
        assert_int_equal(t->rx_ready, 2);
        assert_int_equal(rd(t->s, SERIAL_REG_LSR) & SERIAL_LSR_DR, 0);
        assert_int_equal(serial_receive(t->s, buf + 16, 4), 4);
        for (unsigned i = 16; i < 20; i++)
                assert_int_equal(rd(t->s, SERIAL_REG_RBR), i);
        assert_int_equal(t->rx_ready, 2); /* nobody was waiting */

        /* In loopback the receiver is cut off from the host. */
        wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP);
        assert_int_equal(serial_receive(t->s, buf, 1), 0);
        assert_int_equal(serial_rx_room(t->s), 0);
        wr(t->s, SERIAL_REG_MCR, 0);
        assert_int_equal(t->rx_ready, 3);
        assert_int_equal(serial_receive(t->s, buf, 1), 1);

        serial_get_stats(t->s, &stats);
        assert_int_equal(stats.rx_bytes, 1 + 16 + 4 + 1);
        assert_int_equal(stats.overruns, 0);
}

static void test_echo_reentrancy(void **state) {
        T *t = *state;

        /* The output callback calls serial_receive() on the same device: no deadlock. */
        t->echo = true;
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_RDI);
        wr(t->s, SERIAL_REG_THR, 'e');
        assert_true(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_RBR), 'e');
        assert_false(t->irq.level);
}

static void test_reset(void **state) {
        T *t = *state;
        const uint8_t b = 1;

        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        wr(t->s, SERIAL_REG_SCR, 0x42);
        wr(t->s, SERIAL_REG_IER, 0x0f);
        assert_int_equal(serial_receive(t->s, &b, 1), 1);
        assert_true(t->irq.level);
        serial_reset(t->s);
        assert_false(t->irq.level);
        assert_int_equal(rd(t->s, SERIAL_REG_IER), 0);
        assert_int_equal(rd(t->s, SERIAL_REG_IIR), SERIAL_IIR_NO_INT);
        assert_int_equal(rd(t->s, SERIAL_REG_LSR), SERIAL_LSR_THRE | SERIAL_LSR_TEMT);
        assert_int_equal(rd(t->s, SERIAL_REG_SCR), 0x42);
}

/* Reads every register of both devices in the same order and compares. */
static void assert_same_registers(Serial *a, Serial *b) {
        static const uint8_t order[] = {
                SERIAL_REG_IER, SERIAL_REG_LCR, SERIAL_REG_MCR, SERIAL_REG_SCR, SERIAL_REG_IIR,
                SERIAL_REG_LSR, SERIAL_REG_MSR, SERIAL_REG_IIR, SERIAL_REG_LSR, SERIAL_REG_MSR,
        };

        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                assert_int_equal(rd(a, order[i]), rd(b, order[i]));
        /* The divisor latch. */
        wr(a, SERIAL_REG_LCR, rd(a, SERIAL_REG_LCR) | SERIAL_LCR_DLAB);
        wr(b, SERIAL_REG_LCR, rd(b, SERIAL_REG_LCR) | SERIAL_LCR_DLAB);
        assert_int_equal(rd(a, SERIAL_REG_DLL), rd(b, SERIAL_REG_DLL));
        assert_int_equal(rd(a, SERIAL_REG_DLM), rd(b, SERIAL_REG_DLM));
        wr(a, SERIAL_REG_LCR, rd(a, SERIAL_REG_LCR) & ~SERIAL_LCR_DLAB);
        wr(b, SERIAL_REG_LCR, rd(b, SERIAL_REG_LCR) & ~SERIAL_LCR_DLAB);
        /* The FIFO contents, to the end. */
        for (unsigned i = 0; i <= SERIAL_FIFO_SIZE; i++) {
                assert_int_equal(rd(a, SERIAL_REG_LSR), rd(b, SERIAL_REG_LSR));
                assert_int_equal(rd(a, SERIAL_REG_RBR), rd(b, SERIAL_REG_RBR));
        }
}

static void test_save_restore(void **state) {
        T *t = *state;
        FakeIrq irq2 = {};
        Irq irq = { .set_level = fake_set_level, .opaque = &irq2, .gsi = 4 };
        _cleanup_(serial_freep) Serial *s2 = NULL;
        SerialState st, st2;
        const uint8_t data[] = "snapshot";

        /* A state with a bit of everything: divisor, line settings, FIFO with a trigger level and a
         * wrapped ring, an overrun, modem deltas, a latched THRE interrupt. */
        wr(t->s, SERIAL_REG_LCR, 0x80);
        wr(t->s, SERIAL_REG_DLL, 0x0c);
        wr(t->s, SERIAL_REG_DLM, 0x01);
        wr(t->s, SERIAL_REG_LCR, 0x1b);
        wr(t->s, SERIAL_REG_SCR, 0x99);
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE | 0x40);
        assert_int_equal(serial_receive(t->s, data, 8), 8);
        for (int i = 0; i < 5; i++)
                (void) rd(t->s, SERIAL_REG_RBR);
        wr(t->s, SERIAL_REG_MCR, SERIAL_MCR_LOOP | SERIAL_MCR_DTR | SERIAL_MCR_OUT2);
        for (int i = 0; i < 14; i++)
                wr(t->s, SERIAL_REG_THR, (uint8_t) ('0' + i)); /* 3 + 13 fit, one overruns */
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_THRI | SERIAL_IER_MSI);
        assert_true(t->irq.level);

        serial_save(t->s, &st);
        assert_int_equal(st.version, SERIAL_STATE_VERSION);
        assert_int_equal(st.rx_count, SERIAL_FIFO_SIZE);
        assert_int_equal(st.rx_fifo[0], data[5]); /* oldest first, whatever the ring's head */
        assert_int_equal(st.lsr_errors, SERIAL_LSR_OE);

        assert_int_equal(serial_new(&irq, NULL, NULL, &s2), 0);
        assert_int_equal(serial_restore(s2, &st), 0);
        /* The restored device drives its line to the state's level at once. */
        assert_true(irq2.level);
        serial_save(s2, &st2);
        assert_memory_equal(&st, &st2, sizeof st);

        assert_same_registers(t->s, s2);
        assert_int_equal(irq2.redundant, 0);

        /* Restoring a quiet state lowers a raised line. */
        {
                SerialState quiet = { .version = SERIAL_STATE_VERSION };
                wr(s2, SERIAL_REG_IER, 0);
                wr(s2, SERIAL_REG_IER, SERIAL_IER_THRI);
                assert_true(irq2.level);
                assert_int_equal(serial_restore(s2, &quiet), 0);
                assert_false(irq2.level);
        }
}

static void test_restore_corrupt(void **state) {
        T *t = *state;
        SerialState good, bad, after;

        wr(t->s, SERIAL_REG_SCR, 0x5a);
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_RDI);
        serial_save(t->s, &good);

#define REFUSED(field_change)                                                         \
        do {                                                                          \
                bad = good;                                                           \
                field_change;                                                         \
                assert_int_equal(serial_restore(t->s, &bad), -EINVAL);                \
                serial_save(t->s, &after);                                            \
                assert_memory_equal(&after, &good, sizeof good);                      \
        } while (0)

        REFUSED(bad.version = 0);
        REFUSED(bad.version = SERIAL_STATE_VERSION + 1);
        REFUSED(bad.ier = 0x10);
        REFUSED(bad.mcr = 0x20);
        REFUSED(bad.fcr = SERIAL_FCR_ENABLE | SERIAL_FCR_CLEAR_RX);
        REFUSED(bad.fcr = 0x20);
        REFUSED(bad.lsr_errors = SERIAL_LSR_PE);
        REFUSED(bad.lsr_errors = SERIAL_LSR_DR);
        REFUSED(bad.msr_deltas = SERIAL_MSR_CTS);
        REFUSED(bad.thr_ipending = 2);
        REFUSED(bad.reserved = 1);
        REFUSED(bad.rx_count = SERIAL_FIFO_SIZE + 1);
        REFUSED(bad.rx_count = 255);
        REFUSED((bad.fcr = 0, bad.rx_count = 2)); /* 16450 mode holds one byte */
#undef REFUSED

        /* The edges that are fine. */
        bad = good;
        bad.fcr = SERIAL_FCR_ENABLE | SERIAL_FCR_TRIGGER_MASK | SERIAL_FCR_DMA;
        bad.rx_count = SERIAL_FIFO_SIZE;
        assert_int_equal(serial_restore(t->s, &bad), 0);
        assert_true(t->irq.level);
}

typedef struct Pipe {
        Serial *s;
        size_t n;
        uint8_t got[4096];
} Pipe;

static void *guest_reader(void *arg) {
        Pipe *p = arg;
        size_t got = 0;

        /* A polling guest on a "vCPU" thread. */
        while (got < p->n) {
                if (rd(p->s, SERIAL_REG_LSR) & SERIAL_LSR_DR)
                        p->got[got++] = rd(p->s, SERIAL_REG_RBR);
        }
        return NULL;
}

static void test_threads(void **state) {
        T *t = *state;
        static Pipe p;
        uint8_t buf[sizeof p.got];
        pthread_t th;
        size_t sent = 0;
        SerialStats stats;

        for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (uint8_t) (i * 7 + i / 256);
        wr(t->s, SERIAL_REG_FCR, SERIAL_FCR_ENABLE);
        wr(t->s, SERIAL_REG_IER, SERIAL_IER_RDI);
        p.s = t->s;
        p.n = sizeof buf;
        assert_int_equal(pthread_create(&th, NULL, guest_reader, &p), 0);
        while (sent < sizeof buf)
                sent += serial_receive(t->s, buf + sent, sizeof buf - sent);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_memory_equal(p.got, buf, sizeof buf);
        serial_get_stats(t->s, &stats);
        assert_int_equal(stats.rx_bytes, sizeof buf);
        assert_int_equal(stats.overruns, 0);
        assert_false(t->irq.level);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_reset_values, setup, teardown),
                cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_linux_probe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_loopback_msr, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wide_access, setup, teardown),
                cmocka_unit_test_setup_teardown(test_irq_rx, setup, teardown),
                cmocka_unit_test_setup_teardown(test_irq_thre, setup, teardown),
                cmocka_unit_test_setup_teardown(test_irq_line_status, setup, teardown),
                cmocka_unit_test_setup_teardown(test_irq_masking, setup, teardown),
                cmocka_unit_test_setup_teardown(test_irq_priority, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rx_fifo, setup, teardown),
                cmocka_unit_test_setup_teardown(test_echo_reentrancy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restore_corrupt, setup, teardown),
                cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
