#!/bin/bash
# io.sdvm.VM on a VM started by systemd, driven by varlinkctl (an independent client): introspection
# equals varlink/io.sdvm.VM.varlink and varlink/io.systemd.MachineInstance.varlink; Describe, Inspect,
# Pause/Resume with events; io.systemd.MachineInstance; ControlGroup= (a member may, others may not) and
# MonitorGroup= (a member may read, and is refused what changes the VM with a typed error);
# the guest's ticks stop while paused and come back (seen through vmctl console); vmctl events and
# console; bad input leaves the VM answering and ticking; Terminate stops the unit. One VM throughout.
source "$(dirname "$0")/lib.sh"
[[ $(cat /proc/1/comm) == systemd ]] || { echo "systemd is not PID 1: skipping"; exit 77; }
here=$(cd "$(dirname "$0")/../.." && pwd)

name=vltest
sock=/run/vms/$name/control
initrd=/var/lib/sdvm-test/initramfs.cpio
mkdir -p /etc/vms /var/lib/sdvm-test
cp "$(initramfs)" "$initrd"
chmod 0644 "$initrd"
bg=()
cleanup() {
        kill "${bg[@]}" 2>/dev/null || true
        systemctl stop "vm@$name.service" 2>/dev/null
        rm -f /etc/vms/$name.conf
        systemctl daemon-reload
        userdel sdvmop 2>/dev/null || true
        userdel sdvmother 2>/dev/null || true
        userdel sdvmmon 2>/dev/null || true
        groupdel sdvmops 2>/dev/null || true
        groupdel sdvmmons 2>/dev/null || true
}
trap cleanup EXIT
# A group granted the control socket, one granted its read-only calls, a member of each and of neither.
groupadd -f sdvmops
groupadd -f sdvmmons
id sdvmop >/dev/null 2>&1 || useradd -M -N -g nogroup -G sdvmops sdvmop
id sdvmmon >/dev/null 2>&1 || useradd -M -N -g nogroup -G sdvmmons sdvmmon
id sdvmother >/dev/null 2>&1 || useradd -M -N -g nogroup sdvmother
cat >/etc/vms/$name.conf <<EOC
[VM]
CPUs=2
Memory=256M
ControlGroup=sdvmops
MonitorGroup=sdvmmons
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

echo "== io.systemd.MachineInstance"
varlinkctl introspect "$sock" io.systemd.MachineInstance >"$WORK/introspect-mi.txt" || fail "introspect MachineInstance"
diff -u "$here/varlink/io.systemd.MachineInstance.varlink" "$WORK/introspect-mi.txt" ||
        fail "served interface differs from varlink/io.systemd.MachineInstance.varlink"
varlinkctl info "$sock" | tee "$WORK/info.txt"
grep -q io.sdvm.VM "$WORK/info.txt" && grep -q io.systemd.MachineInstance "$WORK/info.txt" ||
        fail "varlinkctl info does not list both interfaces"
mi() { varlinkctl call --json=short "$sock" "io.systemd.MachineInstance.$1" '{}'; }
[[ $(mi Describe) == '{"running":true,"status":"running"}' ]] || fail "MachineInstance.Describe: $(mi Describe)"
mi Pause >/dev/null || fail "MachineInstance.Pause"
[[ $(mi Describe) == '{"running":false,"status":"paused"}' ]] || fail "not paused after MachineInstance.Pause"
[[ $(call Describe | jq -r .state) == paused ]] || fail "io.sdvm.VM does not see the MachineInstance pause"
mi Resume >/dev/null || fail "MachineInstance.Resume"
[[ $(mi Describe) == '{"running":true,"status":"running"}' ]] || fail "not running after MachineInstance.Resume"

echo "== ControlGroup= and MonitorGroup=: a member of the first may call, of the second read, others nothing"
# Two groups: the socket can belong to one only, so it is 0666 and vmm checks every peer's groups.
stat -c '%a %G' "$sock"
[[ $(stat -c '%a' "$sock") == 666 ]] || fail "control socket granted to two groups is not 0666"
runuser -u sdvmop -- varlinkctl call "$sock" io.sdvm.VM.Describe '{}' >/dev/null || fail "a member was refused"
out=$(runuser -u sdvmother -- varlinkctl call "$sock" io.sdvm.VM.Describe '{}' 2>&1) && fail "a non-member got in"
echo "non-member: $out"
runuser -u sdvmmon -- varlinkctl call "$sock" io.sdvm.VM.Describe '{}' >/dev/null || fail "a monitor was refused Describe"
runuser -u sdvmmon -- varlinkctl call "$sock" io.sdvm.VM.Inspect '{"path":"vcpus/0"}' >/dev/null ||
        fail "a monitor was refused Inspect"
runuser -u sdvmmon -- varlinkctl call "$sock" io.systemd.MachineInstance.Describe '{}' >/dev/null ||
        fail "a monitor was refused MachineInstance.Describe"
for m in io.sdvm.VM.Pause io.sdvm.VM.PowerOff io.systemd.MachineInstance.Terminate; do
        out=$(runuser -u sdvmmon -- varlinkctl call "$sock" "$m" '{}' 2>&1) && fail "a monitor may call $m"
        grep -q 'org.varlink.service.PermissionDenied' <<<"$out" || fail "$m refused without PermissionDenied: $out"
done
echo "monitor: Describe, Inspect and MachineInstance.Describe answered; Pause, PowerOff, Terminate: PermissionDenied"
[[ $(call Describe | jq -r .state) == running ]] || fail "a refused call changed the VM"
for _ in $(seq 240); do
        journalctl -u "vm@$name" --no-pager -o cat | grep -q "Refused a control connection from UID $(id -u sdvmother)" &&
                break
        sleep 0.5
done
journalctl -u "vm@$name" --no-pager -o cat | grep -q "Refused a control connection from UID $(id -u sdvmother)" ||
        fail "vmm did not log the refused non-member"
runuser -u sdvmop -- "$VMCTL" describe "$name" || fail "vmctl describe as a member"

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

echo "== vmctl pause: no tick for 2 s; vmctl resume: ticks again; vmctl events sees both"
# The console through vmctl (stdin a FIFO this shell keeps open), one tick line every 100 ms.
rm -f "$WORK/console.in"
mkfifo "$WORK/console.in"
"$VMCTL" console "$name" <"$WORK/console.in" >"$WORK/console.txt" 2>"$WORK/console.err" &
bg+=($!)
exec 7>"$WORK/console.in"
"$VMCTL" events "$name" >"$WORK/vmctl-events.txt" &
evh=$!
"$VMCTL" --json events "$name" >"$WORK/vmctl-events.json" &
evj=$!
bg+=($evh $evj)
ticks() { grep -c 'SDVM-GUEST: tick' "$WORK/console.txt" || true; }
# still_ticks WHAT: the guest goes on ticking: 3 more ticks come (within 120 s, for a loaded nest).
still_ticks() {
        local a
        a=$(ticks)
        ticked() { (($(ticks) >= a + 3)); }
        wait_for 120 "3 more ticks after $1 (it had printed $a)" ticked
}
still_ticks "attaching vmctl console"
"$VMCTL" pause "$name" || fail "vmctl pause"
# What was on its way to the console when the vCPUs stopped still comes: wait until it has (no new
# tick for 1 s), then the paused guest must print nothing for 2 s.
a=-1
settled() { local n; n=$(ticks); ((n == a)) && return 0; a=$n; sleep 1; return 1; }
wait_for 60 "the console to settle after the pause" settled
a=$(ticks); sleep 2; b=$(ticks)
echo "paused: ticks $a -> $b in 2 s"
((a == b)) || fail "ticks arrived while paused"
"$VMCTL" resume "$name" || fail "vmctl resume"
still_ticks "vmctl resume"
cat "$WORK/vmctl-events.txt"
grep -qE " $name paused\$" "$WORK/vmctl-events.txt" || fail "vmctl events: no paused line"
[[ $(grep -oE '(paused|running)$' "$WORK/vmctl-events.txt" | tail -n2 | tr '\n' ' ') == "paused running " ]] ||
        fail "vmctl events: not paused then running"
jq -se '[.[] | .state] | .[-2:] == ["paused", "running"] and (.[0] | type) == "string"' \
        "$WORK/vmctl-events.json" >/dev/null || fail "vmctl --json events: $(cat "$WORK/vmctl-events.json")"
jq -se 'all(.[]; .timestampUSec > 0 and .event == "state")' "$WORK/vmctl-events.json" >/dev/null ||
        fail "vmctl --json events: no timestampUSec"
echo "== vmctl inspect: exit counts grow"
e1=$("$VMCTL" --json inspect "$name" vcpus | jq '[.tree[] | .exits.io] | add')
sleep 1
e2=$("$VMCTL" --json inspect "$name" vcpus | jq '[.tree[] | .exits.io] | add')
echo "vmctl inspect io exits: $e1 -> $e2"
((e2 > e1)) || fail "vmctl inspect: exit counts did not grow"

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
still_ticks "an unknown method"
out=$(call Inspect '{"path":42}' 2>&1) && fail "a wrong parameter type was accepted"
grep -q InvalidParameter <<<"$out" || fail "wrong type: $out"
still_ticks "a wrong parameter type"
printf '{"method":"io.sdvm.VM.Describe",' | timeout 5 socat - UNIX-CONNECT:$sock >/dev/null 2>&1 || true
still_ticks "malformed JSON"
head -c 1048576 /dev/urandom | timeout 10 socat -u - UNIX-CONNECT:$sock >/dev/null 2>&1 || true
still_ticks "1 MiB of garbage"
# A client that connects, subscribes and never reads, while the state changes under it.
{ printf '{"method":"io.sdvm.VM.SubscribeEvents","more":true}\0'; sleep 30; } 2>/dev/null |
        timeout 30 socat -u - UNIX-CONNECT:$sock >/dev/null 2>&1 &
bg+=($!)
for _ in 1 2 3; do call Pause >/dev/null; call Resume >/dev/null; done
still_ticks "a client that never reads"
conns=()
for _ in $(seq 100); do
        timeout 10 socat -u /dev/null UNIX-CONNECT:$sock 2>/dev/null &
        conns+=($!)
done
wait "${conns[@]}" 2>/dev/null || true
still_ticks "100 connections at once"
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

echo "== vmctl console on a terminal: Ctrl-] three times detaches, the terminal is restored"
{ sleep 2; printf '\035\035\035'; sleep 5; } | timeout 20 script -qec \
        "stty -a >$WORK/stty.before; $VMCTL console $name >$WORK/console-tty.txt; echo rc=\$? >$WORK/console-tty.rc; stty -a >$WORK/stty.after" \
        /dev/null >/dev/null || true
[[ $(cat "$WORK/console-tty.rc" 2>/dev/null) == rc=0 ]] || fail "vmctl console did not detach with Ctrl-] x3"
grep -q 'SDVM-GUEST: tick' "$WORK/console-tty.txt" || fail "vmctl console on a terminal showed no ticks"
diff "$WORK/stty.before" "$WORK/stty.after" || fail "vmctl console left the terminal changed"
echo "detached, terminal restored"

echo "== Terminate"
call Terminate || true
# vmctl events ends with the VM, status 0, its last line "stopped (terminate)".
timeout 20 tail --pid=$evh -f /dev/null || fail "vmctl events did not end when the VM stopped"
rc=0; wait $evh || rc=$?
((rc == 0)) || fail "vmctl events: exit status $rc when the VM stopped"
exec 7>&-
tail -n1 "$WORK/vmctl-events.txt" | grep -q "stopped (terminate)$" || fail "vmctl events: no stopped line"
for _ in $(seq 240); do
        [[ $(systemctl show -P ActiveState "vm@$name.service") == inactive ]] && break
        sleep 0.5
done
[[ $(systemctl show -P ActiveState "vm@$name.service") == inactive ]] || fail "still running after Terminate"
"$VMCTL" status "$name" | grep -qE "^$name +inactive +- " || fail "vmctl status after Terminate"
# Not running: status 3, and no socket activation behind vmctl's back.
for v in events console describe; do
        rc=0; "$VMCTL" "$v" "$name" </dev/null || rc=$?
        ((rc == 3)) || fail "vmctl $v on a stopped VM: exit status $rc, expected 3"
done
[[ $(systemctl show -P ActiveState "vm@$name.service") == inactive ]] || fail "vmctl started the VM"

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
