/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vmctl-bus.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"

typedef struct JobWait {
        char *path;
        char *result;
} JobWait;

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        JobWait *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (w->path && !w->result && strcmp(path, w->path) == 0)
                w->result = strdup(result);
        return 0;
}

int bus_unit_job(sd_bus *bus, const char *method, const char *unit, char **ret_result) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        JobWait w = {};
        const char *path;
        int r;

        /* PID 1 sends JobRemoved only to subscribed clients; match before the call so that a job
         * finishing at once is not missed (signals queue until sd_bus_process()). */
        r = sd_bus_match_signal(bus, &slot, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved", on_job_removed, &w);
        if (r >= 0)
                r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "Subscribe", &error, NULL, NULL);
        if (r < 0) {
                r = log_error_errno(r, "Failed to subscribe to systemd: %s",
                                    error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, method, &error, &reply, "ss", unit, "replace");
        if (r < 0) {
                r = log_error_errno(r, "%s %s failed: %s", method, unit, error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "Unexpected reply to %s: %m", method);
        w.path = strdup(path);
        if (!w.path)
                return log_oom();
        while (!w.result) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r == 0)
                        r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0)
                        break;
        }
        if (r < 0)
                r = log_error_errno(r, "Lost track of the job for %s: %m", unit);
        else if (strcmp(w.result, "done") != 0 && ret_result) {
                *ret_result = TAKE_PTR(w.result);
                r = -EIO;
        } else if (strcmp(w.result, "done") != 0)
                r = log_error_errno(EIO, "Job for %s ended with result '%s'; see 'journalctl -u %s'.", unit,
                                    w.result, unit);
        else
                r = 0;
        free(w.path);
        free(w.result);
        return r;
}

int bus_unit_active_state(sd_bus *bus, const char *unit, char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *path;
        int r;

        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "GetUnit", &error, &reply, "s", unit);
        if (r < 0) {
                bool missing = sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit");
                sd_bus_error_free(&error);
                if (!missing)
                        return r;
                *ret = strdup("inactive");
                return *ret ? 0 : -ENOMEM;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        return sd_bus_get_property_string(bus, SD_DEST, path, "org.freedesktop.systemd1.Unit", "ActiveState",
                                          NULL, ret);
}
