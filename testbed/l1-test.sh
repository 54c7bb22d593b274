#!/bin/bash
# Entry run inside L1 by sdvm-testbed-runner: the testbed suite under real systemd and real KVM.
set -u -o pipefail
cd /src
# Settings carried from L0 (testbed/lib.sh: tb_make_payload), e.g. SDVM_TEST_VMM=qemu, SDVM_TESTS="net vm".
set -a
[[ -f /src/.l1-env ]] && source /src/.l1-env
set +a
[[ -n ${SDVM_TEST_VMM:-} ]] || unset SDVM_TEST_VMM
modprobe kvm_amd || { echo "FAILED: modprobe kvm_amd"; exit 1; }
udevadm settle
[[ -c /dev/kvm ]] || { echo "FAILED: no /dev/kvm in L1 after modprobe kvm_amd"; exit 1; }
# Install the build the way a distribution package would, so the generator and units are real.
meson install -C /src/build-testbed --no-rebuild --quiet >/dev/null || { echo "FAILED: meson install"; exit 1; }
systemctl daemon-reload
# Through a pipe so that meson prints plain lines, not a progress spinner, to the serial port.
# SDVM_TESTS: only those tests of the suite (names, split on blanks); empty: all of them.
# shellcheck disable=SC2086
meson test -C /src/build-testbed --no-rebuild --suite testbed --print-errorlogs ${SDVM_TESTS:-} | cat
