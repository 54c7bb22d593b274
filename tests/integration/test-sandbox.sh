#!/bin/bash
# vmm's seccomp filters (sandbox.c). By hand and under vm@.service every thread of vmm is confined, the
# vCPU and I/O threads by their own filter (not stacked on the main thread's). With the test-only
# trigger (-Dtest-hooks=true): a device I/O thread's and then a vCPU thread's forbidden call kills
# vmm with SIGSYS; systemd records it (status=31/SYS, Result=signal) and the kernel logs the call;
# without Restart= the unit stays failed, with Restart=on-failure the VM comes back.
source "$(dirname "$0")/lib.sh"
[[ $(cat /proc/1/comm) == systemd ]] || { echo "systemd is not PID 1: skipping"; exit 77; }
[[ -x /usr/lib/systemd/system-generators/sdvm-generator ]] || fail "sdvm-generator is not installed"

name=sbxtest
unit=vm@$name.service
initrd=/var/lib/sdvm-test/initramfs-sbx.cpio
dropin=/run/systemd/system/$unit.d
mkdir -p /etc/vms /var/lib/sdvm-test
cp "$(initramfs)" "$initrd"
chmod 0644 "$initrd"
hand_pid=
cleanup() {
        [[ -z $hand_pid ]] || kill -KILL "$hand_pid" 2>/dev/null || true
        systemctl stop "$unit" 2>/dev/null || true
        systemctl reset-failed "$unit" 2>/dev/null || true
        rm -rf "/etc/vms/$name.conf" "$dropin"
        systemctl daemon-reload
}
trap cleanup EXIT

cat >/etc/vms/$name.conf <<EOC
[VM]
CPUs=2
Memory=256M

[Boot]
Kernel=$GUEST_KERNEL
Initrd=$initrd
CommandLine=console=ttyS0 panic=-1 sdvm.action=service
EOC
systemctl daemon-reload

# threads PID: "NAME Seccomp=MODE filters=N" for each thread of PID.
threads() {
        local t
        for t in /proc/"$1"/task/*; do
                echo "$(cat "$t/comm") Seccomp=$(awk '/^Seccomp:/ {print $2}' "$t/status")" \
                        "filters=$(awk '/^Seccomp_filters:/ {print $2}' "$t/status")"
        done
}

# check_threads PID: every thread in seccomp filter mode, all with the same number of filters (a thread
# started after the main thread confined itself would carry one more), vCPUs and I/O threads present.
check_threads() {
        local list n
        list=$(threads "$1")
        echo "$list"
        grep -v ' Seccomp=2 ' <<<"$list" && fail "a thread of vmm is not in seccomp filter mode"
        n=$(awk '{print $3}' <<<"$list" | sort -u | wc -l)
        ((n == 1)) || fail "vmm's threads do not all carry the same number of filters"
        grep -q '^vcpu1 ' <<<"$list" || fail "no thread vcpu1"
        grep -q '^io-rng0 ' <<<"$list" || fail "no thread io-rng0"
}

# journal_since SINCE: the unit's journal and systemd's lines about it since then.
journal_since() { journalctl -u "$unit" --since "$1" --no-pager -o cat; }

# wait_shell SINCE: until the guest's shell line appears in the journal since then.
wait_shell() {
        for _ in $(seq 300); do
                journal_since "$1" | grep -q 'SDVM-GUEST: shell on the console' && return 0
                sleep 0.5
        done
        journal_since "$1" | tail -30
        fail "the guest did not reach its shell"
}

echo "== 1. by hand: every thread confined, one filter each"
conf=$(write_config sbxhand 2 256M service)
"$VMM" --config="$conf" </dev/null >"$WORK/sbxhand.out" 2>&1 &
hand_pid=$!
for _ in $(seq 240); do
        grep -q 'SDVM-GUEST: shell on the console' "$WORK/sbxhand.out" && break
        sleep 0.5
done
grep -q 'SDVM-GUEST: shell on the console' "$WORK/sbxhand.out" || { tail -20 "$WORK/sbxhand.out"; fail "no shell by hand"; }
check_threads "$hand_pid"
# One filter more than this shell has (whatever the test runner's unit gave it).
(($(awk '/^Seccomp_filters:/ {print $2}' /proc/$hand_pid/status) == $(awk '/^Seccomp_filters:/ {print $2}' /proc/$$/status) + 1)) ||
        fail "vmm run by hand does not carry exactly one filter of its own"
kill -TERM "$hand_pid" # the power button; the guest's powerbtn powers off
wait "$hand_pid" && status=0 || status=$?
hand_pid=
((status == 0)) || { tail -20 "$WORK/sbxhand.out"; fail "vmm by hand exited with $status after the power button"; }

echo "== 2. under $unit: every thread confined on top of the unit's own filters"
since=$(date '+%Y-%m-%d %H:%M:%S')
systemctl start "$unit" || fail "start failed"
wait_shell "$since"
check_threads "$(systemctl show -P MainPID "$unit")"
systemctl stop "$unit"
[[ $(systemctl show -P Result "$unit") == success ]] || fail "the stop was not clean"

if [[ ${TEST_HOOKS:-false} != true ]]; then
        echo "vmm built without -Dtest-hooks=true: the forbidden-call scenarios are skipped"
        exit 0
fi
state=/var/lib/vms/$name
[[ -d $state ]] || fail "no state directory $state"

echo "== 3a. by hand with --seccomp=log: the forbidden call goes through, vmm runs on"
audit_before=$(dmesg | grep -F 'type=1326' | grep -c ' syscall=41 ' || true)
conf=$(write_config sbxlog 1 256M poweroff)
STATUS=0
SDVM_TEST_TRIGGER=device timeout -k 5 120 "$VMM" --config="$conf" --seccomp=log </dev/null >"$WORK/sbxlog.out" 2>&1 ||
        STATUS=$?
grep -E 'Test trigger|seccomp' "$WORK/sbxlog.out" || true
((STATUS == 0)) || { tail -20 "$WORK/sbxlog.out"; fail "vmm --seccomp=log exited with $STATUS"; }
grep -q 'Test trigger: socket(AF_INET) on a device I/O thread returned' "$WORK/sbxlog.out" ||
        fail "the device thread's call did not return under --seccomp=log"
audit_after=$(dmesg | grep -F 'type=1326' | grep -c ' syscall=41 ' || true)
echo "kernel audit lines for socket() in log mode: $((audit_after - audit_before))"

# expect_sigsys SINCE COMM SYSCALL: systemd and the kernel both recorded the kill.
expect_sigsys() {
        local since=$1 comm=$2 nr=$3
        for _ in $(seq 240); do
                journal_since "$since" | grep -q 'code=killed, status=31/SYS' && break
                sleep 0.5
        done
        journal_since "$since" | grep -E 'Test trigger|status=31/SYS|Failed with result|Scheduled restart' || true
        journal_since "$since" | grep -q 'code=killed, status=31/SYS' || fail "systemd did not record a SIGSYS"
        journal_since "$since" | grep -q "Failed with result 'signal'" || fail "systemd did not record Result=signal"
        dmesg | grep -F 'type=1326' | grep -F "comm=\"$comm" | grep -q " syscall=$nr " ||
                fail "the kernel logged no seccomp kill of $comm for system call $nr"
        dmesg | grep -F 'type=1326' | grep -F "comm=\"$comm" | tail -n 1
        [[ ! -e $state/test-trigger ]] || fail "the trigger file is still there"
}

echo "== 3. a device I/O thread calls socket(AF_INET); no Restart=: the unit stays failed"
echo device >"$state/test-trigger"
chmod 0644 "$state/test-trigger"
since=$(date '+%Y-%m-%d %H:%M:%S')
systemctl start "$unit" || true # READY=1 may come before the guest's first request to the device
for _ in $(seq 240); do
        [[ $(systemctl show -P ActiveState "$unit") == failed ]] && break
        sleep 0.5
done
systemctl show -p ActiveState -p Result -p ExecMainCode -p ExecMainStatus -p NRestarts "$unit"
[[ $(systemctl show -P ActiveState "$unit") == failed ]] || fail "the unit did not fail"
[[ $(systemctl show -P Result "$unit") == signal ]] || fail "Result is not signal"
[[ $(systemctl show -P ExecMainStatus "$unit") == 31 ]] || fail "the main process did not die of SIGSYS (31)"
expect_sigsys "$since" io- 41
systemctl reset-failed "$unit"

echo "== 4. a vCPU thread calls execve(); Restart=on-failure: the VM comes back"
mkdir -p "$dropin"
printf '[Service]\nRestart=on-failure\nRestartSec=1\n' >"$dropin/50-test-restart.conf"
systemctl daemon-reload
echo vcpu >"$state/test-trigger"
chmod 0644 "$state/test-trigger"
since=$(date '+%Y-%m-%d %H:%M:%S')
systemctl start "$unit" || true
for _ in $(seq 240); do
        (($(systemctl show -P NRestarts "$unit") >= 1)) && break
        sleep 0.5
done
expect_sigsys "$since" vcpu 59
wait_shell "$since"
systemctl show -p ActiveState -p Result -p NRestarts -p MainPID "$unit"
[[ $(systemctl show -P NRestarts "$unit") == 1 ]] || fail "the unit was not restarted exactly once"
[[ $(systemctl show -P ActiveState "$unit") == active ]] || fail "not active after the restart"
check_threads "$(systemctl show -P MainPID "$unit")"
systemctl stop "$unit"
[[ $(systemctl show -P Result "$unit") == success ]] || fail "the stop after the restart was not clean"
echo "PASS"
