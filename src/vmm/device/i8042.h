/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Just enough of the PS/2 (8042) keyboard controller for a guest to reset the machine: a command
 * 0xfe (pulse the reset line) on X86_PORT_I8042_CMD calls the reset callback. No keyboard or mouse is
 * attached and no interrupt is ever raised. The status register says "no data, input buffer empty",
 * so a guest waiting to send a command (Linux's kb_wait() before 0xfe) never spins.
 *
 * Controller commands, for a guest that probes the controller (Linux does only when ACPI announces
 * one: a PNP0303/PNP0F13 device or the FADT's 8042 boot flag; otherwise it logs "PNP: No PS/2
 * controller found" and leaves these ports alone):
 *   0x20 read the configuration byte (CTR)   0x60 write it (next data byte)
 *   0xa7/0xa8 disable/enable the aux port    0xad/0xae disable/enable the keyboard port (CTR bits)
 *   0xaa self-test -> 0x55 (passed)          0xa9/0xab aux/keyboard interface test -> 0x01 (clock line
 *                                            stuck low: nothing usable attached, so drivers give up)
 *   0xd0 read the output port                0xd1 write it (next data byte; bit 0 clear resets)
 *   0xf0-0xff pulse output lines low for the 0 bits of the low nibble; bit 0 is reset (0xfe)
 * Anything else, and data bytes meant for a keyboard or mouse, are ignored: a guest waiting for a
 * device's answer times out as it would with nothing plugged in. Replies are read by polling status
 * bit 0 (OBF) and then the data port, as Linux's i8042_command() does. */

#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "core/device.h"

#define I8042_STATUS_OBF 0x01    /* output buffer full: a reply waits at the data port */
#define I8042_STATUS_IBF 0x02    /* input buffer full: never set, writes are taken at once */
#define I8042_STATUS_SYS 0x04    /* system flag (mirrors CTR bit 2) */
#define I8042_STATUS_CMD 0x08    /* the last write went to the command port */
#define I8042_STATUS_UNLOCK 0x10 /* keyboard not inhibited (no key lock) */

#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE 0x40

#define I8042_OUTPUT_RESET 0x01 /* output port bit 0: 0 holds the CPU in reset */
#define I8042_OUTPUT_A20 0x02

typedef struct I8042 I8042;

/* Called on a vCPU thread when the guest resets the machine; no lock is held. */
typedef void (*I8042ResetFn)(void *opaque);

#define I8042_STATE_VERSION 1

typedef struct I8042State {
        uint32_t version; /* I8042_STATE_VERSION */
        uint8_t ctr;
        uint8_t output_port; /* bit 0 (reset released) always set */
        uint8_t out;         /* the data port's byte */
        uint8_t obf;         /* 0/1: out not read yet */
        uint8_t pending;     /* 0, or the command (0x60, 0xd1) whose data byte comes next */
        uint8_t cmd_last;    /* 0/1: status bit 3 */
        uint8_t reserved[2];
} I8042State;
_Static_assert(sizeof(I8042State) == 12, "I8042State is a fixed on-disk layout");

/* reset may be NULL. */
int i8042_new(I8042ResetFn reset, void *opaque, I8042 **ret);
I8042 *i8042_free(I8042 *k);
DEFINE_FREEP(I8042, i8042_free);

/* BusHandlers for two 1-port ranges: X86_PORT_I8042_DATA and X86_PORT_I8042_CMD (status on read).
 * Only byte 0 at offset 0 means anything; other bytes read 0xff. */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

void i8042_save(const I8042 *k, I8042State *ret);
int i8042_restore(I8042 *k, const I8042State *st); /* -EINVAL */

#define I8042_STATE_TAG STATE_TAG('8', '0', '4', '2')
extern const DeviceOps i8042_device_ops;
