#!/bin/bash
# Inside L1 (testbed/bench): the boot and control benchmarks on the testbed's Debian kernel and test initramfs.
set -eu
modprobe kvm_amd
udevadm settle
B=/src/build-testbed
export VMM=$B/src/vmm/vmm POWERBTN=$B/tests/sdvm-guest-powerbtn
source /src/tests/integration/lib.sh
python3 /src/bench/boot-bench.py --vmm "$VMM" --kernel "$GUEST_KERNEL" --initrd "$(initramfs)" \
        --runs "${SDVM_BENCH_RUNS:-10}" --json /src/bench-boot.json
python3 /src/bench/control-bench.py --vmm "$VMM" --kernel "$GUEST_KERNEL" --initrd "$(initramfs)" \
        --json /src/bench-control.json
