#!/bin/bash
# The demo, inside L1: sdvm as an operator uses it. Install the build, put a Debian root file system
# image (the testbed's guest image) under /var/lib/vms, drop a VM config with a disk and a network
# into /etc/vms, let the generator make vm@demo.service, start it with systemctl, watch the guest's
# systemd come up in the journal, look at it with systemctl, machinectl and vmctl, talk to it on
# its console and over its tap, stop it.
set -eu
modprobe kvm_amd
udevadm settle
echo "== L1: $(uname -sr), systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1, /dev/kvm $(stat -c '%U:%G %a' /dev/kvm)"
meson install -C /src/build-testbed --no-rebuild --quiet >/dev/null
kver=$(uname -r)
scratch=/var/lib/sdvm-scratch
mkdir -p "$scratch" /etc/vms /var/lib/vms/images /var/lib/vms/demo
mountpoint -q "$scratch" || mount /dev/disk/by-label/sdvm-scratch "$scratch"
# The stock Debian kernel and initramfs-tools initrd; the image is root's and stays 0600: systemd
# opens it for the sandboxed, unprivileged vmm (OpenFile= in the generated drop-in).
cp "/boot/vmlinuz-$kver" /var/lib/vms/images/vmlinuz
cp "/boot/initrd.img-$kver" /var/lib/vms/images/initrd.img
cp --sparse=always "$scratch/guest.img" /var/lib/vms/demo/root.img
chmod 0600 /var/lib/vms/demo/root.img
cat >/etc/vms/demo.conf <<EOC
[VM]
Description=sdvm demo VM: Debian trixie from a virtio disk
# One vCPU: L1 itself has one (TCG), and a second only adds contention.
CPUs=1
Memory=1G

[Boot]
Kernel=/var/lib/vms/images/vmlinuz
Initrd=/var/lib/vms/images/initrd.img
CommandLine=console=ttyS0 root=/dev/vda rw quiet sdvm.test=boot sdvm.end=wait

[Resources]
CPUQuota=150%
TasksMax=64

[Disk]
Path=/var/lib/vms/demo/root.img

[Network]
# vmm creates the tap vm-demo-0; the MAC is derived from the name.
EOC
run() { echo; echo "# $*"; "$@"; }
run cat /etc/vms/demo.conf
run systemctl daemon-reload
run cat /run/systemd/generator/vm@demo.service.d/50-sdvm.conf
run systemctl start vm@demo
start=$(date +%s)
echo "(the guest's systemd boots under two levels of virtualisation, the outer one emulated: a few minutes)"
for i in $(seq 600); do
        journalctl -u vm@demo -o cat --no-pager | grep -q 'SDVM-AGENT: multi-user.target reached' && break
        ((i % 30 == 0)) && echo "  ... $(($(date +%s) - start)) s, last console line: $(journalctl -u vm@demo -o cat --no-pager -n 1 | cut -c1-100)"
        sleep 1
done
journalctl -u vm@demo -o cat --no-pager | grep -a 'SDVM-AGENT: multi-user.target reached' ||
        { journalctl -u vm@demo -o cat --no-pager | tail -n 30; echo "the guest did not come up"; exit 1; }
echo "multi-user.target reached $(($(date +%s) - start)) s after systemctl start"
run systemctl status vm@demo --no-pager --lines=0 || true
run machinectl list --no-pager
run vmctl list
run vmctl describe demo
run vmctl inspect demo devices/disk0
run ip -c=never -br link show vm-demo-0

echo
echo "# the guest's console (root autologin on ttyS0), through its socket"
( sleep 2; echo; sleep 2
  echo 'lsblk -o NAME,SIZE,RO,SERIAL /dev/vda; ls /dev/disk/by-id; n=$(ls /sys/class/net | grep -v "^lo$" | head -n1); ip link set "$n" up; ip addr add fe80::2/64 dev "$n" nodad; ip -c=never -br addr show "$n"'
  sleep 8 ) | timeout 30 socat - UNIX-CONNECT:/run/vms/demo/console |
        sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | tr -d '\r' | grep -av '^$' | tail -n 12
# Link-local addresses only (../shared/TESTBED.md): no range of a real network.
ip addr add fe80::1/64 dev vm-demo-0 nodad
run ping -6 -c 3 -W 5 fe80::2%vm-demo-0 || true
run vmctl inspect demo devices/net0/counters

run systemctl stop vm@demo
journalctl -u vm@demo -o cat --no-pager | grep -aE 'power button|Power key|Powering off|reboot: Power down|powered off' | tail -n 4
run systemctl show -p Result -p ExecMainStatus vm@demo
