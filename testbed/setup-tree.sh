#!/bin/bash
# Customise a freshly extracted trixie tree so it can both be a chroot for builds and boot as L1.
# Part of the tree's cache key: any change here rebuilds the tree.
set -euo pipefail
t=$1
l1=$(cd "$(dirname "$0")/l1" && pwd)

mkdir -p "$t/src"
echo sdvm-l1 >"$t/etc/hostname"
printf '/dev/vda / ext4 defaults 0 1\n' >"$t/etc/fstab"
# kvm_amd is not loaded on its own in L1 (TESTBED.md).
printf 'kvm_amd\n' >"$t/etc/modules-load.d/sdvm-kvm.conf"
# The getty hangs up ttyS0 and would eat console output; nobody logs in on the testbed.
ln -sf /dev/null "$t/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$t/etc/systemd/system/getty@tty1.service"
# No network in the nest: do not wait for it.
ln -sf /dev/null "$t/etc/systemd/system/systemd-networkd-wait-online.service"
passwd -R "$t" -d root >/dev/null 2>&1 || chroot "$t" passwd -d root >/dev/null

install -m 0755 "$l1/sdvm-testbed-runner" "$t/usr/local/sbin/sdvm-testbed-runner"
install -m 0644 "$l1/sdvm-testbed.service" "$t/etc/systemd/system/sdvm-testbed.service"
mkdir -p "$t/etc/systemd/system/multi-user.target.wants"
ln -sf ../sdvm-testbed.service "$t/etc/systemd/system/multi-user.target.wants/sdvm-testbed.service"
