/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A 16550A UART, modelled at the register level from the 16550A data sheet.
 *
 * Transmission takes no time: a byte written to THR is handed to the output callback at once, so THR
 * and the transmitter are always empty (LSR THRE and TEMT always set). Receive has a 16-byte FIFO;
 * with FIFOs disabled (16450 mode) it holds one byte.
 *
 * What Linux's 8250 driver does with the port, and what in here answers it (checked against
 * drivers/tty/serial/8250/8250_port.c, v6.x):
 *  - autoconfig(): writes IER 0 and 0x0f and expects to read back 0 and 0x0f in the low nibble (IER
 *    keeps exactly the four enable bits; bits 4-7 read 0, which also keeps the XScale UUE probe from
 *    matching). With UPF_SKIP_TEST clear (not the case for COM1, but cheap to support) it sets MCR
 *    LOOP|OUT2|RTS and wants MSR & 0xf0 == DCD|CTS: loopback maps RTS->CTS, DTR->DSR, OUT1->RI,
 *    OUT2->DCD. Then LCR=0xbf, a write of 0 to offset 2 (EFR on a 16650; FCR here, which disables the
 *    FIFOs), LCR=0, FCR=ENABLE, and IIR >> 6 must be 3 for a 16550A: IIR bits 6-7 follow FCR bit 0.
 *  - autoconfig_16550a() with CONFIG_SERIAL_8250_16550A_VARIANTS: reads offset 2 with LCR=0x80 and
 *    0xbf expecting a non-zero IIR (no EFR): with FIFOs on IIR is never 0. It reads offset 2 with
 *    LCR=0xe0 looking for the NatSemi LOOP bit: IIR bit 4 is always 0. It writes FCR bit 5 (64-byte
 *    FIFO on a 16750): ignored, IIR bit 5 reads 0. size_fifo() sends 256 bytes in loopback and counts
 *    the bytes it can read back: 16, the rest are overruns (OE, counted, never fatal).
 *  - autoconfig_8250() (IIR said "no FIFO", only if a guest turned them off): SCR holds any value.
 *  - autoconfig_irq() (CONFIG_SERIAL_8250_DETECT_IRQ only): IER=0x0f with MCR=DTR|RTS|OUT2, reads
 *    LSR/RBR/IIR/MSR and writes 0xff to THR, expecting the line to rise: the IER write raises THRE,
 *    the IIR read clears it, the THR write raises it again. That 0xff really is transmitted (it
 *    reaches the output callback), as on hardware.
 *  - serial8250_do_startup(): IER=THRI -> IIR must show THRE; IER=0; IER=THRI -> IIR must show THRE
 *    again (else UART_BUG_THRE and a polling timer). Then IER=THRI, LSR has TEMT and IIR must not be
 *    "no interrupt" (else UART_BUG_TXEN). Both hold because a 0->1 change of IER.THRI while THR is
 *    empty latches the THRE interrupt, and reading IIR clears it only when THRE is what IIR reports.
 *  - The interrupt handler reads IIR until it says "no interrupt"; it writes up to 16 bytes per pass
 *    and stops the transmitter by clearing IER.THRI, which drops the line.
 *  - The console (printk) polls LSR for THRE|TEMT, writes THR, and restores IER; a restored THRI
 *    raises THRE as on the real part.
 *  OUT2, which gates IRQ4 on PC boards, is not modelled as a gate: the Irq is the UART's own INTR
 *  output. Linux sets OUT2 whenever it uses the interrupt, so it cannot tell the difference.
 *
 * Receive: interrupts are not delayed, so a FIFO below its trigger level reports the character
 * timeout (IIR 0x0c) at once instead of after four character times; Linux treats both alike. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "device/serial.h"

#define SERIAL_IER_MASK 0x0f
#define SERIAL_MCR_MASK 0x1f
#define SERIAL_MSR_DELTAS 0x0f
#define SERIAL_FCR_STORED (SERIAL_FCR_ENABLE | SERIAL_FCR_DMA | SERIAL_FCR_TRIGGER_MASK)
#define SERIAL_LSR_ERRORS (SERIAL_LSR_OE | SERIAL_LSR_PE | SERIAL_LSR_FE | SERIAL_LSR_BI)
/* The only error this model can produce; restore accepts no other. */
#define SERIAL_LSR_ERRORS_MODELLED SERIAL_LSR_OE
/* Modem inputs when not in loopback: the host end is always there and ready. */
#define SERIAL_MSR_LINES_CONNECTED (SERIAL_MSR_CTS | SERIAL_MSR_DSR | SERIAL_MSR_DCD)
/* Divisor after power-on: 115200 baud with the PC's 1.8432 MHz clock. Nothing depends on it. */
#define SERIAL_DEFAULT_DIVISOR 1

struct Serial {
        pthread_mutex_t lock;
        Irq irq;
        SerialOutputFn output;
        void *opaque;
        SerialRxReadyFn rx_ready;
        void *rx_ready_opaque;

        /* Registers, under lock. */
        uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
        uint8_t lsr_errors;
        uint8_t msr_deltas;
        bool thr_ipending;
        uint8_t rx_fifo[SERIAL_FIFO_SIZE];
        unsigned rx_head, rx_count;

        /* Host side, under lock. */
        bool irq_level;  /* the level we last drove; changes only through serial_update_irq() */
        bool rx_waiting; /* the host was told "no room" and waits for rx_ready */
        bool paused;     /* the VM is paused: the host's bytes wait (device_pause) */
        SerialStats stats;
};

/* save and the getters take a const Serial but still have to take the lock. */
static pthread_mutex_t *serial_lock(const Serial *s) {
        return (pthread_mutex_t *) &s->lock;
}

static bool serial_fifo_enabled(const Serial *s) {
        return s->fcr & SERIAL_FCR_ENABLE;
}

static unsigned serial_rx_capacity(uint8_t fcr) {
        return fcr & SERIAL_FCR_ENABLE ? SERIAL_FIFO_SIZE : 1;
}

static unsigned serial_rx_trigger(const Serial *s) {
        static const unsigned levels[4] = { 1, 4, 8, 14 };
        return serial_fifo_enabled(s) ? levels[s->fcr >> 6] : 1;
}

static void serial_rx_clear(Serial *s) {
        s->rx_head = s->rx_count = 0;
}

/* MSR bits 4-7: in loopback the modem outputs are wired back to the inputs inside the chip. */
static uint8_t serial_msr_lines(const Serial *s) {
        uint8_t m = 0;

        if (!(s->mcr & SERIAL_MCR_LOOP))
                return SERIAL_MSR_LINES_CONNECTED;
        if (s->mcr & SERIAL_MCR_RTS)
                m |= SERIAL_MSR_CTS;
        if (s->mcr & SERIAL_MCR_DTR)
                m |= SERIAL_MSR_DSR;
        if (s->mcr & SERIAL_MCR_OUT1)
                m |= SERIAL_MSR_RI;
        if (s->mcr & SERIAL_MCR_OUT2)
                m |= SERIAL_MSR_DCD;
        return m;
}

/* IIR as the guest would read it now: the highest-priority enabled pending source. */
static uint8_t serial_iir(const Serial *s) {
        uint8_t fifos = serial_fifo_enabled(s) ? SERIAL_IIR_FIFOS : 0;

        if ((s->ier & SERIAL_IER_RLSI) && (s->lsr_errors & SERIAL_LSR_ERRORS))
                return fifos | SERIAL_IIR_RLSI;
        if ((s->ier & SERIAL_IER_RDI) && s->rx_count > 0)
                return fifos | (s->rx_count >= serial_rx_trigger(s) ? SERIAL_IIR_RDI : SERIAL_IIR_TIMEOUT);
        if ((s->ier & SERIAL_IER_THRI) && s->thr_ipending)
                return fifos | SERIAL_IIR_THRI;
        if ((s->ier & SERIAL_IER_MSI) && (s->msr_deltas & SERIAL_MSR_DELTAS))
                return fifos | SERIAL_IIR_MSI;
        return fifos | SERIAL_IIR_NO_INT;
}

/* Called with the lock held after every change, so the line follows the state in order. */
static void serial_update_irq(Serial *s) {
        bool level = !(serial_iir(s) & SERIAL_IIR_NO_INT);

        if (level == s->irq_level)
                return;
        s->irq_level = level;
        if (level)
                s->stats.interrupts++;
        irq_set(&s->irq, level);
}

/* A byte arriving at the receiver: from the host, or from our own transmitter in loopback. */
static void serial_rx_push(Serial *s, uint8_t b) {
        if (s->rx_count >= serial_rx_capacity(s->fcr)) {
                s->lsr_errors |= SERIAL_LSR_OE;
                s->stats.overruns++;
                /* With FIFOs the byte in the shift register is lost and the FIFO is kept; in 16450 mode
                 * the new byte overwrites the unread one in RBR. */
                if (!serial_fifo_enabled(s))
                        s->rx_fifo[s->rx_head] = b;
                return;
        }
        s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = b;
        s->rx_count++;
}

static uint8_t serial_rx_pop(Serial *s) {
        uint8_t b;

        /* An empty RBR reads as 0; real parts return stale data, which no driver relies on. */
        if (s->rx_count == 0)
                return 0;
        b = s->rx_fifo[s->rx_head];
        s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
        s->rx_count--;
        return b;
}

static size_t serial_rx_room_locked(Serial *s) {
        size_t room = 0;

        if (!(s->mcr & SERIAL_MCR_LOOP) && !s->paused)
                room = serial_rx_capacity(s->fcr) - s->rx_count;
        if (room == 0)
                s->rx_waiting = true;
        return room;
}

/* Whether a waiting host should be told to retry now. Waking it only once the guest has drained the
 * FIFO lets it refill all 16 bytes in one go instead of one byte per wake-up. */
static bool serial_rx_ready_due(Serial *s) {
        if (!s->rx_waiting || s->rx_count > 0 || (s->mcr & SERIAL_MCR_LOOP) || s->paused)
                return false;
        s->rx_waiting = false;
        return true;
}

static void serial_set_mcr(Serial *s, uint8_t v) {
        uint8_t before = serial_msr_lines(s), after, changed;

        s->mcr = v & SERIAL_MCR_MASK;
        after = serial_msr_lines(s);
        changed = before ^ after;
        if (changed & SERIAL_MSR_CTS)
                s->msr_deltas |= SERIAL_MSR_DCTS;
        if (changed & SERIAL_MSR_DSR)
                s->msr_deltas |= SERIAL_MSR_DDSR;
        /* TERI is set on the trailing edge of RI only. */
        if ((before & SERIAL_MSR_RI) && !(after & SERIAL_MSR_RI))
                s->msr_deltas |= SERIAL_MSR_TERI;
        if (changed & SERIAL_MSR_DCD)
                s->msr_deltas |= SERIAL_MSR_DDCD;
}

static void serial_set_fcr(Serial *s, uint8_t v) {
        /* Changing the FIFO enable bit clears both FIFOs. */
        if ((v ^ s->fcr) & SERIAL_FCR_ENABLE)
                serial_rx_clear(s);
        if (!(v & SERIAL_FCR_ENABLE)) {
                /* The other bits are only programmed together with the enable bit. */
                s->fcr &= ~SERIAL_FCR_ENABLE;
                return;
        }
        if (v & SERIAL_FCR_CLEAR_RX)
                serial_rx_clear(s);
        /* CLEAR_TX: the transmit FIFO is always empty. Bit 5 (64-byte FIFO on a 16750) does not exist
         * on a 16550A and is dropped, as is the reserved bit 4. */
        s->fcr = v & SERIAL_FCR_STORED;
}

/* Returns the byte to transmit through the output callback, or -1. */
static int serial_write_reg(Serial *s, unsigned reg, uint8_t v) {
        bool dlab = s->lcr & SERIAL_LCR_DLAB;
        int tx = -1;

        switch (reg) {
        case SERIAL_REG_THR:
                if (dlab) {
                        s->dll = v;
                        break;
                }
                if (s->mcr & SERIAL_MCR_LOOP)
                        serial_rx_push(s, v);
                else {
                        tx = v;
                        s->stats.tx_bytes++;
                }
                /* The byte leaves THR at once, so THR is empty again: THRE interrupt (re)latched. */
                s->thr_ipending = true;
                break;
        case SERIAL_REG_IER:
                if (dlab) {
                        s->dlm = v;
                        break;
                }
                /* Enabling the THRE interrupt while THR is empty (it always is) raises it. */
                if (!(s->ier & SERIAL_IER_THRI) && (v & SERIAL_IER_THRI))
                        s->thr_ipending = true;
                s->ier = v & SERIAL_IER_MASK;
                break;
        case SERIAL_REG_FCR:
                serial_set_fcr(s, v);
                break;
        case SERIAL_REG_LCR:
                /* The break bit (6) is kept but sends nothing: the host end has no notion of a break. */
                s->lcr = v;
                break;
        case SERIAL_REG_MCR:
                serial_set_mcr(s, v);
                break;
        case SERIAL_REG_LSR:
        case SERIAL_REG_MSR:
                /* Read-only (writes are a factory test mode on some parts). */
                break;
        case SERIAL_REG_SCR:
                s->scr = v;
                break;
        }
        return tx;
}

static uint8_t serial_read_reg(Serial *s, unsigned reg) {
        bool dlab = s->lcr & SERIAL_LCR_DLAB;
        uint8_t v = 0;

        switch (reg) {
        case SERIAL_REG_RBR:
                v = dlab ? s->dll : serial_rx_pop(s);
                break;
        case SERIAL_REG_IER:
                v = dlab ? s->dlm : s->ier;
                break;
        case SERIAL_REG_IIR:
                v = serial_iir(s);
                /* Reading IIR clears the THRE interrupt, but only when that is what it reported. */
                if ((v & SERIAL_IIR_ID_MASK) == SERIAL_IIR_THRI)
                        s->thr_ipending = false;
                break;
        case SERIAL_REG_LCR:
                v = s->lcr;
                break;
        case SERIAL_REG_MCR:
                v = s->mcr;
                break;
        case SERIAL_REG_LSR:
                v = SERIAL_LSR_THRE | SERIAL_LSR_TEMT | s->lsr_errors;
                if (s->rx_count > 0)
                        v |= SERIAL_LSR_DR;
                /* Bit 7 would report PE/FE/BI inside the FIFO; none are ever produced. */
                s->lsr_errors = 0;
                break;
        case SERIAL_REG_MSR:
                v = serial_msr_lines(s) | s->msr_deltas;
                s->msr_deltas = 0;
                break;
        case SERIAL_REG_SCR:
                v = s->scr;
                break;
        }
        return v;
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Serial *s = opaque;
        bool notify;
        int tx = -1;

        pthread_mutex_lock(&s->lock);
        for (uint32_t i = 0; i < len; i++) {
                if (offset >= SERIAL_REGS || i >= SERIAL_REGS - offset) {
                        if (!is_write)
                                data[i] = 0xff;
                        continue;
                }
                if (is_write) {
                        int r = serial_write_reg(s, offset + i, data[i]);
                        if (r >= 0)
                                tx = r; /* only offset 0 transmits, so at most one byte per access */
                } else
                        data[i] = serial_read_reg(s, offset + i);
        }
        serial_update_irq(s);
        notify = serial_rx_ready_due(s);
        pthread_mutex_unlock(&s->lock);

        /* Outside the lock, so that the callbacks may call back into the device. Bytes from one vCPU
         * stay in order; two vCPUs writing THR at the same instant have no order to keep (the guest
         * serialises its console with a lock, so this does not happen in practice). */
        if (tx >= 0 && s->output) {
                uint8_t b = (uint8_t) tx;
                s->output(s->opaque, &b, 1);
        }
        if (notify && s->rx_ready)
                s->rx_ready(s->rx_ready_opaque);
}

size_t serial_receive(Serial *s, const uint8_t *buf, size_t len) {
        size_t n;

        pthread_mutex_lock(&s->lock);
        n = serial_rx_room_locked(s);
        if (n > len)
                n = len;
        if (n < len)
                s->rx_waiting = true;
        for (size_t i = 0; i < n; i++)
                serial_rx_push(s, buf[i]);
        s->stats.rx_bytes += n;
        serial_update_irq(s);
        pthread_mutex_unlock(&s->lock);
        return n;
}

size_t serial_rx_room(Serial *s) {
        size_t room;

        pthread_mutex_lock(&s->lock);
        room = serial_rx_room_locked(s);
        pthread_mutex_unlock(&s->lock);
        return room;
}

bool serial_can_receive(Serial *s) {
        return serial_rx_room(s) > 0;
}

static void serial_reset_locked(Serial *s) {
        s->ier = 0;
        s->lcr = 0;
        s->mcr = 0;
        s->fcr = 0;
        s->lsr_errors = 0;
        s->msr_deltas = 0;
        s->thr_ipending = false;
        serial_rx_clear(s);
}

void serial_reset(Serial *s) {
        bool notify;

        pthread_mutex_lock(&s->lock);
        serial_reset_locked(s);
        serial_update_irq(s);
        notify = serial_rx_ready_due(s);
        pthread_mutex_unlock(&s->lock);
        if (notify && s->rx_ready)
                s->rx_ready(s->rx_ready_opaque);
}

Serial *serial_free(Serial *s) {
        if (!s)
                return NULL;
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}

int serial_new(const Irq *irq, SerialOutputFn output, void *opaque, Serial **ret) {
        Serial *s;
        int r;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        r = pthread_mutex_init(&s->lock, NULL);
        if (r != 0) {
                free(s);
                return -r;
        }
        if (irq)
                s->irq = *irq;
        s->output = output;
        s->opaque = opaque;
        s->dll = SERIAL_DEFAULT_DIVISOR & 0xff;
        s->dlm = SERIAL_DEFAULT_DIVISOR >> 8;
        serial_reset_locked(s);
        *ret = s;
        return 0;
}

void serial_set_rx_ready(Serial *s, SerialRxReadyFn rx_ready, void *opaque) {
        pthread_mutex_lock(&s->lock);
        s->rx_ready = rx_ready;
        s->rx_ready_opaque = opaque;
        pthread_mutex_unlock(&s->lock);
}

void serial_save(const Serial *s, SerialState *ret) {
        SerialState st = { .version = SERIAL_STATE_VERSION };

        pthread_mutex_lock(serial_lock(s));
        st.ier = s->ier;
        st.lcr = s->lcr;
        st.mcr = s->mcr;
        st.scr = s->scr;
        st.dll = s->dll;
        st.dlm = s->dlm;
        st.fcr = s->fcr;
        st.lsr_errors = s->lsr_errors;
        st.msr_deltas = s->msr_deltas;
        st.thr_ipending = s->thr_ipending;
        st.rx_count = (uint8_t) s->rx_count;
        for (unsigned i = 0; i < s->rx_count; i++)
                st.rx_fifo[i] = s->rx_fifo[(s->rx_head + i) % SERIAL_FIFO_SIZE];
        pthread_mutex_unlock(serial_lock(s));
        *ret = st;
}

static int serial_state_check(const SerialState *st) {
        if (st->version != SERIAL_STATE_VERSION)
                return -EINVAL;
        if ((st->ier & ~SERIAL_IER_MASK) || (st->mcr & ~SERIAL_MCR_MASK) || (st->fcr & ~SERIAL_FCR_STORED))
                return -EINVAL;
        if ((st->lsr_errors & ~SERIAL_LSR_ERRORS_MODELLED) || (st->msr_deltas & ~SERIAL_MSR_DELTAS))
                return -EINVAL;
        if (st->thr_ipending > 1 || st->reserved != 0)
                return -EINVAL;
        if (st->rx_count > serial_rx_capacity(st->fcr))
                return -EINVAL;
        return 0;
}

int serial_restore(Serial *s, const SerialState *st) {
        bool notify;
        int r;

        r = serial_state_check(st);
        if (r < 0)
                return r;

        pthread_mutex_lock(&s->lock);
        s->ier = st->ier;
        s->lcr = st->lcr;
        s->mcr = st->mcr;
        s->scr = st->scr;
        s->dll = st->dll;
        s->dlm = st->dlm;
        s->fcr = st->fcr;
        s->lsr_errors = st->lsr_errors;
        s->msr_deltas = st->msr_deltas;
        s->thr_ipending = st->thr_ipending;
        s->rx_head = 0;
        s->rx_count = st->rx_count;
        memcpy(s->rx_fifo, st->rx_fifo, sizeof s->rx_fifo);
        serial_update_irq(s);
        notify = serial_rx_ready_due(s);
        pthread_mutex_unlock(&s->lock);
        if (notify && s->rx_ready)
                s->rx_ready(s->rx_ready_opaque);
        return 0;
}

void serial_get_stats(const Serial *s, SerialStats *ret) {
        pthread_mutex_lock(serial_lock(s));
        *ret = s->stats;
        pthread_mutex_unlock(serial_lock(s));
}

/* The device model's view (core/device.h). Only vCPUs drive the registers; what pause stops is the
 * host's input, which would change the FIFO under a snapshot. */
static int serial_device_pause(Device *d) {
        Serial *s = d->impl;

        pthread_mutex_lock(&s->lock);
        s->paused = true;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static void serial_device_resume(Device *d) {
        Serial *s = d->impl;
        bool notify;

        pthread_mutex_lock(&s->lock);
        s->paused = false;
        notify = s->rx_waiting && serial_rx_room_locked(s) > 0;
        if (notify)
                s->rx_waiting = false;
        pthread_mutex_unlock(&s->lock);
        if (notify && s->rx_ready)
                s->rx_ready(s->rx_ready_opaque);
}

static int serial_device_save(Device *d, StateWriter *w) {
        SerialState st;

        serial_save(d->impl, &st);
        return state_write(w, SERIAL_STATE_TAG, &st, sizeof st);
}

static int serial_device_restore(Device *d, StateReader *r) {
        SerialState st;
        int k = state_read(r, SERIAL_STATE_TAG, &st, sizeof st);
        return k < 0 ? k : serial_restore(d->impl, &st);
}

static int serial_device_describe(Device *d, sd_json_variant **ret) {
        SerialStats st;

        serial_get_stats(d->impl, &st);
        return sd_json_buildo(ret,
                              SD_JSON_BUILD_PAIR_UNSIGNED("txBytes", st.tx_bytes),
                              SD_JSON_BUILD_PAIR_UNSIGNED("rxBytes", st.rx_bytes),
                              SD_JSON_BUILD_PAIR_UNSIGNED("overruns", st.overruns),
                              SD_JSON_BUILD_PAIR_UNSIGNED("interrupts", st.interrupts));
}

static void serial_device_remove(Device *d) {
        /* Its port range is all the guest reaches, and the tree has unregistered it. */
}

static void serial_device_free(void *impl) {
        serial_free(impl);
}

const DeviceOps serial_device_ops = {
        .type = "serial-8250",
        .pause = serial_device_pause,
        .resume = serial_device_resume,
        .save = serial_device_save,
        .restore = serial_device_restore,
        .describe = serial_device_describe,
        .remove = serial_device_remove,
        .free = serial_device_free,
};
