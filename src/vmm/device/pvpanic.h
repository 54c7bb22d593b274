/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The pvpanic ISA device: one byte-wide port (X86_PORT_PVPANIC; Linux's pvpanic driver finds it as an
 * ACPI device with _HID QEMU0001). A read returns the events the device supports; the guest writes an
 * event when it panics, or to say that a crash kernel is loaded. The device has no other state. */

#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "core/device.h"

#define PVPANIC_PANICKED 0x01
#define PVPANIC_CRASH_LOADED 0x02
#define PVPANIC_SUPPORTED (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

typedef struct Pvpanic Pvpanic;

/* Called on a vCPU thread with the written event bits, limited to PVPANIC_SUPPORTED (the guest was
 * told that nothing else is understood); never with 0. */
typedef void (*PvpanicEventFn)(void *opaque, uint8_t events);

#define PVPANIC_STATE_VERSION 1

typedef struct PvpanicState {
        uint32_t version;  /* PVPANIC_STATE_VERSION */
        uint8_t supported; /* what the guest was told; a restored device must support at least that */
        uint8_t reserved[3];
} PvpanicState;
_Static_assert(sizeof(PvpanicState) == 8, "PvpanicState is a fixed on-disk layout");

/* event may be NULL. */
int pvpanic_new(PvpanicEventFn event, void *opaque, Pvpanic **ret);
Pvpanic *pvpanic_free(Pvpanic *p);
DEFINE_FREEP(Pvpanic, pvpanic_free);

/* BusHandler for a 1-port range. Only byte 0 at offset 0 means anything; other bytes read 0xff. */
void pvpanic_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

void pvpanic_save(const Pvpanic *p, PvpanicState *ret);
int pvpanic_restore(Pvpanic *p, const PvpanicState *st); /* -EINVAL */

#define PVPANIC_STATE_TAG STATE_TAG('P', 'V', 'P', 'A')
extern const DeviceOps pvpanic_device_ops;
