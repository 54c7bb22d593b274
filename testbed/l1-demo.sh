#!/bin/bash
# The demo, inside L1: sdvm as an operator uses it. Install the build, drop a VM config into
# /etc/vms, let the generator make vm@demo.service, start it with systemctl, talk to the guest on
# its console socket, look at it with systemctl, journalctl and machinectl, stop it.
set -eu
modprobe kvm_amd
udevadm settle
echo "== L1: $(uname -sr), systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1, /dev/kvm $(stat -c '%U:%G %a' /dev/kvm)"
meson install -C /src/build-testbed --no-rebuild --quiet >/dev/null
export VMM=/usr/libexec/vmm POWERBTN=/src/build-testbed/tests/sdvm-guest-powerbtn
source /src/tests/integration/lib.sh
mkdir -p /etc/vms /var/lib/vms/images
cp "$GUEST_KERNEL" /var/lib/vms/images/vmlinuz
cp "$(initramfs)" /var/lib/vms/images/initrd.img
cat >/etc/vms/demo.conf <<EOC
[VM]
Description=sdvm demo VM
CPUs=2
Memory=1G

[Boot]
Kernel=/var/lib/vms/images/vmlinuz
Initrd=/var/lib/vms/images/initrd.img
CommandLine=console=ttyS0 panic=-1 quiet sdvm.action=service

[Resources]
CPUQuota=150%
TasksMax=64
EOC
run() { echo; echo "# $*"; "$@"; }
run cat /etc/vms/demo.conf
run systemctl daemon-reload
run cat /run/systemd/generator/vm@demo.service.d/50-sdvm.conf
run systemctl start vm@demo
for _ in $(seq 240); do
        journalctl -u vm@demo -o cat --no-pager | grep -q 'SDVM-GUEST: shell on the console' && break
        sleep 0.5
done
run systemctl status vm@demo --no-pager --lines=0 || true
run machinectl list --no-pager
echo
echo "# (echo 'uname -r; nproc; grep MemTotal /proc/meminfo') | socat - UNIX-CONNECT:/run/vms/demo/console"
( sleep 1; echo 'uname -r; nproc; grep MemTotal /proc/meminfo'; sleep 3 ) |
        timeout 20 socat - UNIX-CONNECT:/run/vms/demo/console | tr -d '\r' | tail -n 5
echo
echo "# journalctl -u vm@demo (excerpt)"
journalctl -u vm@demo -o cat --no-pager | grep -E 'Starting VM|Boot timer|SDVM-GUEST|Console client' | head -n 12
run systemctl stop vm@demo
journalctl -u vm@demo -o cat --no-pager | grep -E 'power button|KEY_POWER|powered off' | tail -n 3
run systemctl show -p Result -p ExecMainStatus vm@demo
