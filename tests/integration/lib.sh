# shellcheck shell=bash
# Shared by the testbed suite's scripts. Needs VMM and POWERBTN in the environment (set by meson).
set -euo pipefail

: "${VMM:?}" "${POWERBTN:?}"
GUEST_KERNEL=${SDVM_GUEST_KERNEL:-$(ls /boot/vmlinuz-* | sort -V | tail -n1)}
KVER=${GUEST_KERNEL##*/vmlinuz-}
WORK=${SDVM_TEST_WORK:-/tmp/sdvm-tests}
mkdir -p "$WORK"

source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

[[ -c /dev/kvm ]] || { echo "no /dev/kvm: skipping"; exit 77; }

# The initramfs is built once per run; tests may run in parallel, hence the lock.
initramfs() {
        (
                flock 9
                [[ -s $WORK/initramfs.cpio ]] ||
                        "$(dirname "${BASH_SOURCE[0]}")/make-initramfs.sh" "$WORK/initramfs.cpio" "$KVER" "$POWERBTN"
        ) 9>"$WORK/.lock"
        echo "$WORK/initramfs.cpio"
}

# write_config NAME CPUS MEMORY ACTION [KERNEL [INITRD]]: a vm.conf for the test guest.
write_config() {
        local name=$1 cpus=$2 mem=$3 action=$4 kernel=${5:-$GUEST_KERNEL} initrd=${6:-}
        [[ -n $initrd ]] || initrd=$(initramfs)
        cat >"$WORK/$name.conf" <<EOC
[VM]
CPUs=$cpus
Memory=$mem

[Boot]
Kernel=$kernel
Initrd=$initrd
CommandLine=console=ttyS0 panic=-1 quiet sdvm.action=$action
EOC
        echo "$WORK/$name.conf"
}

# run_vmm CONF TIMEOUT: runs vmm with its console in $WORK/NAME.out; sets STATUS.
run_vmm() {
        local conf=$1 limit=$2 name
        name=$(basename "$conf" .conf)
        STATUS=0
        timeout -k 5 "$limit" "$VMM" --config="$conf" </dev/null >"$WORK/$name.out" 2>&1 || STATUS=$?
        OUT=$WORK/$name.out
}

show_output() { echo "--- vmm output ($OUT) ---"; tail -n 40 "$OUT"; echo "---"; }

# The uncompressed ELF vmlinux inside the guest bzImage (Debian compresses it with zstd), for PVH.
extract_vmlinux() {
        (
                flock 9
                if [[ ! -s $WORK/vmlinux ]]; then
                        local off
                        for off in $(LC_ALL=C grep -aboP '\x28\xb5\x2f\xfd' "$GUEST_KERNEL" | cut -d: -f1); do
                                tail -c +$((off + 1)) "$GUEST_KERNEL" | zstd -qdc 2>/dev/null >"$WORK/vmlinux.tmp" || true
                                [[ $(head -c 4 "$WORK/vmlinux.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] && break
                        done
                        [[ $(head -c 4 "$WORK/vmlinux.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] || {
                                echo "no zstd-compressed ELF vmlinux found in $GUEST_KERNEL" >&2
                                exit 1
                        }
                        mv "$WORK/vmlinux.tmp" "$WORK/vmlinux"
                fi
        ) 9>"$WORK/.lock-vmlinux"
        echo "$WORK/vmlinux"
}
