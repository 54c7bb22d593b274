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
echo "OK: every bad input was refused with a clear line"
