#!/bin/bash
# test-net.sh: the Debian guest on a tap in L1 (virtio-net). The tap carries fe80::1/64, the guest
# fe80::2/64 (link-local: no range of a real network). Ping both ways; with vmm, pause the VM and check
# that the NIC takes nothing from the tap while paused (its receive counters stand still under 2 s of
# pings) and that the guest answers again after resume; then a TCP transfer of 4 MiB each way, checked
# with sha256 on both ends. Then the guest writes and syncs a file, and the VMM is killed with SIGKILL
# right after the sync returned: the file is in the disk image (test-disk.sh's check after a clean
# power-off, done here so that the suite boots Debian once less). SDVM_TEST_VMM=vmm (default) or qemu:
# see guest-lib.sh.
source "$(dirname "$0")/guest-lib.sh"
command -v socat >/dev/null || fail "no socat in L1"
tap=sdvmtest0 mac=52:54:00:5d:4e:01 bytes=$((4 << 20))
pids=()
cleanup() {
        ((${#pids[@]} == 0)) || kill "${pids[@]}" 2>/dev/null || true
        guest_cleanup
        ip link del "$tap" 2>/dev/null || true
}
trap cleanup EXIT
guest_scratch

ip link del "$tap" 2>/dev/null || true
ip tuntap add dev "$tap" mode tap
ip link set "$tap" up
ip addr add fe80::1/64 dev "$tap" nodad

root=$(guest_copy net)
guest_define net
guest_disk "$root"
guest_nic "$tap" "$mac"
guest_start net,durability-kill sdvm.ip=fe80::2/64 sdvm.peer=fe80::1 sdvm.bytes=$bytes

line=$(guest_wait 'SDVM-AGENT: net-up' 600)
echo "$line"
echo "the guest configured its NIC $(guest_elapsed) s after the start"
[[ $(marker_field "$line" mac) == "$mac" ]] || fail "the guest's NIC has MAC $(marker_field "$line" mac), configured $mac"
line=$(guest_wait 'SDVM-AGENT: (ping ok|error: ping)' 300)
echo "guest -> L1: $line"
grep -q 'ping ok' <<<"$line" || fail "the guest cannot ping L1"
ping -6 -c 3 -W 10 "fe80::2%$tap" || fail "L1 cannot ping the guest"

# Pause quiesces the NIC, not only the vCPUs: frames L1 sends meanwhile wait in the tap, and nothing
# writes them into the guest's receive buffers. The guest is idle on the network now: its agent
# retries its connection to port 5001 (below) for a minute, so it waits for us.
if [[ $LAUNCHER == vmm ]]; then
        net0() { "$VMCTL" --json inspect net devices/net0 | jq -r ".tree.counters.$1"; }
        "$VMCTL" pause net || fail "vmctl pause net"
        [[ $("$VMCTL" --json describe net | jq -r .state) == paused ]] || fail "vmctl pause: the VM is not paused"
        f0=$(net0 rxFrames) b0=$(net0 rxBytes)
        # (The tap's own tx_packets would not do: it counts what vmm reads.) No answer expected.
        out=$(ping -6 -i 0.2 -c 10 -W 1 "fe80::2%$tap" 2>&1) || true
        sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$out")
        f1=$(net0 rxFrames) b1=$(net0 rxBytes)
        echo "paused: L1 sent ${sent:-no} pings over the tap in 2 s; net0 rxFrames $f0 -> $f1, rxBytes $b0 -> $b1"
        ((${sent:-0} >= 10)) || fail "L1 did not send its pings while paused: $out"
        ((f1 == f0 && b1 == b0)) || fail "net0 received while the VM was paused: rxFrames $f0 -> $f1, rxBytes $b0 -> $b1"
        "$VMCTL" resume net || fail "vmctl resume net"
        ping -6 -c 3 -W 10 "fe80::2%$tap" || fail "the guest does not answer a ping after resume"
        f2=$(net0 rxFrames)
        echo "resumed: net0 rxFrames $f1 -> $f2"
        ((f2 > f1)) || fail "net0 received nothing after resume: rxFrames $f1 -> $f2"
fi

# The guest connects to 5001 (L1 sends) and then 5002 (L1 receives), retrying until they listen.
head -c "$bytes" /dev/urandom >"$WORK/net-down.bin"
down_sum=$(sha256sum <"$WORK/net-down.bin" | cut -d' ' -f1)
rm -f "$WORK/net-up.bin"
socat -u OPEN:"$WORK/net-down.bin" TCP6-LISTEN:5001,reuseaddr &
pids+=($!)
socat -u TCP6-LISTEN:5002,reuseaddr CREATE:"$WORK/net-up.bin" &
pids+=($!)
t0=$(date +%s.%N)
line=$(guest_wait 'SDVM-AGENT: (net received|error: net)' 300)
echo "L1 -> guest: $line"
[[ $(marker_field "$line" sha256) == "$down_sum" ]] || fail "the guest received other bytes than L1 sent"
line=$(guest_wait 'SDVM-AGENT: (net sent|error: net)' 300)
echo "guest -> L1: $line"
wait "${pids[1]}" || fail "L1's receiver failed"
up_sum=$(sha256sum <"$WORK/net-up.bin" | cut -d' ' -f1)
[[ $(marker_field "$line" sha256) == "$up_sum" ]] || fail "L1 received other bytes than the guest sent"
echo "transfers: $((bytes >> 20)) MiB each way in $(since "$t0") s, checksums match"

echo "== durability after kill -9 of the VMM right after the guest's sync"
synced=$(guest_wait 'SDVM-AGENT: synced' 300)
echo "$synced"
done_line=$(guest_wait 'SDVM-AGENT: done' 300)
grep -q 'errors=0' <<<"$done_line" || fail "the agent reported errors: $done_line"
guest_kill9
echo "killed the VMM at $(guest_elapsed) s ($G_STATUS)"
guest_running && fail "the VMM survived SIGKILL"
# What a host does with the disk of a crashed VM before reading it: replay the ext4 journal (sync
# committed the metadata to it; the checkpoint may not have happened).
e2fsck -E journal_only -y "$root" >/dev/null 2>&1 || true
check_durable "$root" "$synced"
rm -rf "$SCRATCH/net"
echo "OK"
