#!/bin/bash
# The demo, inside L1: proves real KVM under real systemd, then runs a tiny guest.
set -eu
modprobe kvm_amd
udevadm settle
echo "== L1: $(uname -sr), systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1"
echo "== /dev/kvm: $(stat -c '%U:%G %a' /dev/kvm)"
/src/build-testbed/tests/kvm-smoke
