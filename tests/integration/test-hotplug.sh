#!/bin/bash
# Hot-add and hot-remove of disks and network interfaces on VMs started by systemd (vm@.service), with
# the busybox guest that reports disks and interfaces as they come and go (sdvm.action=hotplug):
#  1. vmctl add-disk: the guest sees the disk (size, serial, the first MiB's md5) and writes to it;
#     vmctl inspect shows it; vmctl events says device-added; remove-disk: the guest lets go, vmm holds
#     no fd for the image, the guest's write is in the image, and the image can be added again;
#  2. vmctl add-nic on a tap: the guest sees the MAC and pings L1 over it, L1 pings the guest;
#     remove-nic: the guest drops it, the tap is gone;
#  3. bad input, each a typed error after which the VM runs and answers Describe: a char device, a
#     read-only fd for a writable disk, an image in use, a duplicate serial and MAC, no such device,
#     a Save (its state would not match the config);
#  4. SDVM_HOTPLUG_CYCLES (20) add/remove cycles of a disk and of a NIC: vmm's fds and threads the same
#     after as before, RSS reported;
#  5. a second VM whose guest ignores eject requests (acpiphp.disable=1) and boots "from" a config disk:
#     RemoveDisk of the boot disk is refused without force; a removal times out with NotReleased and the
#     disk stays; a second removal meanwhile is DeviceBusy; --force then removes it (a surprise removal
#     is tested only here: a guest's driver may wait forever on a function that vanished under it).
source "$(dirname "$0")/lib.sh"
[[ $(cat /proc/1/comm) == systemd ]] || { echo "systemd is not PID 1: skipping"; exit 77; }

name=hptest
name2=hptest2
sock=/run/vms/$name/control
initrd=/var/lib/sdvm-test/initramfs.cpio
dir=/var/lib/sdvm-test/hotplug
cycles=${SDVM_HOTPLUG_CYCLES:-20}
mkdir -p /etc/vms /var/lib/sdvm-test "$dir"
cp "$(initramfs)" "$initrd"
chmod 0644 "$initrd"
bg=()
cleanup() {
        kill "${bg[@]}" 2>/dev/null || true
        systemctl stop "vm@$name.service" "vm@$name2.service" 2>/dev/null
        rm -f /etc/vms/$name.conf /etc/vms/$name2.conf
        rm -rf "$dir"
        systemctl daemon-reload
        ip link del hptap0 2>/dev/null || true
}
trap cleanup EXIT

# start_vm NAME ACTION [KERNEL-ARGS [CONFIG-TAIL]]: a busybox guest under vm@NAME.service.
start_vm() {
        cat >/etc/vms/$1.conf <<EOC
[VM]
CPUs=1
Memory=256M
[Boot]
Kernel=$GUEST_KERNEL
Initrd=$initrd
CommandLine=console=ttyS0 panic=-1 quiet sdvm.action=$2 ${3:-}
${4:-}
EOC
        systemctl daemon-reload
        systemctl reset-failed "vm@$1.service" 2>/dev/null || true
        "$VMCTL" start "$1" || { journalctl -u "vm@$1" -o cat -n 30 --no-pager; fail "vmctl start $1 failed"; }
        INV=$(systemctl show -P InvocationID "vm@$1.service")
}
console() { journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$INV" 2>/dev/null | tr -d '\r'; }
# wait_line REGEX: a console line matching REGEX (120 s at most), printed.
# (Through a file: grep -m1 would end the pipe early, and pipefail would call that a failure.)
has_line() {
        console >"$WORK/console"
        grep -aE -m1 -- "$1" "$WORK/console" >"$WORK/line"
}
wait_line() {
        wait_for 120 "console line /$1/" has_line "$1"
        cat "$WORK/line"
}
# How many lines match REGEX so far; wait_more REGEX N waits until more than N do.
count() {
        console >"$WORK/console"
        grep -acE -- "$1" "$WORK/console" || true
}
more_than() { (($(count "$1") > $2)); }
wait_more() { wait_for 120 "a new console line /$1/ (had $2)" more_than "$1" "$2"; }
call() { varlinkctl call --json=short "$sock" "io.sdvm.VM.$1" "${2:-{\}}"; }
# push_fd PATH ro|rw METHOD PARAMS: METHOD with PATH's fd passed along (varlinkctl 257 cannot pass fds);
# prints the reply, fails on an error reply.
push_fd() {
        python3 - "$sock" "$@" <<'EOP'
import json, os, socket, sys
sock, path, mode, method, params = sys.argv[1:]
fd = os.open(path, os.O_RDONLY if mode == "ro" else os.O_RDWR)
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
socket.send_fds(s, [json.dumps({"method": method, "parameters": json.loads(params)}).encode() + b"\0"], [fd])
reply = b""
while not reply.endswith(b"\0"):
    chunk = s.recv(65536)
    if not chunk:
        break
    reply += chunk
print(reply.rstrip(b"\0").decode())
sys.exit(1 if "error" in json.loads(reply.rstrip(b"\0") or b"{}") else 0)
EOP
}
alive() { [[ $(call Describe | jq -r .state) == running ]] || fail "after $1: the VM is not running"; }
vmm_pid() { systemctl show -P MainPID "vm@$1.service"; }
holds() {
        local f
        for f in "/proc/$(vmm_pid "$1")"/fd/*; do [[ $(readlink "$f" 2>/dev/null) == "$2" ]] && return 0; done
        return 1
}
# expect_error WHAT ERROR CMD...: CMD fails, and its output names ERROR.
expect_error() {
        local what=$1 err=$2 out
        shift 2
        if out=$("$@" 2>&1); then fail "$what: succeeded: $out"; fi
        grep -q -- "$err" <<<"$out" || fail "$what: expected $err, got: $out"
        echo "$what: refused ($err): $(tail -n1 <<<"$out")"
}

echo "== boot the guest"
start_vm "$name" hotplug
wait_line 'SDVM-GUEST: hotplug watching'
"$VMCTL" events "$name" >"$WORK/hp-events.txt" 2>&1 &
bg+=($!)

echo "== 1. add-disk, remove-disk"
img=$dir/data.img
head -c 8M /dev/urandom >"$img"
sum=$(head -c 1M "$img" | md5sum | cut -d' ' -f1)
out=$("$VMCTL" add-disk "$name" "$img" --serial=hp-data) || fail "vmctl add-disk: $out"
echo "$out"
disk=$(awk '{print $2}' <<<"$out")
[[ $disk == disk0 ]] || fail "the first disk of a VM without disks should be disk0, not '$disk'"
line=$(wait_line 'SDVM-GUEST: hotplug add disk')
vd=$(awk '{print $5}' <<<"$line")
grep -q "sectors=16384 ro=0 serial=hp-data md5=$sum" <<<"$line" || fail "the guest sees another disk: $line"
wait_line "SDVM-GUEST: hotplug wrote $vd"
"$VMCTL" --json inspect "$name" "devices/$disk" | jq -e '.tree.type == "virtio-blk"' >/dev/null ||
        fail "vmctl inspect devices/$disk"
holds "$name" "$img" || fail "vmm holds no fd for $img after add-disk"
"$VMCTL" remove-disk "$name" "$disk" || fail "vmctl remove-disk $disk"
wait_line "SDVM-GUEST: hotplug remove disk $vd"
! holds "$name" "$img" || fail "vmm still holds $img after remove-disk"
[[ $(dd if="$img" bs=512 skip=2048 count=1 2>/dev/null | head -c 19) == sdvm-hotplug-marker ]] ||
        fail "the guest's write is not in the image after the removal"
echo "the guest's write is in the image; vmm holds no fd for it"
grep -q "device-added $disk" "$WORK/hp-events.txt" && grep -q "device-removed $disk" "$WORK/hp-events.txt" ||
        { cat "$WORK/hp-events.txt"; fail "vmctl events did not show the disk come and go"; }
alive "remove-disk"

echo "== 2. add-nic, L1 and the guest ping each other, remove-nic"
ip link del hptap0 2>/dev/null || true
n0=$(count 'SDVM-GUEST: hotplug ping')
out=$("$VMCTL" add-nic "$name" --tap=hptap0 --mac=52:54:00:aa:bb:01) || fail "vmctl add-nic: $out"
echo "$out"
nic=$(awk '{print $2}' <<<"$out")
ip addr add fe80::1/64 dev hptap0 nodad
line=$(wait_line 'SDVM-GUEST: hotplug add net')
eth=$(awk '{print $5}' <<<"$line")
grep -q 'mac=52:54:00:aa:bb:01' <<<"$line" || fail "the guest's interface has another MAC: $line"
wait_more 'SDVM-GUEST: hotplug ping' "$n0"
console >"$WORK/console"
if [[ $(grep -a 'SDVM-GUEST: hotplug ping' "$WORK/console" | tail -n1) != *" $eth ok" ]]; then
        grep -a 'SDVM-GUEST: hotplug ping' "$WORK/console" >&2
        ip -6 addr show hptap0 >&2
        ip -s link show hptap0 >&2
        "$VMCTL" --json inspect "$name" "devices/$nic" >&2
        fail "the guest cannot ping L1 over $eth"
fi
ping -6 -c 3 -W 10 "fe80::2%hptap0" >/dev/null || fail "L1 cannot ping the guest over hptap0"
echo "L1 <-> guest over hptap0 ($eth): ping ok both ways"
"$VMCTL" remove-nic "$name" "$nic" || fail "vmctl remove-nic"
wait_line "SDVM-GUEST: hotplug remove net $eth"
gone() { ! ip link show hptap0 >/dev/null 2>&1; }
wait_for 30 "the tap to go with vmm's last fd for it" gone
alive "remove-nic"

echo "== 2b. a tap deleted under a running NIC: vmm stops watching it, the NIC can still be removed"
a=$(count 'SDVM-GUEST: hotplug ping')
out=$("$VMCTL" add-nic "$name" --tap=hptap0) || fail "vmctl add-nic: $out"
nic=$(awk '{print $2}' <<<"$out")
ip addr add fe80::1/64 dev hptap0 nodad
wait_more 'SDVM-GUEST: hotplug ping' "$a"
ip link del hptap0
tap_gone() { [[ $("$VMCTL" --json inspect "$name" "devices/$nic/counters/tapGone" | jq -r .tree.value) == 1 ]]; }
# The guest sends on its link (neighbour solicitations, pings): the next read finds the tap gone.
ping -6 -c 1 -W 1 "fe80::2%hptap0" >/dev/null 2>&1 || true
wait_for 60 "vmm to notice the deleted tap (devices/$nic/counters/tapGone)" tap_gone
pid=$(vmm_pid "$name")
# The NIC's I/O thread (io-netN) alone: the vCPU's time is the guest's.
io_cpu() {
        local t
        for t in "/proc/$pid"/task/*; do
                [[ $(cat "$t/comm") == "io-$nic" ]] && awk '{print $14 + $15}' "$t/stat" && return
        done
        fail "vmm has no thread io-$nic (a spare I/O thread is renamed for the device it serves)"
}
c0=$(io_cpu)
sleep 5
c1=$(io_cpu)
echo "io-$nic used $((c1 - c0)) ticks of CPU in 5 s after the tap went"
((c1 - c0 < 50)) || fail "io-$nic spins after its tap was deleted: $((c1 - c0)) ticks in 5 s"
r=$(count "SDVM-GUEST: hotplug remove net")
"$VMCTL" remove-nic "$name" "$nic" || fail "remove-nic after the tap was deleted"
wait_more "SDVM-GUEST: hotplug remove net" "$r"
alive "a deleted tap"

echo "== 3. bad input"
expect_error "a character device" BadDevice push_fd /dev/null rw io.sdvm.VM.AddDisk '{"fileDescriptor":0}'
expect_error "a read-only fd for a writable disk" BadDevice push_fd "$img" ro io.sdvm.VM.AddDisk '{"fileDescriptor":0}'
expect_error "a regular file for a NIC" BadDevice push_fd "$img" rw io.sdvm.VM.AddNetwork '{"fileDescriptor":0}'
expect_error "no fd at all" InvalidParameter call AddDisk '{"fileDescriptor":3}'
"$VMCTL" add-disk "$name" "$img" --serial=hp-one >/dev/null || fail "add-disk for the bad-input checks"
expect_error "an image in use" "in use" "$VMCTL" add-disk "$name" "$img" --serial=hp-two
cp --sparse=always "$img" "$dir/other.img"
expect_error "a duplicate serial" DeviceExists "$VMCTL" add-disk "$name" "$dir/other.img" --serial=hp-one
expect_error "no such disk" "no device" "$VMCTL" remove-disk "$name" disk7
expect_error "a NIC by a disk's name" "no device" "$VMCTL" remove-nic "$name" disk0
expect_error "a save with an added device" "added or removed" "$VMCTL" save "$name" "$dir/state"
a=$(count 'SDVM-GUEST: hotplug ping')
"$VMCTL" add-nic "$name" --tap=hptap0 --mac=52:54:00:aa:bb:02 >/dev/null || fail "add-nic for the bad-input checks"
ip addr add fe80::1/64 dev hptap0 nodad
expect_error "a duplicate MAC" DeviceExists "$VMCTL" add-nic "$name" --tap=hptap1 --mac=52:54:00:aa:bb:02
expect_error "a bad MAC" "not a MAC" "$VMCTL" add-nic "$name" --tap=hptap1 --mac=01:02:03
wait_more 'SDVM-GUEST: hotplug ping' "$a" # the guest is done with the interface before it goes
"$VMCTL" remove-nic "$name" net0 >/dev/null || fail "remove-nic net0"
"$VMCTL" remove-disk "$name" disk0 >/dev/null || fail "remove-disk disk0"
alive "the bad input"

echo "== 4. $cycles cycles of add-disk/remove-disk and add-nic/remove-nic"
pid=$(vmm_pid "$name")
fds0=$(ls "/proc/$pid/fd" | wc -l) thr0=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")
rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
for ((i = 1; i <= cycles; i++)); do
        a=$(count 'SDVM-GUEST: hotplug add disk') r=$(count 'SDVM-GUEST: hotplug remove disk')
        "$VMCTL" add-disk "$name" "$img" >/dev/null || fail "cycle $i: add-disk"
        wait_more 'SDVM-GUEST: hotplug add disk' "$a"
        "$VMCTL" remove-disk "$name" disk0 >/dev/null || fail "cycle $i: remove-disk"
        wait_more 'SDVM-GUEST: hotplug remove disk' "$r"
        a=$(count 'SDVM-GUEST: hotplug ping') r=$(count 'SDVM-GUEST: hotplug remove net')
        "$VMCTL" add-nic "$name" --tap=hptap0 >/dev/null || fail "cycle $i: add-nic"
        ip addr add fe80::1/64 dev hptap0 nodad # the guest pings it once it has the interface
        wait_more 'SDVM-GUEST: hotplug ping' "$a"
        "$VMCTL" remove-nic "$name" net0 >/dev/null || fail "cycle $i: remove-nic"
        wait_more 'SDVM-GUEST: hotplug remove net' "$r"
        heartbeat "hotplug: cycle $i of $cycles"
done
fds1=$(ls "/proc/$pid/fd" | wc -l) thr1=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")
rss1=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
echo "after $cycles cycles: fds $fds0 -> $fds1, threads $thr0 -> $thr1, RSS $rss0 -> $rss1 KiB"
((fds1 == fds0)) || fail "vmm's fds grew over the cycles: $fds0 -> $fds1"
((thr1 == thr0)) || fail "vmm's threads changed over the cycles: $thr0 -> $thr1"
((rss1 - rss0 < 16384)) || fail "vmm's RSS grew by more than 16 MiB over the cycles: $rss0 -> $rss1 KiB"
alive "the cycles"
"$VMCTL" stop "$name" || fail "vmctl stop $name"

echo "== 5. a guest that does not release: timeouts, a busy removal, the boot disk, --force"
boot=$dir/boot.img
head -c 1M /dev/zero >"$boot"
start_vm "$name2" hotplug "root=/dev/vda acpiphp.disable=1" "[Disk]
Path=$boot"
sock=/run/vms/$name2/control
wait_line 'SDVM-GUEST: hotplug watching'
expect_error "the boot disk without --force" DeviceProtected "$VMCTL" remove-disk "$name2" disk0
"$VMCTL" add-disk "$name2" "$img" >/dev/null || fail "add-disk to the guest without acpiphp"
t0=$SECONDS
"$VMCTL" remove-disk "$name2" disk1 >"$WORK/hp-remove.out" 2>&1 &
rm_pid=$!
waiting() {
        journalctl -u "vm@$name2" -o cat --no-pager >"$WORK/journal"
        grep -q 'Asking the guest to release disk disk1' "$WORK/journal"
}
wait_for 60 "vmm to ask the guest for disk1" waiting
expect_error "a second removal meanwhile" DeviceBusy "$VMCTL" remove-disk "$name2" disk1
if wait "$rm_pid"; then fail "remove-disk succeeded although the guest ignores ejects: $(cat "$WORK/hp-remove.out")"; fi
grep -q NotReleased "$WORK/hp-remove.out" || fail "the timed-out removal said: $(cat "$WORK/hp-remove.out")"
echo "the removal timed out after $((SECONDS - t0)) s: $(cat "$WORK/hp-remove.out")"
call Describe | jq -e '[.devices[].name] | index("disk1") != null' >/dev/null || fail "disk1 is gone after a timed-out removal"
holds "$name2" "$img" || fail "vmm no longer holds the image after a timed-out removal"
"$VMCTL" remove-disk --force "$name2" disk1 || fail "remove-disk --force"
! holds "$name2" "$img" || fail "vmm still holds the image after remove-disk --force"
"$VMCTL" remove-disk --force "$name2" disk0 || fail "remove-disk --force of the boot disk"
alive "the forced removals"
"$VMCTL" stop "$name2" || fail "vmctl stop $name2"
echo "OK"
