/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What vmm tells its service manager (sd_notify(), vm@.service is Type=notify): READY=1 once the vCPUs
 * run, STATUS= on every state change, STOPPING=1 once the guest is on its way out. Without
 * $NOTIFY_SOCKET (vmm run by hand) nothing is sent. Watchdog pings (WatchdogSec=) come from the event
 * loop (sd_event_set_watchdog()), not from here. Main thread. */

#include <stddef.h>

#include "core/vm.h"

typedef enum NotifyEvent {
        NOTIFY_STARTING,     /* setting the VM up */
        NOTIFY_RUNNING,      /* the vCPUs run (again): READY=1 */
        NOTIFY_PAUSED,
        NOTIFY_POWER_BUTTON, /* the ACPI power button was pressed: STOPPING=1 */
        NOTIFY_STOPPED,      /* the guest stopped, for `reason`: STOPPING=1 */
        NOTIFY_SAVING,       /* its state is being written; the guest is paused meanwhile */
        NOTIFY_SUSPENDING,   /* the same, and it stops then: STOPPING=1 */
        _NOTIFY_EVENT_MAX,
        _NOTIFY_EVENT_INVALID = -22,
} NotifyEvent;

/* The notification for an event, e.g. "READY=1\nSTATUS=Guest is running (2 vCPUs, 512 MiB)". reason
 * matters for NOTIFY_STOPPED; detail (may be NULL) is appended in parentheses. Returns the length, or
 * -EINVAL / -ENOBUFS. */
int notify_format(NotifyEvent event, VmStopReason reason, const char *detail, char *buf, size_t size);
/* Formats and sends it. Returns > 0 if sent, 0 if there is no service manager to tell, < 0 on failure
 * (not logged: a notification that does not arrive must not stop the VM). */
int notify_event(NotifyEvent event, VmStopReason reason, const char *detail);
