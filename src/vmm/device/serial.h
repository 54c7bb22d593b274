/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A 16550A UART: the guest's console (ttyS0). Eight byte-wide registers at offsets 0..7 of its port
 * range; serial_io() is the BusHandler. What the guest transmits goes at once, byte by byte, to an
 * output callback; what the host has for the guest goes in with serial_receive(), which takes only
 * what fits in the 16-byte receive FIFO, so nothing the host sends is ever dropped by the device.
 *
 * Threads: serial_io() runs on vCPU threads, serial_receive() on the main thread. A mutex inside the
 * device serialises them. The interrupt line (Irq.set_level) is driven with that mutex held, so the
 * line always follows the order of state changes; set_level therefore must not call back into this
 * device (in vmm it is a KVM_IRQ_LINE ioctl). The output and rx_ready callbacks are called after the
 * mutex is dropped, so they may call serial_receive() or anything else. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "core/device.h"
#include "core/irq.h"

#define SERIAL_REGS 8 /* length of the port range */
#define SERIAL_FIFO_SIZE 16

/* Register offsets (DLAB = LCR bit 7 switches offsets 0 and 1 to the divisor latch). */
#define SERIAL_REG_RBR 0 /* read, DLAB=0: receive buffer */
#define SERIAL_REG_THR 0 /* write, DLAB=0: transmit holding */
#define SERIAL_REG_DLL 0 /* DLAB=1 */
#define SERIAL_REG_IER 1 /* DLAB=0 */
#define SERIAL_REG_DLM 1 /* DLAB=1 */
#define SERIAL_REG_IIR 2 /* read */
#define SERIAL_REG_FCR 2 /* write */
#define SERIAL_REG_LCR 3
#define SERIAL_REG_MCR 4
#define SERIAL_REG_LSR 5
#define SERIAL_REG_MSR 6
#define SERIAL_REG_SCR 7

#define SERIAL_IER_RDI 0x01  /* received data available (and character timeout) */
#define SERIAL_IER_THRI 0x02 /* transmit holding register empty */
#define SERIAL_IER_RLSI 0x04 /* receiver line status */
#define SERIAL_IER_MSI 0x08  /* modem status */

#define SERIAL_IIR_NO_INT 0x01
#define SERIAL_IIR_MSI 0x00
#define SERIAL_IIR_THRI 0x02
#define SERIAL_IIR_RDI 0x04
#define SERIAL_IIR_RLSI 0x06
#define SERIAL_IIR_TIMEOUT 0x0c
#define SERIAL_IIR_ID_MASK 0x0f
#define SERIAL_IIR_FIFOS 0xc0 /* both bits set: FIFOs enabled (what makes Linux say 16550A) */

#define SERIAL_FCR_ENABLE 0x01
#define SERIAL_FCR_CLEAR_RX 0x02
#define SERIAL_FCR_CLEAR_TX 0x04
#define SERIAL_FCR_DMA 0x08
#define SERIAL_FCR_TRIGGER_MASK 0xc0 /* RX trigger level: 1, 4, 8, 14 bytes */

#define SERIAL_LCR_DLAB 0x80

#define SERIAL_MCR_DTR 0x01
#define SERIAL_MCR_RTS 0x02
#define SERIAL_MCR_OUT1 0x04
#define SERIAL_MCR_OUT2 0x08
#define SERIAL_MCR_LOOP 0x10

#define SERIAL_LSR_DR 0x01
#define SERIAL_LSR_OE 0x02
#define SERIAL_LSR_PE 0x04
#define SERIAL_LSR_FE 0x08
#define SERIAL_LSR_BI 0x10
#define SERIAL_LSR_THRE 0x20
#define SERIAL_LSR_TEMT 0x40
#define SERIAL_LSR_FIFO_ERROR 0x80

#define SERIAL_MSR_DCTS 0x01
#define SERIAL_MSR_DDSR 0x02
#define SERIAL_MSR_TERI 0x04
#define SERIAL_MSR_DDCD 0x08
#define SERIAL_MSR_CTS 0x10
#define SERIAL_MSR_DSR 0x20
#define SERIAL_MSR_RI 0x40
#define SERIAL_MSR_DCD 0x80

typedef struct Serial Serial;

/* Called on a vCPU thread with each byte the guest transmits (len is 1 today; do not rely on it). */
typedef void (*SerialOutputFn)(void *opaque, const uint8_t *buf, size_t len);
/* Called on a vCPU thread when a host that was told "no room" may try serial_receive() again. */
typedef void (*SerialRxReadyFn)(void *opaque);

#define SERIAL_STATE_VERSION 1

/* Guest-visible state, fixed layout (a snapshot stores it as is; all fields are bytes, so there is no
 * byte order to worry about). What the device derives (LSR DR/THRE/TEMT, MSR's line bits, IIR, the
 * interrupt line) is not stored; serial_restore() recomputes it. */
typedef struct SerialState {
        uint32_t version; /* SERIAL_STATE_VERSION */
        uint8_t ier;
        uint8_t lcr;
        uint8_t mcr;
        uint8_t scr;
        uint8_t dll;
        uint8_t dlm;
        uint8_t fcr;          /* SERIAL_FCR_ENABLE | _DMA | _TRIGGER_MASK bits as last programmed */
        uint8_t lsr_errors;   /* sticky error bits not yet read from LSR (SERIAL_LSR_OE) */
        uint8_t msr_deltas;   /* delta bits not yet read from MSR */
        uint8_t thr_ipending; /* 0/1: the THR-empty interrupt is latched */
        uint8_t rx_count;     /* bytes in rx_fifo, oldest first */
        uint8_t reserved;     /* 0 */
        uint8_t rx_fifo[SERIAL_FIFO_SIZE];
} SerialState;
_Static_assert(sizeof(SerialState) == 32, "SerialState is a fixed on-disk layout");

typedef struct SerialStats {
        uint64_t tx_bytes;   /* written by the guest and passed to the output callback */
        uint64_t rx_bytes;   /* accepted from the host by serial_receive() */
        uint64_t overruns;   /* bytes lost because the receive FIFO was full (loopback only) */
        uint64_t interrupts; /* low -> high transitions of the interrupt line */
} SerialStats;

/* irq may be NULL (no interrupt line: the guest has to poll), output may be NULL (output discarded).
 * *irq is copied. */
int serial_new(const Irq *irq, SerialOutputFn output, void *opaque, Serial **ret);
Serial *serial_free(Serial *s);
DEFINE_FREEP(Serial, serial_free);
/* Set before vCPUs run. */
void serial_set_rx_ready(Serial *s, SerialRxReadyFn rx_ready, void *opaque);

/* The BusHandler for the 8-port range. An access wider than a byte is split into byte accesses to
 * consecutive registers, as an ISA bus does for an 8-bit device; bytes past the last register read
 * as 0xff and are dropped on writes. */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Host -> guest. Returns how many bytes of buf went into the receive FIFO (0 when it is full, or
 * while the guest has the UART in loopback mode, where the receiver is cut off from the line). A
 * caller that got less than len keeps the rest; rx_ready is called once when the guest has emptied
 * the FIFO. */
size_t serial_receive(Serial *s, const uint8_t *buf, size_t len);
/* Free space in the receive FIFO; 0 also arms rx_ready, like a short serial_receive(). */
size_t serial_rx_room(Serial *s);
bool serial_can_receive(Serial *s);

/* Power-on state, as after a machine reset; SCR and the divisor latch keep their values, as on the
 * real part. */
void serial_reset(Serial *s);

void serial_save(const Serial *s, SerialState *ret);
/* -EINVAL (and the device untouched) if st is not a state this device could have been in. */
int serial_restore(Serial *s, const SerialState *st);

void serial_get_stats(const Serial *s, SerialStats *ret);

/* The Device (core/device.h) whose impl is a Serial: pause holds the host's input back. */
#define SERIAL_STATE_TAG STATE_TAG('U', 'A', 'R', 'T')
extern const DeviceOps serial_device_ops;
