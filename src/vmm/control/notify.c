/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "control/notify.h"

static const char *stop_reason_status(VmStopReason reason) {
        switch (reason) {
        case VM_STOP_POWEROFF:
                return "Guest powered off";
        case VM_STOP_REBOOT:
                return "Guest rebooted; the unit starts it again";
        case VM_STOP_PANIC:
                return "Guest kernel panicked";
        case VM_STOP_CRASH:
                return "Guest crashed";
        case VM_STOP_TERMINATE:
                return "VM terminated";
        case VM_STOP_SAVED:
                return "VM suspended to its state directory; the next start resumes it";
        default:
                return "vmm failed";
        }
}

int notify_format(NotifyEvent event, VmStopReason reason, const char *detail, char *buf, size_t size) {
        const char *fields, *status;
        int k;

        switch (event) {
        case NOTIFY_STARTING:
                fields = "";
                status = "Setting up the VM";
                break;
        case NOTIFY_RUNNING:
                fields = "READY=1\n";
                status = "Guest is running";
                break;
        case NOTIFY_PAUSED:
                fields = "";
                status = "Guest is paused";
                break;
        case NOTIFY_POWER_BUTTON:
                fields = "STOPPING=1\n";
                status = "Guest is shutting down (power button pressed)";
                break;
        case NOTIFY_STOPPED:
                fields = "STOPPING=1\n";
                status = stop_reason_status(reason);
                break;
        case NOTIFY_SAVING:
                fields = "";
                status = "Saving the VM's state";
                break;
        case NOTIFY_SUSPENDING:
                fields = "STOPPING=1\n";
                status = "Suspending the VM to its state directory";
                break;
        default:
                return -EINVAL;
        }
        k = snprintf(buf, size, "%sSTATUS=%s%s%s%s", fields, status, detail ? " (" : "", detail ?: "",
                     detail ? ")" : "");
        if (k < 0)
                return -EINVAL;
        if ((size_t) k >= size)
                return -ENOBUFS;
        return k;
}

int notify_event(NotifyEvent event, VmStopReason reason, const char *detail) {
        char buf[512];
        int r;

        r = notify_format(event, reason, detail, buf, sizeof buf);
        if (r < 0)
                return r;
        return sd_notify(/* unset_environment= */ 0, buf);
}
