/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.systemd.MachineInstance in C: the interface systemd's machinectl speaks to a VM's control socket
 * (systemd 261 and later; systemd-vmspawn serves it too). Method, field and error names follow systemd's
 * definition; the comments say what sdvm does. varlink/io.systemd.MachineInstance.varlink is this text
 * (tests/test-varlink.c checks it). Its own file: the symbol names would clash with io.sdvm.VM's. */

#include "control/varlink.h"

static SD_VARLINK_DEFINE_METHOD(Terminate);
static SD_VARLINK_DEFINE_METHOD(PowerOff);
static SD_VARLINK_DEFINE_METHOD(Reboot);
static SD_VARLINK_DEFINE_METHOD(Pause);
static SD_VARLINK_DEFINE_METHOD(Resume);
static SD_VARLINK_DEFINE_METHOD(
                Describe,
                SD_VARLINK_FIELD_COMMENT("Whether the vCPUs run guest code (status \"running\")"),
                SD_VARLINK_DEFINE_OUTPUT(running, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("The io.sdvm.VM state: created, running, paused, shutting-down or stopped"),
                SD_VARLINK_DEFINE_OUTPUT(status, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_ERROR(NotConnected);
static SD_VARLINK_DEFINE_ERROR(NotSupported);

SD_VARLINK_DEFINE_INTERFACE(
                io_systemd_MachineInstance,
                "io.systemd.MachineInstance",
                SD_VARLINK_INTERFACE_COMMENT("systemd's generic machine control, served by vmm beside io.sdvm.VM on the"),
                SD_VARLINK_INTERFACE_COMMENT("same socket and mapped onto the same operations (see io.sdvm.VM for details)."),
                SD_VARLINK_SYMBOL_COMMENT("Stops the guest now, as io.sdvm.VM.Terminate."),
                &vl_method_Terminate,
                SD_VARLINK_SYMBOL_COMMENT("Presses the ACPI power button, as io.sdvm.VM.PowerOff."),
                &vl_method_PowerOff,
                SD_VARLINK_SYMBOL_COMMENT("Resets the guest; vm@.service starts it again, as io.sdvm.VM.Reboot."),
                &vl_method_Reboot,
                SD_VARLINK_SYMBOL_COMMENT("Stops every vCPU, as io.sdvm.VM.Pause; pausing a paused VM succeeds."),
                &vl_method_Pause,
                SD_VARLINK_SYMBOL_COMMENT("Lets the vCPUs run again, as io.sdvm.VM.Resume."),
                &vl_method_Resume,
                SD_VARLINK_SYMBOL_COMMENT("Whether the guest runs, and the VM's state."),
                &vl_method_Describe,
                SD_VARLINK_SYMBOL_COMMENT("The VM has not started or has stopped (io.sdvm.VM.NotRunning)."),
                &vl_error_NotConnected,
                SD_VARLINK_SYMBOL_COMMENT("Not in the VM's present state, e.g. Pause while it shuts down"),
                SD_VARLINK_SYMBOL_COMMENT("(io.sdvm.VM.InvalidState)."),
                &vl_error_NotSupported);
