#!/bin/bash
# Inside L1 (testbed/bench): the boot and control benchmarks on the testbed's Debian kernel and test initramfs.
set -eu
# Settings from L0 (SDVM_BENCH_*), written by tb_make_payload.
set -a
[[ -f /src/.l1-env ]] && source /src/.l1-env
set +a
modprobe kvm_amd
udevadm settle
B=/src/build-testbed
export VMM=$B/src/vmm/vmm POWERBTN=$B/tests/sdvm-guest-powerbtn
source /src/tests/integration/lib.sh
python3 /src/bench/boot-bench.py --vmm "$VMM" --kernel "$GUEST_KERNEL" --initrd "$(initramfs)" \
        --runs "${SDVM_BENCH_RUNS:-10}" --json /src/bench-boot.json
python3 /src/bench/control-bench.py --vmm "$VMM" --kernel "$GUEST_KERNEL" --initrd "$(initramfs)" \
        --json /src/bench-control.json

# The disk and network benchmark (bench/io-bench.py): vmm against QEMU on the Debian guest image, which
# L0 put on L1's scratch disk (testbed/lib.sh: tb_make_scratch). SDVM_BENCH_IO_RUNTIME: seconds per fio
# job and iperf3 direction (default 8); SDVM_BENCH_IO_VMMS: which to run (default qemu,qemu-direct,vmm).
scratch=/var/lib/sdvm-scratch
mkdir -p "$scratch"
mountpoint -q "$scratch" || mount /dev/disk/by-label/sdvm-scratch "$scratch"
python3 /src/bench/io-bench.py --vmm "$VMM" --kernel "$GUEST_KERNEL" --initrd "/boot/initrd.img-$KVER" \
        --image "$scratch/guest.img" --workdir "$scratch/io-bench" --runtime "${SDVM_BENCH_IO_RUNTIME:-8}" \
        --vmms "${SDVM_BENCH_IO_VMMS:-qemu,qemu-direct,vmm}" --json /src/bench-io.json
