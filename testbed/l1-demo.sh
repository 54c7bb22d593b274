#!/bin/bash
# The demo, inside L1: a real VM under systemd. vmm boots the Debian kernel with the test initramfs
# as a transient systemd service; the guest reports its CPUs and memory and powers off; the unit's
# journal shows the whole boot.
set -eu
modprobe kvm_amd
udevadm settle
echo "== L1: $(uname -sr), systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1, /dev/kvm $(stat -c '%U:%G %a' /dev/kvm)"
export VMM=/src/build-testbed/src/vmm/vmm POWERBTN=/src/build-testbed/tests/sdvm-guest-powerbtn
source /src/tests/integration/lib.sh
conf=$(write_config demo 2 1G poweroff)
sed -i 's/ quiet//' "$conf"
echo "== /etc/vms-style config:"
cat "$conf"
echo "== systemd-run --unit=vm-demo vmm --config=$conf"
rc=0
systemd-run --quiet --unit=vm-demo --wait --collect -p StandardOutput=journal "$VMM" --config="$conf" || rc=$?
echo "== journalctl -u vm-demo (excerpt)"
journalctl -u vm-demo -o cat --no-pager | grep -E 'Starting VM|Linux version|Command line|smpboot|Memory:|ACPI: (FADT|MADT|DSDT)|Freeing unused|Boot timer|SDVM-GUEST|Power down|powered off|Run /init' || true
echo "== vm-demo exited with status $rc (0: the guest powered off)"
exit "$rc"
