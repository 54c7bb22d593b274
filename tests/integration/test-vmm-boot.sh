#!/bin/bash
# test-vmm-boot.sh CPUS MEMORY [pvh]: vmm boots the Debian kernel with the busybox initramfs; the guest
# reports exactly CPUS processors and MEMORY of RAM, writes the boot timer, and powers off: exit 0.
source "$(dirname "$0")/lib.sh"
cpus=$1 mem=$2 kernel=$GUEST_KERNEL name=boot-$1-$2
# With "pvh": the same kernel as an uncompressed ELF vmlinux, entered through its PVH note.
if [[ ${3:-} == pvh ]]; then
        kernel=$(extract_vmlinux) || fail "cannot extract vmlinux from $GUEST_KERNEL"
        name+=-pvh
fi
conf=$(write_config "$name" "$cpus" "$mem" poweroff "$kernel")
run_vmm "$conf" 240
show_output
((STATUS == 0)) || fail "vmm exited with status $STATUS, expected 0 (guest poweroff)"

line=$(grep -a 'SDVM-GUEST: cpus=' "$OUT") || fail "the guest never reported"
bytes=$(numfmt --from=iec "$mem")
got_cpus=$(sed -n 's/.*cpus=\([0-9]*\).*/\1/p' <<<"$line")
memtotal=$(($(sed -n 's/.*memtotal_kb=\([0-9]*\).*/\1/p' <<<"$line") * 1024))
e820=$(sed -n 's/.*e820_ram=\([0-9]*\).*/\1/p' <<<"$line")
((got_cpus == cpus)) || fail "guest sees $got_cpus CPUs, configured $cpus"
# Firmware RAM is all of it but the reserved [0x9fc00, 1 MiB) hole: exact.
((e820 == bytes - 0x60400)) || fail "guest's e820 RAM is $e820 bytes, expected $((bytes - 0x60400))"
# MemTotal is what is left after the kernel's own reservations (its image, page structs, ...):
# under 64 MiB plus 3% of RAM.
floor=$((bytes - (64 << 20) - bytes * 3 / 100))
((memtotal <= bytes && memtotal >= floor)) || fail "MemTotal $memtotal not within [$floor, $bytes]"
grep -aq 'Boot timer: guest reached' "$OUT" || fail "no boot-timer line in vmm's log"
echo "OK: $cpus vCPUs, e820 RAM $e820, MemTotal $memtotal; $(grep -a 'Boot timer' "$OUT")"
