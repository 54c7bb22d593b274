/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.sdvm.VM in C, for sd-varlink to serve and validate against. varlink/io.sdvm.VM.varlink is the
 * definition; tests/test-varlink.c checks that this formats to exactly that text. */

#include "control/varlink.h"

static SD_VARLINK_DEFINE_METHOD(
                Describe,
                SD_VARLINK_FIELD_COMMENT("The VM's name, as in /etc/vms/NAME.conf and vm@NAME.service"),
                SD_VARLINK_DEFINE_OUTPUT(name, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("One of created, running, paused, shutting-down, stopped"),
                SD_VARLINK_DEFINE_OUTPUT(state, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("The number of vCPUs"),
                SD_VARLINK_DEFINE_OUTPUT(vcpus, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("Guest RAM in bytes"),
                SD_VARLINK_DEFINE_OUTPUT(memory, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("Microseconds since vmm started"),
                SD_VARLINK_DEFINE_OUTPUT(uptimeUSec, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("The guest kernel's path"),
                SD_VARLINK_DEFINE_OUTPUT(kernel, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("One object per device: at least name and type"),
                SD_VARLINK_DEFINE_OUTPUT(devices, SD_VARLINK_OBJECT, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_METHOD(
                Inspect,
                SD_VARLINK_FIELD_COMMENT("A subtree, e.g. \"vcpus/0/exits\" or \"devices/console\"; null or \"\" for all"),
                SD_VARLINK_DEFINE_INPUT(path, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("{vcpus: {\"0\": {state, exits: {io, mmio, hlt, ...}}}, memory: {size, regions},"),
                SD_VARLINK_FIELD_COMMENT("devices: {console: {...}}}; a leaf is returned as {value: ...}"),
                SD_VARLINK_DEFINE_OUTPUT(tree, SD_VARLINK_OBJECT, 0));

static SD_VARLINK_DEFINE_METHOD(Pause);
static SD_VARLINK_DEFINE_METHOD(Resume);
static SD_VARLINK_DEFINE_METHOD(PowerOff);
static SD_VARLINK_DEFINE_METHOD(Reboot);
static SD_VARLINK_DEFINE_METHOD(Terminate);

static SD_VARLINK_DEFINE_METHOD(
                Save,
                SD_VARLINK_FIELD_COMMENT("Index of a file descriptor passed with the call, open for writing; null: the"),
                SD_VARLINK_FIELD_COMMENT("state directory's suspend.vmstate, replaced atomically"),
                SD_VARLINK_DEFINE_INPUT(fileDescriptor, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Stop the VM once it is saved (suspend to disk) instead of resuming it"),
                SD_VARLINK_DEFINE_INPUT(stop, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("The state file, when vmm chose it"),
                SD_VARLINK_DEFINE_OUTPUT(path, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Bytes written: guest RAM that holds data, and the rest of the state"),
                SD_VARLINK_DEFINE_OUTPUT(bytes, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("Microseconds the guest was paused for it"),
                SD_VARLINK_DEFINE_OUTPUT(pausedUSec, SD_VARLINK_INT, 0));

static SD_VARLINK_DEFINE_METHOD_FULL(
                SubscribeEvents,
                SD_VARLINK_REQUIRES_MORE,
                SD_VARLINK_FIELD_COMMENT("\"state\" (a new state) or \"panic\" (the guest reported a panic)"),
                SD_VARLINK_DEFINE_OUTPUT(event, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("With \"state\": created, running, paused, shutting-down or stopped"),
                SD_VARLINK_DEFINE_OUTPUT(state, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("With \"stopped\": poweroff, reboot, panic, crash, terminate, saved or error"),
                SD_VARLINK_DEFINE_OUTPUT(reason, SD_VARLINK_STRING, SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_ERROR(NotRunning);
static SD_VARLINK_DEFINE_ERROR(InvalidState, SD_VARLINK_DEFINE_FIELD(state, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(NoSuchPath, SD_VARLINK_DEFINE_FIELD(path, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(SaveFailed, SD_VARLINK_DEFINE_FIELD(reason, SD_VARLINK_STRING, 0));

SD_VARLINK_DEFINE_INTERFACE(
                io_sdvm_VM,
                "io.sdvm.VM",
                SD_VARLINK_INTERFACE_COMMENT("The control interface of one sdvm virtual machine, served by the vmm process"),
                SD_VARLINK_INTERFACE_COMMENT("of vm@NAME.service on /run/vms/NAME/control (root, and ControlGroup= members)."),
                SD_VARLINK_INTERFACE_COMMENT("MonitorGroup= members may call Describe, Inspect and SubscribeEvents only; the"),
                SD_VARLINK_INTERFACE_COMMENT("other methods answer them org.varlink.service.PermissionDenied."),
                SD_VARLINK_SYMBOL_COMMENT("The VM's identity, configuration and state."),
                &vl_method_Describe,
                SD_VARLINK_SYMBOL_COMMENT("Counters and state as a tree, or one subtree of it. vCPU counters are read"),
                SD_VARLINK_SYMBOL_COMMENT("while the vCPUs run, so they are approximate."),
                &vl_method_Inspect,
                SD_VARLINK_SYMBOL_COMMENT("Stops every vCPU, then every device's own work (a disk's requests, a NIC's"),
                SD_VARLINK_SYMBOL_COMMENT("receive); returns once no vCPU runs guest code and no device touches guest"),
                SD_VARLINK_SYMBOL_COMMENT("memory or takes host input. Pausing a paused VM succeeds and does nothing."),
                SD_VARLINK_SYMBOL_COMMENT("NotRunning before the VM started and after it stopped; InvalidState while it"),
                SD_VARLINK_SYMBOL_COMMENT("shuts down."),
                &vl_method_Pause,
                SD_VARLINK_SYMBOL_COMMENT("Lets the devices and the vCPUs run again; what arrived meanwhile (frames on"),
                SD_VARLINK_SYMBOL_COMMENT("a tap, console input) is taken then. Resuming a running VM succeeds and does"),
                SD_VARLINK_SYMBOL_COMMENT("nothing. Errors as for Pause."),
                &vl_method_Resume,
                SD_VARLINK_SYMBOL_COMMENT("Presses the ACPI power button (resuming a paused VM first), as SIGTERM does;"),
                SD_VARLINK_SYMBOL_COMMENT("the guest decides. vmm exits with status 0 once the guest has powered off."),
                SD_VARLINK_SYMBOL_COMMENT("Pressing it again while shutting down is allowed. NotRunning before the VM"),
                SD_VARLINK_SYMBOL_COMMENT("started and after it stopped."),
                &vl_method_PowerOff,
                SD_VARLINK_SYMBOL_COMMENT("Resets the guest now: vmm exits with status 10 and vm@.service starts it again."),
                SD_VARLINK_SYMBOL_COMMENT("NotRunning before the VM started and after it stopped."),
                &vl_method_Reboot,
                SD_VARLINK_SYMBOL_COMMENT("Stops the guest now, without asking it: vmm exits with status 0 and the unit"),
                SD_VARLINK_SYMBOL_COMMENT("is not restarted. NotRunning after the VM stopped."),
                &vl_method_Terminate,
                SD_VARLINK_SYMBOL_COMMENT("Pauses the VM, writes its state (every vCPU, the VM's KVM state, every device,"),
                SD_VARLINK_SYMBOL_COMMENT("guest RAM) and resumes it, or with stop, stops it: vmm exits with status 0 and"),
                SD_VARLINK_SYMBOL_COMMENT("the next start of the unit restores the state directory's file. NotRunning"),
                SD_VARLINK_SYMBOL_COMMENT("before the VM started and after it stopped; InvalidState while it shuts down;"),
                SD_VARLINK_SYMBOL_COMMENT("SaveFailed if the state could not be written (the VM runs on)."),
                &vl_method_Save,
                SD_VARLINK_SYMBOL_COMMENT("The first reply is the current state; then one per state change and one per"),
                SD_VARLINK_SYMBOL_COMMENT("guest panic. The stream ends with the reply for \"stopped\"."),
                &vl_method_SubscribeEvents,
                SD_VARLINK_SYMBOL_COMMENT("The VM has not started or has stopped."),
                &vl_error_NotRunning,
                SD_VARLINK_SYMBOL_COMMENT("The VM's state does not allow this now (e.g. Pause while shutting down)."),
                &vl_error_InvalidState,
                SD_VARLINK_SYMBOL_COMMENT("Inspect: the path names nothing in the tree."),
                &vl_error_NoSuchPath,
                SD_VARLINK_SYMBOL_COMMENT("Save: the state could not be written, and why (e.g. \"No space left on device\")."),
                &vl_error_SaveFailed);
