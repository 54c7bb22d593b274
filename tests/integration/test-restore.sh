#!/bin/bash
# vmctl restore NAME FILE under vm@.service, with the busybox guest that counts in memory (2 vCPUs, a
# small raw [Disk]), one boot for all of it:
#  - a file saved by `vmctl save --stop NAME FILE` restores: the guest counts on with the same boot
#    id, the copy in the state directory is consumed, FILE is unchanged; also into a state directory
#    that does not exist yet (a VM that never ran);
#  - each damaged or mismatched file (bad magic, version, checksum, truncated, another VM's, a RAM
#    extent's checksum, another vCPU count, a disk changed since) gives its one line, exit status 1,
#    leaves FILE as it was and no copy behind, and the VM does not run;
#  - refused while the VM runs, and where the VM has a suspended state of its own; list, status and
#    describe show that state's size and age;
#  - a consumed state is not restored twice: the next start boots afresh;
#  - kill -9 of vmm during a save (at its start, half-way through RAM, just before the rename; a build
#    with -Dtest-hooks=true stops vmm there) leaves the previous state intact, and it restores.
source "$(dirname "$0")/lib.sh"
[[ $(cat /proc/1/comm) == systemd ]] || { echo "systemd is not PID 1: skipping"; exit 77; }

name=rst
unit=vm@$name.service
conf=/etc/vms/$name.conf
state=/var/lib/vms/$name/suspend.vmstate
initrd=/var/lib/sdvm-test/initramfs.cpio
disk=/var/lib/sdvm-test/$name-disk.img
good=$WORK/$name-good.vmstate
bad=$WORK/$name-bad.vmstate
mkdir -p /etc/vms /var/lib/sdvm-test
cp "$(initramfs)" "$initrd"
chmod 0644 "$initrd"
rm -f "$disk"
truncate -s 16M "$disk"
cleanup() {
        rm -f "$TEST_HOOK"
        systemctl stop "$unit" 2>/dev/null
        systemctl reset-failed "$unit" 2>/dev/null
        rm -f "$conf" "$state" "$disk" "$good" "$bad"
        systemctl daemon-reload
}
TEST_HOOK=/run/sdvm-test-hook
trap cleanup EXIT
write_conf() {
        cat >"$conf" <<EOC
[VM]
CPUs=$1
Memory=256M
[Boot]
Kernel=$GUEST_KERNEL
Initrd=$initrd
CommandLine=console=ttyS0 panic=-1 quiet sdvm.action=counter
[Disk]
Path=$disk
EOC
        systemctl daemon-reload
}
write_conf 2

since() { journalctl -u "$unit" -o cat --since "@$1" --no-pager 2>/dev/null; }
show() { echo "-- the unit's log since $(date -d "@$1" +%T):"; since "$1" | tail -n 25; }
# The guest's last "count N boot=B up=U" line since time $1, waiting up to $2 s for one past count $3.
last_count() {
        local t0=$1 after=${3:-0} line n deadline=$((SECONDS + $2))
        while ((SECONDS < deadline)); do
                line=$(since "$t0" | grep 'SDVM-GUEST: count ' | tail -n1)
                n=$(sed -n 's/.*count \([0-9]*\).*/\1/p' <<<"$line")
                [[ -n $n ]] && ((n > after)) && { echo "$line"; return 0; }
                sleep 0.5
        done
        return 1
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
section() { echo "== $*"; heartbeat "restore: $*"; }
count_of() { sed -n 's/.*count \([0-9]*\).*/\1/p' <<<"$1"; }
sum() { sha256sum "$1" | cut -d' ' -f1; }
# The guest resumed (not booted) since $1, with boot id $2, counting past $3.
resumed() {
        local t=$1 boot=$2 n=$3 line
        line=$(last_count "$t" 60 "$n") || { show "$t"; fail "the restored guest does not count"; }
        [[ $(field "$line" boot) == "$boot" ]] || fail "the guest rebooted: boot id $(field "$line" boot), was $boot"
        (($(count_of "$line") < n + 300)) || fail "the count went from $n to $(count_of "$line"): not a continuation"
        ! since "$t" | grep -q 'SDVM-GUEST: cpus=' || fail "the guest booted again instead of resuming"
        ! since "$t" | grep -q 'soft lockup' || fail "the restored guest reports a soft lockup"
        [[ ! -e $state ]] || fail "the state directory's copy was not consumed"
        echo "resumed: $line"
}

# expect_refused WHAT PATTERN [NAME]: vmctl restore of $bad exits 1 with one line matching PATTERN,
# leaves $bad as it was and nothing in the state directory, and the VM does not run.
expect_refused() {
        local what=$1 pattern=$2 vm=${3:-$name} before out rc=0 t
        before=$(sum "$bad")
        t=$(date +%s)
        out=$("$VMCTL" restore "$vm" "$bad" 2>&1) || rc=$?
        echo "$what: $out"
        ((rc == 1)) || { show "$t"; fail "$what: vmctl restore exited $rc, not 1"; }
        (($(wc -l <<<"$out") == 1)) || fail "$what: not one line"
        grep -qE "$pattern" <<<"$out" || fail "$what: the message does not match '$pattern'"
        [[ $(sum "$bad") == "$before" ]] || fail "$what: the file was changed"
        [[ ! -e $state ]] || fail "$what: a copy was left in the state directory"
        [[ $(systemctl is-active "$unit") != active ]] || fail "$what: the VM runs"
        systemctl reset-failed "$unit" 2>/dev/null || true
}

section "boot, then vmctl save --stop to a file"
t0=$(date +%s)
systemctl start "$unit" || { show "$t0"; fail "start failed"; }
first=$(last_count "$t0" 120 25) || { show "$t0"; fail "the guest never counted"; }
boot=$(field "$first" boot)
rm -f "$good"
"$VMCTL" save --stop "$name" "$good" || { show "$t0"; fail "vmctl save --stop to a file failed"; }
n1=$(count_of "$(last_count "$t0" 5 0)")
for _ in $(seq 300); do [[ $(systemctl is-active "$unit") != active ]] && break; sleep 0.2; done
[[ $(systemctl is-active "$unit") != active ]] || fail "the VM runs on after save --stop"
[[ -s $good ]] || fail "no state file"
good_sum=$(sum "$good")
echo "saved at count $n1: $(du -k "$good" | cut -f1) KiB on disk"
out=$("$VMCTL" status "$name")
echo "$out"
[[ $(awk '{print $NF}' <<<"$out") == - ]] || fail "status shows a suspended state where there is none"

section "damaged files: vmctl's own check"
cp --sparse=always "$good" "$bad"
printf 'X' | dd of="$bad" bs=1 seek=0 conv=notrunc status=none
expect_refused "bad magic" "^state file $bad: not a state file \(bad magic\)$"
cp --sparse=always "$good" "$bad"
printf '\002' | dd of="$bad" bs=1 seek=8 conv=notrunc status=none
expect_refused "bad version" "^state file $bad: unknown version 2$"
cp --sparse=always "$good" "$bad"
printf 'x' | dd of="$bad" bs=1 seek=60 conv=notrunc status=none # in the identity's name padding
expect_refused "bad checksum" "^state file $bad: bad checksum$"
cp --sparse=always "$good" "$bad"
truncate -s $(($(stat -c %s "$good") / 2)) "$bad"
expect_refused "truncated" "^state file $bad: truncated"
cp --sparse=always "$good" "$bad"
expect_refused "another VM's" "^State file $bad is of VM '$name', not 'other'\.$" other

section "damaged or mismatched files: vmm's check, its reason from the journal"
# A byte in the middle of the first RAM extent: only its CRC-32C, checked as vmm reads it, can tell.
python3 - "$bad" <<'EOF'
import struct, sys
f = open(sys.argv[1], 'r+b')
off = 16
while True:
    f.seek(off)
    tag, flags, length = struct.unpack('<4sIQ', f.read(16))
    if tag == b'ram ':
        break
    off += 16 + length
f.seek(off + 16 + 56)
ram_offset, length, file_offset, crc, flags = struct.unpack('<QQQII', f.read(32))
f.seek(file_offset + length // 2)
b = f.read(1)
f.seek(file_offset + length // 2)
f.write(bytes([b[0] ^ 0xff]))
EOF
expect_refused "RAM checksum" "^VM '$name' was not restored from $bad: state file $state: bad checksum in RAM extent 0 "
cp --sparse=always "$good" "$bad"
write_conf 1
expect_refused "another vCPU count" "^VM '$name' was not restored from $bad: State file $state is of a VM with 2 vCPUs and 256 MiB; the config says 1 vCPUs and 256 MiB\.$"
write_conf 2
mtime=$(stat -c %y "$disk")
printf 'x' | dd of="$disk" bs=1 seek=4096 conv=notrunc status=none
expect_refused "a changed disk" "^VM '$name' was not restored from $bad: State file $state: \[Disk\] #1 was modified after the VM was saved; resuming would corrupt it\.$"
printf '\0' | dd of="$disk" bs=1 seek=4096 conv=notrunc status=none
touch -d "$mtime" "$disk"

section "restore into a state directory that does not exist yet"
rm -rf "/var/lib/vms/$name" "/var/lib/private/vms/$name"
t1=$(date +%s)
sleep 1
"$VMCTL" restore "$name" "$good" || { show "$t1"; fail "vmctl restore failed"; }
resumed "$t1" "$boot" "$n1"
[[ $(sum "$good") == "$good_sum" ]] || fail "vmctl restore changed the file"

section "refused while the VM runs, and over a suspended state of its own"
cp --sparse=always "$good" "$bad"
out=$("$VMCTL" restore "$name" "$bad" 2>&1) && fail "restored over a running VM"
echo "$out"
grep -q "^VM '$name' is active: only a stopped VM can be restored" <<<"$out" || fail "no 'is active' message"
"$VMCTL" save --stop "$name" >/dev/null || fail "vmctl save --stop failed"
for _ in $(seq 300); do [[ $(systemctl is-active "$unit") != active ]] && break; sleep 0.2; done
n2=$(count_of "$(last_count "$t1" 5 0)")
[[ -s $state ]] || fail "no suspended state after save --stop"
"$VMCTL" list | grep -E "^(NAME|$name) "
out=$("$VMCTL" status "$name")
grep -qE " [0-9.]+[KMG], saved [0-9]+s ago$" <<<"$out" || fail "status does not show the suspended state: $out"
"$VMCTL" --json status "$name" | jq -e --arg p "$state" '.[0].suspended | .path == $p and .bytes > 0 and .size > .bytes and .savedUSec > 0' >/dev/null ||
        fail "status --json: no suspended object: $("$VMCTL" --json status "$name")"
out=$("$VMCTL" describe "$name" 2>&1) && fail "describe of a stopped VM succeeded"
echo "$out"
grep -q "has a suspended state (.*), which 'vmctl start $name' resumes" <<<"$out" || fail "describe says nothing of the suspended state"
expect_state_kept() {
        local what=$1 file=$2 pattern=$3 out before
        before=$(sum "$state")
        out=$("$VMCTL" restore "$name" "$file" 2>&1) && fail "$what: restored"
        echo "$what: $out"
        grep -qE "$pattern" <<<"$out" || fail "$what: the message does not match '$pattern'"
        [[ $(sum "$state") == "$before" ]] || fail "$what: the suspended state was changed"
}
expect_state_kept "another file" "$bad" "^VM '$name' has a suspended state of its own \($state, .*\), which 'vmctl start $name' resumes"
expect_state_kept "its own file" "$state" "^$state is the suspended state of VM '$name'"
t2=$(date +%s)
sleep 1
systemctl start "$unit" || { show "$t2"; fail "start after the refusals failed"; }
resumed "$t2" "$boot" "$n2"

section "a consumed state is not restored twice"
"$VMCTL" kill "$name" || fail "vmctl kill failed"
for _ in $(seq 300); do [[ $(systemctl is-active "$unit") != active ]] && break; sleep 0.2; done
[[ ! -e $state ]] || fail "a state file appeared"
systemctl reset-failed "$unit" 2>/dev/null || true
t3=$(date +%s)
sleep 1
systemctl start "$unit" || { show "$t3"; fail "start after kill failed"; }
# From this run of the unit only: the killed guest's last console lines can reach the journal after
# t3, and would otherwise pass for the new guest's.
inv=$(systemctl show -P InvocationID "$unit")
counted() {
        journalctl -o cat --no-pager "_SYSTEMD_INVOCATION_ID=$inv" >"$WORK/rst-inv.txt" 2>/dev/null
        grep -a 'SDVM-GUEST: count ' "$WORK/rst-inv.txt" | tail -n1 >"$WORK/rst-fresh.txt"
        [[ -s $WORK/rst-fresh.txt ]]
}
wait_for 120 "a count line from the restarted unit (invocation $inv)" counted
fresh=$(cat "$WORK/rst-fresh.txt")
[[ $(field "$fresh" boot) != "$boot" ]] || fail "the guest resumed the consumed state again"
boot=$(field "$fresh" boot)
[[ $(sum "$good") == "$good_sum" ]] || fail "the file changed"
echo "booted afresh: $fresh"

section "kill -9 during a save leaves the previous state restorable"
if [[ ${SDVM_TEST_HOOKS:-0} != 1 ]]; then
        echo "skipped: vmm was built without -Dtest-hooks=true"
        echo "OK"
        exit 0
fi
for point in save-early save-ram save-rename; do
        heartbeat "restore: kill -9 at $point"
        t=$(date +%s)
        "$VMCTL" save "$name" >/dev/null || { show "$t"; fail "$point: the first save failed"; }
        prev=$(sum "$state")
        n=$(count_of "$(last_count "$t" 10 0)")
        pid=$(systemctl show -P MainPID "$unit")
        echo "$point" >"$TEST_HOOK"
        chmod 0644 "$TEST_HOOK"
        "$VMCTL" save "$name" >/dev/null 2>&1 &
        saver=$!
        stopped=
        for _ in $(seq 200); do
                [[ $(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1) == T ]] && { stopped=1; break; }
                sleep 0.1
        done
        rm -f "$TEST_HOOK"
        [[ -n $stopped ]] || { kill "$saver" 2>/dev/null; show "$t"; fail "$point: vmm never stopped at the hook"; }
        kill -9 "$pid"
        wait "$saver" && fail "$point: the killed save succeeded"
        for _ in $(seq 300); do [[ $(systemctl is-active "$unit") != active ]] && break; sleep 0.2; done
        [[ $(sum "$state") == "$prev" ]] || fail "$point: the previous state changed"
        left=$(find "/var/lib/vms/$name/" -name '.#*' | wc -l)
        echo "$point: killed; the previous state is intact, $left temporary file(s) left"
        systemctl reset-failed "$unit" 2>/dev/null || true
        t=$(date +%s)
        sleep 1
        timeout 300 systemctl start "$unit" || { show "$t"; fail "$point: the start after kill -9 failed or hung"; }
        resumed "$t" "$boot" "$n"
        (($(find "/var/lib/vms/$name/" -name '.#*' | wc -l) == 0)) || fail "$point: the start did not remove the temporary file"
done
echo "OK"
