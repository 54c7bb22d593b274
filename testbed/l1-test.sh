#!/bin/bash
# Entry run inside L1 by sdvm-testbed-runner: the testbed suite under real systemd and real KVM.
set -u -o pipefail
cd /src
modprobe kvm_amd || { echo "FAILED: modprobe kvm_amd"; exit 1; }
udevadm settle
[[ -c /dev/kvm ]] || { echo "FAILED: no /dev/kvm in L1 after modprobe kvm_amd"; exit 1; }
# Through a pipe so that meson prints plain lines, not a progress spinner, to the serial port.
meson test -C /src/build-testbed --no-rebuild --suite testbed --print-errorlogs | cat
