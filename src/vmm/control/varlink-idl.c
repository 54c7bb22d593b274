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
                SD_VARLINK_FIELD_COMMENT("\"state\" (a new state), \"panic\" (the guest reported a panic),"),
                SD_VARLINK_FIELD_COMMENT("\"device-added\" or \"device-removed\" (a device came or went while the VM ran)"),
                SD_VARLINK_DEFINE_OUTPUT(event, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("With \"state\": created, running, paused, shutting-down or stopped"),
                SD_VARLINK_DEFINE_OUTPUT(state, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("With \"stopped\": poweroff, reboot, panic, crash, terminate, saved or error"),
                SD_VARLINK_DEFINE_OUTPUT(reason, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("With the device events: the device's name (\"disk2\") and type (\"virtio-blk\")"),
                SD_VARLINK_DEFINE_OUTPUT(device, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_OUTPUT(type, SD_VARLINK_STRING, SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_METHOD(
                AddDisk,
                SD_VARLINK_FIELD_COMMENT("Index of a file descriptor passed with the call: a raw image or a block device,"),
                SD_VARLINK_FIELD_COMMENT("open for reading and writing, or for reading with readOnly"),
                SD_VARLINK_DEFINE_INPUT(fileDescriptor, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("The guest may not write to it"),
                SD_VARLINK_DEFINE_INPUT(readOnly, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("The virtio-blk serial, 1-20 printable ASCII bytes (/dev/disk/by-id/virtio-SERIAL);"),
                SD_VARLINK_FIELD_COMMENT("null: sdvm-NAME-N"),
                SD_VARLINK_DEFINE_INPUT(serial, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("The device's name, diskN, for RemoveDisk, Inspect and Describe"),
                SD_VARLINK_DEFINE_OUTPUT(name, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("Where the guest finds it, e.g. 0000:00:05.0"),
                SD_VARLINK_DEFINE_OUTPUT(pciAddress, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_METHOD(
                RemoveDisk,
                SD_VARLINK_FIELD_COMMENT("The disk's name, as AddDisk or Describe gave it"),
                SD_VARLINK_DEFINE_INPUT(name, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("Remove it at once, without asking the guest (a surprise removal)"),
                SD_VARLINK_DEFINE_INPUT(force, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_METHOD(
                AddNetwork,
                SD_VARLINK_FIELD_COMMENT("Index of a file descriptor passed with the call: a tap opened with IFF_TAP,"),
                SD_VARLINK_FIELD_COMMENT("IFF_NO_PI and IFF_VNET_HDR"),
                SD_VARLINK_DEFINE_INPUT(fileDescriptor, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("The interface's MAC address, e.g. 52:54:00:12:34:56; null: one derived from"),
                SD_VARLINK_FIELD_COMMENT("the VM's name and the interface's index"),
                SD_VARLINK_DEFINE_INPUT(macAddress, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("The device's name, netN"),
                SD_VARLINK_DEFINE_OUTPUT(name, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("Where the guest finds it"),
                SD_VARLINK_DEFINE_OUTPUT(pciAddress, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("The MAC address it has"),
                SD_VARLINK_DEFINE_OUTPUT(macAddress, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_METHOD(
                RemoveNetwork,
                SD_VARLINK_FIELD_COMMENT("The interface's name, as AddNetwork or Describe gave it"),
                SD_VARLINK_DEFINE_INPUT(name, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("Remove it at once, without asking the guest"),
                SD_VARLINK_DEFINE_INPUT(force, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_ERROR(NotRunning);
static SD_VARLINK_DEFINE_ERROR(InvalidState, SD_VARLINK_DEFINE_FIELD(state, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(NoSuchPath, SD_VARLINK_DEFINE_FIELD(path, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(SaveFailed, SD_VARLINK_DEFINE_FIELD(reason, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(NoSuchDevice, SD_VARLINK_DEFINE_FIELD(name, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(DeviceExists, SD_VARLINK_DEFINE_FIELD(reason, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(NoRoom, SD_VARLINK_DEFINE_FIELD(reason, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(BadDevice, SD_VARLINK_DEFINE_FIELD(reason, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(DeviceBusy, SD_VARLINK_DEFINE_FIELD(reason, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(DeviceProtected, SD_VARLINK_DEFINE_FIELD(reason, SD_VARLINK_STRING, 0));
static SD_VARLINK_DEFINE_ERROR(NotReleased, SD_VARLINK_DEFINE_FIELD(reason, SD_VARLINK_STRING, 0));

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
                SD_VARLINK_SYMBOL_COMMENT("The first reply is the current state; then one per state change, one per"),
                SD_VARLINK_SYMBOL_COMMENT("guest panic and one per device added or removed. The stream ends with the"),
                SD_VARLINK_SYMBOL_COMMENT("reply for \"stopped\"."),
                &vl_method_SubscribeEvents,
                SD_VARLINK_SYMBOL_COMMENT("Adds a virtio-blk disk while the VM runs, in the lowest free PCI slot; the"),
                SD_VARLINK_SYMBOL_COMMENT("guest is told through ACPI PCI hotplug. vmm opens nothing: the caller passes"),
                SD_VARLINK_SYMBOL_COMMENT("the fd, and vmm locks the image as at start (a second VM cannot have it)."),
                SD_VARLINK_SYMBOL_COMMENT("Lasts until vmm exits. BadDevice, DeviceExists (serial), NoRoom, NotRunning."),
                &vl_method_AddDisk,
                SD_VARLINK_SYMBOL_COMMENT("Asks the guest to release the disk and returns once it has; vmm then closes"),
                SD_VARLINK_SYMBOL_COMMENT("it and drops its lock. NotReleased if the guest does not let go within 60 s"),
                SD_VARLINK_SYMBOL_COMMENT("(the disk stays usable); DeviceProtected for the disk root= names, without"),
                SD_VARLINK_SYMBOL_COMMENT("force; DeviceBusy while a removal of it waits; NoSuchDevice."),
                &vl_method_RemoveDisk,
                SD_VARLINK_SYMBOL_COMMENT("Adds a virtio-net interface on a tap the caller opened, as AddDisk does."),
                &vl_method_AddNetwork,
                SD_VARLINK_SYMBOL_COMMENT("Removes an interface, as RemoveDisk does."),
                &vl_method_RemoveNetwork,
                SD_VARLINK_SYMBOL_COMMENT("The VM has not started or has stopped."),
                &vl_error_NotRunning,
                SD_VARLINK_SYMBOL_COMMENT("The VM's state does not allow this now (e.g. Pause while shutting down)."),
                &vl_error_InvalidState,
                SD_VARLINK_SYMBOL_COMMENT("Inspect: the path names nothing in the tree."),
                &vl_error_NoSuchPath,
                SD_VARLINK_SYMBOL_COMMENT("Save: the state could not be written, and why (e.g. \"No space left on device\")."),
                &vl_error_SaveFailed,
                SD_VARLINK_SYMBOL_COMMENT("RemoveDisk, RemoveNetwork: the VM has no such device of that kind."),
                &vl_error_NoSuchDevice,
                SD_VARLINK_SYMBOL_COMMENT("AddDisk, AddNetwork: another device has the serial or MAC address."),
                &vl_error_DeviceExists,
                SD_VARLINK_SYMBOL_COMMENT("AddDisk, AddNetwork: no free PCI slot, or no spare I/O thread for the device."),
                &vl_error_NoRoom,
                SD_VARLINK_SYMBOL_COMMENT("AddDisk, AddNetwork: the fd or a parameter will not do, and why (e.g. the image"),
                SD_VARLINK_SYMBOL_COMMENT("is in use by another VM, or the fd is read-only for a writable disk)."),
                &vl_error_BadDevice,
                SD_VARLINK_SYMBOL_COMMENT("RemoveDisk, RemoveNetwork: a removal of the device already waits for the guest."),
                &vl_error_DeviceBusy,
                SD_VARLINK_SYMBOL_COMMENT("RemoveDisk: the guest's root file system is on the disk; use force."),
                &vl_error_DeviceProtected,
                SD_VARLINK_SYMBOL_COMMENT("RemoveDisk, RemoveNetwork: the guest did not release the device in time; it"),
                SD_VARLINK_SYMBOL_COMMENT("stays."),
                &vl_error_NotReleased);
