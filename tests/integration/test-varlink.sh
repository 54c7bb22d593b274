#!/bin/bash
# io.sdvm.VM on a VM started by systemd, driven by varlinkctl (an independent client): introspection
# equals varlink/io.sdvm.VM.varlink; Describe, Inspect, Pause/Resume with events; bad input leaves
# the VM answering; Terminate stops the unit.
source "$(dirname "$0")/lib.sh"
[[ $(cat /proc/1/comm) == systemd ]] || { echo "systemd is not PID 1: skipping"; exit 77; }
here=$(cd "$(dirname "$0")/../.." && pwd)

name=vltest
sock=/run/vms/$name/control
initrd=/var/lib/sdvm-test/initramfs.cpio
mkdir -p /etc/vms /var/lib/sdvm-test
cp "$(initramfs)" "$initrd"
chmod 0644 "$initrd"
trap 'systemctl stop "vm@$name.service" 2>/dev/null; rm -f /etc/vms/$name.conf; systemctl daemon-reload' EXIT
cat >/etc/vms/$name.conf <<EOC
[VM]
CPUs=2
Memory=256M
[Boot]
Kernel=$GUEST_KERNEL
Initrd=$initrd
CommandLine=console=ttyS0 panic=-1 quiet sdvm.action=tick
EOC
systemctl daemon-reload
"$VMCTL" start "$name" || fail "vmctl start failed"
call() { varlinkctl call --json=short "$sock" "io.sdvm.VM.$1" "${2:-{\}}"; }
# The guest prints a tick every 100 ms, so its vCPUs keep exiting for port I/O while it runs.
io_exits() { call Inspect '{"path":"vcpus"}' | jq '[.tree[] | .exits.io] | add'; }

echo "== introspect"
varlinkctl introspect "$sock" io.sdvm.VM >"$WORK/introspect.txt" || fail "varlinkctl introspect failed"
diff -u "$here/varlink/io.sdvm.VM.varlink" "$WORK/introspect.txt" || fail "served interface differs from varlink/io.sdvm.VM.varlink"
echo "served interface == varlink/io.sdvm.VM.varlink"

echo "== Describe"
d=$(call Describe) || fail "Describe failed"
echo "$d"
[[ $(jq -r .name <<<"$d") == "$name" && $(jq -r .state <<<"$d") == running && $(jq -r .vcpus <<<"$d") == 2 ]] ||
        fail "Describe: unexpected answer"

for _ in $(seq 240); do
        journalctl -u "vm@$name" --no-pager -o cat | grep -q 'SDVM-GUEST: tick' && break
        sleep 0.5
done
journalctl -u "vm@$name" --no-pager -o cat | grep -q 'SDVM-GUEST: tick' || fail "the guest never started ticking"

echo "== Inspect: exit counts grow while running"
call Inspect '{"path":"vcpus/0"}'
a=$(io_exits); sleep 2; b=$(io_exits)
echo "io exits: $a -> $b"
((b > a)) || fail "exit counts did not grow"
err=$(call Inspect '{"path":"vcpus/9/nope"}' 2>&1) && fail "a bad path was accepted"
grep -q NoSuchPath <<<"$err" || fail "bad path: no io.sdvm.VM.NoSuchPath: $err"

echo "== Pause / Resume, with SubscribeEvents"
timeout 30 varlinkctl call --more --json=short "$sock" io.sdvm.VM.SubscribeEvents '{}' >"$WORK/events.txt" 2>&1 &
evpid=$!
sleep 1
call Pause
[[ $(call Describe | jq -r .state) == paused ]] || fail "not paused after Pause"
systemctl show -P StatusText "vm@$name.service"
call Pause || fail "Pause on a paused VM must succeed"
a=$(io_exits); sleep 2; b=$(io_exits)
echo "paused: io exits $a -> $b"
((a == b)) || fail "the guest ran while paused"
call Resume
[[ $(call Describe | jq -r .state) == running ]] || fail "not running after Resume"
sleep 2
c=$(io_exits)
((c > b)) || fail "the guest did not run again after Resume"
sleep 1
kill $evpid 2>/dev/null || true
cat "$WORK/events.txt"
grep -q '"state":"paused"' "$WORK/events.txt" && grep -q '"state":"running"' "$WORK/events.txt" ||
        fail "SubscribeEvents did not report paused and running"

echo "== bad input leaves the VM untouched"
out=$(call Nope 2>&1) && fail "an unknown method was accepted"
grep -q MethodNotFound <<<"$out" || fail "unknown method: $out"
out=$(call Inspect '{"path":42}' 2>&1) && fail "a wrong parameter type was accepted"
grep -q InvalidParameter <<<"$out" || fail "wrong type: $out"
printf '{"method":"io.sdvm.VM.Describe",' | timeout 5 socat - UNIX-CONNECT:$sock >/dev/null 2>&1 || true
head -c 1048576 /dev/urandom | timeout 10 socat -u - UNIX-CONNECT:$sock >/dev/null 2>&1 || true
for _ in $(seq 100); do socat -u /dev/null UNIX-CONNECT:$sock & done 2>/dev/null
wait 2>/dev/null || true
[[ $(call Describe | jq -r .state) == running ]] || fail "the VM stopped answering Describe after bad input"
a=$(io_exits); sleep 1; b=$(io_exits)
((b > a)) || fail "the guest stopped running after bad input"

echo "== vmctl"
"$VMCTL" list | tee /dev/stderr | grep -qE "^$name +active +running +2 +256M" || fail "vmctl list"
"$VMCTL" status "$name" | grep -qE "^$name +active +running" || fail "vmctl status"
"$VMCTL" --json list | jq -e ".[] | select(.name == \"$name\") | .vm.state == \"running\"" >/dev/null ||
        fail "vmctl --json list"
"$VMCTL" describe "$name" | tee /dev/stderr | grep -q "^$name: running, 2 vCPUs, 256M memory" || fail "vmctl describe"
"$VMCTL" --json inspect "$name" vcpus/1 | jq -e '.tree.exits.io >= 0' >/dev/null || fail "vmctl --json inspect"
"$VMCTL" pause "$name" && [[ $("$VMCTL" --json describe "$name" | jq -r .state) == paused ]] || fail "vmctl pause"
"$VMCTL" resume "$name" && [[ $("$VMCTL" --json describe "$name" | jq -r .state) == running ]] || fail "vmctl resume"
rc=0
msg=$("$VMCTL" describe nosuchvm 2>&1) || rc=$?
echo "$msg"
((rc == 3)) && grep -q "VM 'nosuchvm' is not running" <<<"$msg" || fail "vmctl on a VM that is not running: rc $rc"

echo "== Terminate"
call Terminate || true
for _ in $(seq 60); do
        [[ $(systemctl show -P ActiveState "vm@$name.service") == inactive ]] && break
        sleep 0.5
done
[[ $(systemctl show -P ActiveState "vm@$name.service") == inactive ]] || fail "still running after Terminate"
"$VMCTL" status "$name" | grep -qE "^$name +inactive +- " || fail "vmctl status after Terminate"

echo "== vmctl start, then vmctl stop: the job waits for the guest's clean power-off"
"$VMCTL" start "$name" || fail "vmctl start (again) failed"
for _ in $(seq 240); do
        (($(journalctl -u "vm@$name" --no-pager -o cat | grep -c 'powerbtn: watching') >= 2)) && break
        sleep 0.5
done
"$VMCTL" stop "$name" || fail "vmctl stop failed"
[[ $(systemctl show -P ActiveState "vm@$name.service") == inactive ]] || fail "vmctl stop returned before the unit stopped"
[[ $(systemctl show -P Result "vm@$name.service") == success ]] || fail "vmctl stop: result is not success"
echo OK
