/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vmctl's side of systemd: unit state and start/stop jobs on the system manager over sd-bus. */

#include <systemd/sd-bus.h>

/* Runs Manager.METHOD (StartUnit, StopUnit, RestartUnit) on unit and waits for its job to finish.
 * Returns -EIO if the job did not end in "done": with ret_result NULL, after logging that; else
 * without, and *ret_result is the job's result ("failed", "timeout", ...) for the caller to explain. */
int bus_unit_job(sd_bus *bus, const char *method, const char *unit, char **ret_result);
/* ActiveState of unit ("inactive" for a unit systemd has not loaded). */
int bus_unit_active_state(sd_bus *bus, const char *unit, char **ret);
