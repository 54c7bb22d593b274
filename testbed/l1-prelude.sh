# shellcheck shell=bash
# Sourced by the L1 entries (l1-test.sh, l1-soak.sh): settings from L0, KVM, and the build installed
# the way a distribution package would be, so that the generator and units are real.
set -u -o pipefail
cd /src
# Settings carried from L0 (testbed/lib.sh: tb_make_payload), e.g. SDVM_TEST_VMM=qemu, SDVM_TESTS="net vm".
set -a
[[ -f /src/.l1-env ]] && source /src/.l1-env
set +a
[[ -n ${SDVM_TEST_VMM:-} ]] || unset SDVM_TEST_VMM
# For L0's hang capture (testbed/lib.sh: tb_capture_stall), which reads it off the payload: on disk
# now, because a hung L1 syncs nothing later.
cp /proc/kallsyms /src/.l1-kallsyms && sync -f /src/.l1-kallsyms
modprobe kvm_amd || { echo "FAILED: modprobe kvm_amd"; exit 1; }
udevadm settle
[[ -c /dev/kvm ]] || { echo "FAILED: no /dev/kvm in L1 after modprobe kvm_amd"; exit 1; }
meson install -C /src/build-testbed --no-rebuild --quiet >/dev/null || { echo "FAILED: meson install"; exit 1; }
systemctl daemon-reload
# A tick on L1's console every 2 s, for L0's watchdog (testbed/lib.sh: tb_boot_l1): it needs L1's
# timer interrupts, so a gap in it means L1 sleeps with its timer lost, which a keypress from L0 ends.
# Out of /src, which the runner unmounts after the entry (this outlives it).
(
        cd /
        stty -F /dev/ttyS0 -onlcr 2>/dev/null
        while sleep 2; do echo "L1-tick $(date +%s)"; done >/dev/ttyS0 2>/dev/null
) &
