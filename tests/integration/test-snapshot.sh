#!/bin/bash
# Suspend to disk through the service manager, with a busybox guest that counts in memory and holds
# 64 MiB of known data: with OnStop=save, `systemctl stop` saves the VM into its state directory and
# the unit ends in success; `systemctl start` restores it, and the guest counts on from where it was,
# with the same boot id and data (no reboot) and an uptime that went on. The state is consumed before
# the guest runs. `vmctl save` (io.sdvm.VM.Save) saves a running VM and it runs on; a corrupted state
# file makes the start fail with one line naming it and stays in place; without it the VM boots afresh.
source "$(dirname "$0")/lib.sh"
[[ $(cat /proc/1/comm) == systemd ]] || { echo "systemd is not PID 1: skipping"; exit 77; }

name=snaptest
state=/var/lib/vms/$name/suspend.vmstate
initrd=/var/lib/sdvm-test/initramfs.cpio
mkdir -p /etc/vms /var/lib/sdvm-test
cp "$(initramfs)" "$initrd"
chmod 0644 "$initrd"
cleanup() {
        systemctl stop "vm@$name.service" 2>/dev/null
        systemctl reset-failed "vm@$name.service" 2>/dev/null
        rm -f /etc/vms/$name.conf "$state"
        systemctl daemon-reload
}
trap cleanup EXIT
cat >/etc/vms/$name.conf <<EOC
[VM]
CPUs=2
Memory=256M
OnStop=save
[Boot]
Kernel=$GUEST_KERNEL
Initrd=$initrd
CommandLine=console=ttyS0 panic=-1 quiet sdvm.action=counter
EOC
systemctl daemon-reload

since() { journalctl -u "vm@$name" -o cat --since "@$1" --no-pager 2>/dev/null; }
# The guest's last "count N boot=B up=U" line since time $1, waiting up to $2 s for one past count $3.
last_count() {
        local t0=$1 limit=$2 after=${3:-0} line n deadline=$((SECONDS + $2))
        while ((SECONDS < deadline)); do
                line=$(since "$t0" | grep 'SDVM-GUEST: count ' | tail -n1)
                n=$(sed -n 's/.*count \([0-9]*\).*/\1/p' <<<"$line")
                [[ -n $n ]] && ((n > after)) && { echo "$line"; return 0; }
                sleep 0.5
        done
        return 1
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

echo "== boot"
t0=$(date +%s)
systemctl start "vm@$name" || fail "start failed"
show() { echo "-- the unit's log since $(date -d "@$1" +%T):"; since "$1" | tail -n 25; }
first=$(last_count "$t0" 120 25) || { show "$t0"; fail "the guest never counted"; }
boot=$(field "$first" boot)
data=$(since "$t0" | sed -n 's/.*SDVM-GUEST: data \([0-9a-f]*\).*/\1/p' | tail -n1)
[[ -n $boot && -n $data ]] || { show "$t0"; fail "no boot id or data checksum from the guest"; }
echo "counting: $first (data $data)"

echo "== vmctl save: the VM runs on"
out=$("$VMCTL" --json save "$name") || { show "$t0"; fail "vmctl save failed: $out"; }
echo "$out"
[[ -f $state ]] || fail "no state file after vmctl save"
c=$(last_count "$(date +%s)" 30 "$(field "$first" count)") || fail "the guest stopped counting after vmctl save"
rm -f "$state"

echo "== systemctl stop saves (OnStop=save)"
before=$(last_count "$t0" 30 1) || fail "no count before the stop"
n1=$(sed -n 's/.*count \([0-9]*\).*/\1/p' <<<"$before")
up1=$(field "$before" up)
systemctl stop "vm@$name" || { show "$t0"; fail "stop failed"; }
[[ $(systemctl show -P Result "vm@$name") == success ]] || fail "the unit did not stop with success: $(systemctl show -P Result "vm@$name")"
[[ -s $state ]] || fail "no state file after systemctl stop"
echo "saved at count $n1: $(stat -c %s "$state") bytes, $(du -k "$state" | cut -f1) KiB on disk"
journalctl -u "vm@$name" -o cat --no-pager | grep -i 'saved\|state file' | tail -n3

echo "== systemctl start restores"
t1=$(date +%s)
sleep 1
systemctl start "vm@$name" || { show "$t1"; fail "start after the save failed"; }
after=$(last_count "$t1" 60 0) || { show "$t1"; fail "the restored guest does not count"; }
n2=$(sed -n 's/.*count \([0-9]*\).*/\1/p' <<<"$after")
echo "restored: $after"
[[ $(field "$after" boot) == "$boot" ]] || fail "the guest rebooted: boot id $(field "$after" boot), was $boot"
((n2 > n1 && n2 < n1 + 200)) || fail "the count went from $n1 to $n2: not a continuation"
since "$t1" | grep -q 'SDVM-GUEST: cpus=' && fail "the guest booted again instead of resuming"
since "$t1" | grep -q 'soft lockup' && fail "the restored guest reports a soft lockup"
awk -v a="$(field "$after" up)" -v b="$up1" 'BEGIN { exit !(a >= b) }' || fail "the guest's uptime went backwards"
[[ ! -e $state ]] || fail "the state file was not consumed by the restore"
d=$(last_count "$t1" 30 $((n2 + 20))) || fail "the restored guest stopped counting"
since "$t1" | grep 'SDVM-GUEST: data ' | tail -n1 | grep -q "$data" || fail "the guest's 64 MiB differ after the restore"
echo "the guest counts on with the same boot id and data"

echo "== a corrupted state file is refused and kept"
systemctl stop "vm@$name" || fail "second stop failed"
[[ -s $state ]] || fail "no state file after the second stop"
# Cut short, as a save that was interrupted on a disk that then filled up would leave it.
truncate -s $(($(stat -c %s "$state") / 2)) "$state"
size=$(stat -c %s "$state")
t2=$(date +%s)
sleep 1
systemctl start "vm@$name" 2>/dev/null && sleep 3
[[ $(systemctl is-active "vm@$name") != active ]] || fail "vmm ran a corrupted state"
since "$t2" | grep -i 'state file' | tail -n2
since "$t2" | grep -qi "state file .*suspend.vmstate" || fail "no message naming the state file"
[[ $(stat -c %s "$state") == "$size" ]] || fail "the corrupted state file was not left in place"
systemctl reset-failed "vm@$name"

echo "== without the file it boots afresh"
rm -f "$state"
t3=$(date +%s)
systemctl start "vm@$name" || fail "start without a state failed"
fresh=$(last_count "$t3" 120 0) || fail "the fresh guest does not count"
[[ $(field "$fresh" boot) != "$boot" ]] || fail "the fresh guest has the old boot id"
echo "OK"
