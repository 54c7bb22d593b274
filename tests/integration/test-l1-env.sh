#!/bin/bash
# The nest is real: systemd >= 257 is PID 1, varlinkctl exists, and /dev/kvm opens read-write.
set -eu
[[ -e /dev/kvm ]] || { echo "no /dev/kvm: skipping"; exit 77; }

comm=$(cat /proc/1/comm)
[[ $comm == systemd ]] || { echo "FAIL: PID 1 is '$comm', not systemd"; exit 1; }
ver=$(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
((ver >= 257)) || { echo "FAIL: systemd $ver < 257"; exit 1; }
echo "PID 1 is systemd $ver"

command -v varlinkctl >/dev/null || { echo "FAIL: no varlinkctl"; exit 1; }
varlinkctl --version | head -n1

exec 3<>/dev/kvm || { echo "FAIL: cannot open /dev/kvm read-write"; exit 1; }
echo "/dev/kvm opens read-write ($(stat -c '%U:%G %a' /dev/kvm))"
grep -qw svm /proc/cpuinfo && echo "CPU has svm (nested under TCG)" || true
