#!/bin/bash
# test-disk.sh: the Debian guest image boots from virtio-blk (root=/dev/vda) to multi-user.target; a
# read-only second disk reads back its content and refuses a write; a file the guest writes and syncs
# is in the image after a clean power-off (test-net.sh checks the same after SIGKILL to the VMM, in
# its guest, so that the suite boots Debian once less). SDVM_TEST_VMM=vmm (default) or qemu: see
# guest-lib.sh.
source "$(dirname "$0")/guest-lib.sh"
trap guest_cleanup EXIT
guest_scratch

echo "== boot to multi-user.target; read-only second disk; durability after power-off"
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
guest_wait 'SDVM-AGENT: slowest units' 300 >/dev/null
# vmm gives each disk its Serial= (default sdvm-NAME-N) as the virtio-blk ID, which udev links.
if [[ $LAUNCHER == vmm ]]; then
        line=$(guest_wait 'SDVM-AGENT: disks:' 300)
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

line=$(guest_wait 'SDVM-AGENT: rodisk read' 300)
echo "$line"
[[ $(marker_field "$line" sha256) == "$ro_sum" ]] || fail "the guest read other bytes from the read-only disk"
[[ $(marker_field "$line" bytes) == $((4 << 20)) ]] || fail "the read-only disk has the wrong size"
line=$(guest_wait 'SDVM-AGENT: rodisk write' 300)
echo "$line"
grep -q 'write failed' <<<"$line" || fail "a write to the read-only disk succeeded"
[[ $(sha256sum <"$ro" | cut -d' ' -f1) == "$ro_sum" ]] || fail "the read-only disk's image changed"

synced=$(guest_wait 'SDVM-AGENT: synced' 300)
echo "$synced"
done_line=$(guest_wait 'SDVM-AGENT: done' 300)
echo "$done_line"
grep -q 'errors=0' <<<"$done_line" || fail "the agent reported errors"
guest_wait_exit 300
[[ $G_STATUS == poweroff ]] || fail "the guest did not power off cleanly: $G_STATUS"
echo "powered off after $(guest_elapsed) s"
check_durable "$root" "$synced"

rm -rf "$SCRATCH/disk"
echo "OK"
