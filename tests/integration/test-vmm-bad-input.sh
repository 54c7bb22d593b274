#!/bin/bash
# Each bad input gets one clear line naming what is wrong, and exit status 1: never a crash.
source "$(dirname "$0")/lib.sh"

# expect_error NAME PATTERN CONF [RUNNER...]
expect_error() {
        local name=$1 pattern=$2 conf=$3
        shift 3
        STATUS=0
        "$@" timeout 60 "$VMM" --config="$conf" </dev/null >"$WORK/$name.out" 2>&1 || STATUS=$?
        echo "[$name] status $STATUS: $(grep -av '^Starting VM' "$WORK/$name.out" | head -n 3)"
        ((STATUS == 1)) || fail "$name: status $STATUS, expected 1"
        grep -aqE "$pattern" "$WORK/$name.out" || fail "$name: no line matching /$pattern/"
}

expect_error missing-kernel "/nonexistent/vmlinuz.*No such file" \
        "$(write_config missing-kernel 1 256M poweroff /nonexistent/vmlinuz)"

head -c 3000000 /dev/urandom >"$WORK/garbage-kernel"
expect_error corrupt-kernel "garbage-kernel.*(not a bzImage|not a Linux kernel|bzImage nor)" \
        "$(write_config corrupt-kernel 1 256M poweroff "$WORK/garbage-kernel")"

truncate -s 300M "$WORK/huge-initrd"
expect_error huge-initrd "huge-initrd.*(does not fit|too big)" \
        "$(write_config huge-initrd 1 128M poweroff "$GUEST_KERNEL" "$WORK/huge-initrd")"

conf=$(write_config zero-cpus 0 256M poweroff)
expect_error zero-cpus "zero-cpus.conf:2: \[VM\] CPUs=0" "$conf"

conf=$(write_config tiny-memory 1 1M poweroff)
expect_error tiny-memory "tiny-memory.conf:3: \[VM\] Memory=1M" "$conf"

conf=$(write_config huge-memory 1 100T poweroff)
expect_error huge-memory "huge-memory.conf:3: \[VM\] Memory=100T" "$conf"

# /dev/kvm is root:kvm 0660: an unprivileged user cannot open it.
conf=$(write_config no-kvm 1 256M poweroff)
chmod 0755 "$WORK"
chmod 0644 "$conf"
expect_error no-kvm "Failed to open /dev/kvm: Permission denied" "$conf" setpriv --reuid=nobody --regid=nogroup --clear-groups
# [Disk] and [Network] entries that cannot be set up: the message names the entry.
conf=$(write_config missing-disk 1 256M poweroff)
printf '[Disk]\nPath=%s\n' "$WORK/no-such-disk.img" >>"$conf"
expect_error missing-disk "\[Disk\] #1 \(.*no-such-disk.img, line [0-9]+\) does not exist" "$conf"

# start_holder NAME READONLY: a VM that holds shared.img (idle guest) until killed; sets HOLDER.
start_holder() {
        local conf
        conf=$(write_config "$1" 1 256M bench)
        printf '[Disk]\nPath=%s\nReadOnly=%s\n' "$WORK/shared.img" "$2" >>"$conf"
        "$VMM" --config="$conf" </dev/null >"$WORK/$1.out" 2>&1 &
        HOLDER=$!
        for _ in $(seq 100); do grep -aq "action=bench" "$WORK/$1.out" && break; sleep 0.3; done
        grep -aq "action=bench" "$WORK/$1.out" || fail "$1 did not start: $(tail -n 3 "$WORK/$1.out")"
}
stop_holder() {
        kill -9 "$HOLDER"
        wait "$HOLDER" 2>/dev/null || true
}

# One writable image, two VMs: the second is refused while the first holds its OFD lock.
truncate -s 16M "$WORK/shared.img"
start_holder disk-owner no
conf=$(write_config disk-second 1 256M poweroff)
printf '[Disk]\nPath=%s\nReadOnly=yes\n' "$WORK/shared.img" >>"$conf"
expect_error locked-disk "\\[Disk\\] #1 \\(.*shared.img, line [0-9]+\\) is in use by another VM" "$conf"
stop_holder
# Readers share an image, a writer is still refused; the lock went with the killed process above.
start_holder disk-reader yes
conf=$(write_config disk-ro 1 256M devices)
printf '[Disk]\nPath=%s\nReadOnly=yes\n' "$WORK/shared.img" >>"$conf"
timeout 120 "$VMM" --config="$conf" </dev/null >"$WORK/disk-ro.out" 2>&1 ||
        fail "a second reader was refused: $(tail -n 3 "$WORK/disk-ro.out")"
grep -aq "disk vda sectors=32768 ro=1" "$WORK/disk-ro.out" || fail "the guest did not see the read-only disk"
echo "[shared-read-only] two VMs read one image"
conf=$(write_config disk-writer 1 256M poweroff)
printf '[Disk]\nPath=%s\n' "$WORK/shared.img" >>"$conf"
expect_error locked-by-readers "\\[Disk\\] #1 \\(.*shared.img, line [0-9]+\\) is in use by another VM" "$conf"
stop_holder

conf=$(write_config bad-bridge 1 256M poweroff)
printf '[Network]\nBridge=nosuchbr0\n' >>"$conf"
expect_error bad-bridge "\[Network\] #1 .*Bridge=nosuchbr0 does not exist" "$conf"
# Without CAP_NET_ADMIN no tap can be made, and the message says what is missing.
conf=$(write_config no-cap-tap 1 256M poweroff)
printf '[Network]\nTap=sdvmtest9\n' >>"$conf"
expect_error no-cap-tap "\[Network\] #1 .*CAP_NET_ADMIN" "$conf" setpriv --inh-caps=-all --bounding-set=-net_admin
echo "OK: every bad input was refused with a clear line"
