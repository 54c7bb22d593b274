#!/bin/bash
# test-disk.sh: the Debian guest image boots from virtio-blk (root=/dev/vda) to multi-user.target; a
# read-only second disk reads back its content and refuses a write; a file the guest writes and syncs
# is in the image afterwards, both after a clean power-off and after SIGKILL to the VMM right after
# the guest's sync returned. SDVM_TEST_VMM=vmm (default) or qemu: see guest-lib.sh.
source "$(dirname "$0")/guest-lib.sh"
trap guest_cleanup EXIT
guest_scratch

# check_durable IMAGE LINE: the file the agent reported in LINE ("synced file=F bytes=N sha256=S"),
# read from IMAGE on the host with debugfs, has the same bytes.
check_durable() {
        local img=$1 line=$2 f sum got
        f=$(marker_field "$line" file) sum=$(marker_field "$line" sha256)
        [[ -n $f && ${#sum} == 64 ]] || fail "malformed agent line: $line"
        rm -f "$WORK/durable.out"
        debugfs -R "dump $f $WORK/durable.out" "$img" 2>/dev/null
        [[ -f $WORK/durable.out ]] || fail "$f is not in the image"
        got=$(sha256sum <"$WORK/durable.out" | cut -d' ' -f1)
        [[ $got == "$sum" ]] || fail "$f in the image has sha256 $got, the guest wrote $sum"
        echo "the host reads $f ($(stat -c %s "$WORK/durable.out") bytes) from the image: sha256 matches"
}

echo "== 1. boot to multi-user.target; read-only second disk; durability after power-off"
root=$(guest_copy disk)
ro=$SCRATCH/disk/ro.img
head -c 4M /dev/urandom >"$ro"
ro_sum=$(sha256sum <"$ro" | cut -d' ' -f1)
guest_define disk
guest_disk "$root"
guest_disk "$ro" ro
guest_start boot,rodisk,durability
line=$(guest_wait 'SDVM-AGENT: multi-user.target reached' 600)
echo "$line"
echo "boot: multi-user.target on the console $(guest_elapsed) s after the start (guest uptime $(marker_field "$line" uptime))"
grep -q 'state=\(running\|degraded\)' <<<"$line" || fail "the guest's systemd is not up: $line"
guest_wait 'SDVM-AGENT: slowest units' 120 >/dev/null
# vmm gives each disk its Serial= (default sdvm-NAME-N) as the virtio-blk ID, which udev links.
if [[ $LAUNCHER == vmm ]]; then
        line=$(guest_wait 'SDVM-AGENT: disks:' 10)
        echo "$line"
        grep -q "virtio-sdvm-${G_NAME:0:10}-0" <<<"$line" || fail "no /dev/disk/by-id link from the disk's serial: $line"
        # Inspect shows each disk: its model, a started queue, the reads the boot made, the read-only flag.
        insp=$("$VMCTL" --json inspect "$G_NAME" devices/disk0)
        echo "vmctl inspect $G_NAME devices/disk0: $(jq -c .tree.counters <<<"$insp")"
        jq -e '.tree | .type == "virtio-blk" and .queues[0].started and .counters.reads > 0 and .counters.readOnly == 0' \
                <<<"$insp" >/dev/null || fail "vmctl inspect devices/disk0: $insp"
        insp=$("$VMCTL" --json inspect "$G_NAME" devices/disk1)
        jq -e '.tree.counters.readOnly == 1' <<<"$insp" >/dev/null || fail "vmctl inspect devices/disk1: $insp"
fi
guest_lines | grep -a 'SDVM-AGENT: \(failed units\|Startup\|slowest\)' || true

line=$(guest_wait 'SDVM-AGENT: rodisk read' 120)
echo "$line"
[[ $(marker_field "$line" sha256) == "$ro_sum" ]] || fail "the guest read other bytes from the read-only disk"
[[ $(marker_field "$line" bytes) == $((4 << 20)) ]] || fail "the read-only disk has the wrong size"
line=$(guest_wait 'SDVM-AGENT: rodisk write' 60)
echo "$line"
grep -q 'write failed' <<<"$line" || fail "a write to the read-only disk succeeded"
[[ $(sha256sum <"$ro" | cut -d' ' -f1) == "$ro_sum" ]] || fail "the read-only disk's image changed"

synced=$(guest_wait 'SDVM-AGENT: synced' 120)
echo "$synced"
done_line=$(guest_wait 'SDVM-AGENT: done' 60)
echo "$done_line"
grep -q 'errors=0' <<<"$done_line" || fail "the agent reported errors"
guest_wait_exit 120
[[ $G_STATUS == poweroff ]] || fail "the guest did not power off cleanly: $G_STATUS"
echo "powered off after $(guest_elapsed) s"
check_durable "$root" "$synced"

echo "== 2. durability after kill -9 of the VMM right after the guest's sync"
root=$(guest_copy disk-kill)
guest_define disk-kill
guest_disk "$root"
guest_start durability-kill
synced=$(guest_wait 'SDVM-AGENT: synced' 600)
guest_kill9
echo "$synced"
echo "killed the VMM at $(guest_elapsed) s ($G_STATUS)"
guest_running && fail "the VMM survived SIGKILL"
# What a host does with the disk of a crashed VM before reading it: replay the ext4 journal (sync
# committed the metadata to it; the checkpoint may not have happened).
e2fsck -E journal_only -y "$root" >/dev/null 2>&1 || true
check_durable "$root" "$synced"
rm -rf "$SCRATCH/disk" "$SCRATCH/disk-kill"
echo "OK"
