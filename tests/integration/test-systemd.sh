#!/bin/bash
# vm@.service under real systemd: generator, Type=notify, journal, cgroup limits, console socket,
# machined, stop via the ACPI power button, and an invalid config that yields no unit.
source "$(dirname "$0")/lib.sh"
[[ $(cat /proc/1/comm) == systemd ]] || { echo "systemd is not PID 1: skipping"; exit 77; }
[[ -x /usr/lib/systemd/system-generators/sdvm-generator ]] || fail "sdvm-generator is not installed"

name=sdtest
initrd=/var/lib/sdvm-test/initramfs.cpio
mkdir -p /etc/vms /var/lib/sdvm-test
cp "$(initramfs)" "$initrd"
chmod 0644 "$initrd"
cleanup() {
        systemctl stop "vm@$name.service" 2>/dev/null || true
        rm -f /etc/vms/$name.conf /etc/vms/broken.conf /etc/vms/autostart.conf
        systemctl daemon-reload
}
trap cleanup EXIT

cat >/etc/vms/$name.conf <<EOC
[VM]
Description=sdvm test VM
CPUs=1
Memory=256M

[Boot]
Kernel=$GUEST_KERNEL
Initrd=$initrd
CommandLine=console=ttyS0 panic=-1 sdvm.action=service

[Resources]
CPUQuota=50%
TasksMax=64
IOWeight=200
EOC
cat >/etc/vms/autostart.conf <<EOC
[VM]
Autostart=yes
[Boot]
Kernel=$GUEST_KERNEL
EOC
cat >/etc/vms/broken.conf <<EOC
[VM]
Memory=12X
[Boot]
Kernel=$GUEST_KERNEL
EOC
since=$(date '+%Y-%m-%d %H:%M:%S')
systemctl daemon-reload

echo "== 1. generated units"
gen=/run/systemd/generator
cat "$gen/vm@$name.service.d/50-sdvm.conf"
grep -qx "SourcePath=/etc/vms/$name.conf" "$gen/vm@$name.service.d/50-sdvm.conf" || fail "no SourcePath="
grep -qx "CPUQuota=50%" "$gen/vm@$name.service.d/50-sdvm.conf" || fail "no CPUQuota="
[[ -L $gen/machines.target.wants/vm@autostart.service ]] || fail "Autostart=yes made no wants symlink"
[[ ! -e $gen/vm@broken.service.d ]] || fail "a unit was generated for the broken config"
journalctl --since "$since" --no-pager -o cat | grep -F "broken.conf:2: [VM] Memory=12X" ||
        fail "the journal has no line naming broken.conf's error"
# --man=no: L1 has no man(1) to look up Documentation= with; the pages are installed all the same.
verify=$(systemd-analyze verify --man=no "vm@$name.service" 2>&1) || { echo "$verify"; fail "systemd-analyze verify failed"; }
[[ -z $verify ]] || { echo "$verify"; fail "systemd-analyze verify is not clean"; }
echo "systemd-analyze verify vm@$name.service: clean"

echo "== 2. start: active only once the guest runs"
systemctl start "vm@$name.service" || { journalctl -u "vm@$name" --no-pager | tail -30; fail "start failed"; }
[[ $(systemctl show -P ActiveState "vm@$name.service") == active ]] || fail "not active after start"
systemctl show -P StatusText "vm@$name.service"
for _ in $(seq 120); do
        journalctl -u "vm@$name" --no-pager -o cat | grep -q 'SDVM-GUEST: shell on the console' && break
        sleep 0.5
done
journalctl -u "vm@$name" --no-pager -o cat | grep 'SDVM-GUEST: cpus=1' || fail "guest output is not in the unit's journal"
journalctl -u "vm@$name" --no-pager -o cat | grep -q 'SDVM-GUEST: shell on the console' || fail "guest never reached its shell"
# Structured fields: vmm's own lines and the guest's console lines both carry VM=NAME.
journalctl --no-pager -o cat "_SYSTEMD_UNIT=vm@$name.service" "VM=$name" SDVM_SOURCE=console | grep -q 'SDVM-GUEST: cpus=1' ||
        fail "guest console lines lack VM=/SDVM_SOURCE=console"
journalctl --no-pager -o cat "_SYSTEMD_UNIT=vm@$name.service" "VM=$name" SYSLOG_IDENTIFIER=vmm | grep -q "Starting VM '$name'" ||
        fail "vmm's own lines lack VM="

echo "== 3. cgroup limits"
cg=/sys/fs/cgroup$(systemctl show -P ControlGroup "vm@$name.service")
systemctl show -p MemoryMax -p CPUQuotaPerSecUSec -p TasksMax -p IOWeight "vm@$name.service"
echo "memory.max=$(cat $cg/memory.max) cpu.max=$(cat $cg/cpu.max) pids.max=$(cat $cg/pids.max)"
[[ $(cat $cg/cpu.max) == "50000 100000" ]] || fail "cpu.max is not 50%"
[[ $(cat $cg/pids.max) == 64 ]] || fail "pids.max is not 64"
mm=$(cat $cg/memory.max)
((mm > 256 << 20 && mm < 512 << 20)) || fail "memory.max $mm is not guest RAM plus a bounded overhead"

echo "== 4. console socket"
[[ -S /run/vms/$name/console ]] || fail "no console socket"
# The connection stays until the answer is in (120 s at most: the nest may be slow), not a fixed time.
rm -f "$WORK/console-reply.txt"
{
        sleep 1
        echo 'echo marker-$((6*7))'
        for _ in $(seq 240); do grep -aq '^marker-42' "$WORK/console-reply.txt" 2>/dev/null && break; sleep 0.5; done
} | timeout 150 socat - UNIX-CONNECT:/run/vms/$name/console >"$WORK/console-reply.txt" || true
reply=$(tr -d '\r' <"$WORK/console-reply.txt")
grep -q '^marker-42$' <<<"$reply" || { echo "$reply" | tail -20; fail "no answer from the guest shell on the console"; }
echo "console: the guest shell answered marker-42"

echo "== 5. machined"
machinectl list --no-pager
machinectl list --no-legend --no-pager | grep -E "^$name +vm " || fail "machinectl list does not show $name as class vm"

# wait_guest_shell N: until the unit's journal has the guest's shell line N times.
wait_guest_shell() {
        for _ in $(seq 240); do
                (($(journalctl -u "vm@$name" --no-pager -o cat | grep -c 'SDVM-GUEST: shell on the console') >= $1)) &&
                        return 0
                sleep 0.5
        done
        fail "the guest did not reach its shell (boot $1)"
}

wait_inactive() {
        for _ in $(seq 120); do
                [[ $(systemctl show -P ActiveState "vm@$name.service") == inactive ]] && return 0
                sleep 0.5
        done
}

echo "== 5b. machinectl reboot: SIGINT, vmm exits 10, systemd restarts the unit"
machinectl reboot "$name"
for _ in $(seq 120); do
        [[ $(systemctl show -P NRestarts "vm@$name.service") == 1 ]] && break
        sleep 0.5
done
systemctl show -p NRestarts -p ActiveState -p ExecMainStatus "vm@$name.service"
[[ $(systemctl show -P NRestarts "vm@$name.service") == 1 ]] || fail "the unit was not restarted"
wait_guest_shell 2
[[ $(systemctl show -P ActiveState "vm@$name.service") == active ]] || fail "not active after the restart"
machinectl list --no-legend --no-pager | grep -qE "^$name +vm " || fail "not registered with machined after the restart"

echo "== 6. stop: ACPI power button, clean power-off"
# The shell comes up beside the guest's power-button watcher: press only once the restarted guest's
# watcher listens, or the press can come before it and be lost.
for _ in $(seq 240); do
        (($(journalctl -u "vm@$name" --no-pager -o cat | grep -c 'powerbtn: watching') >= 2)) && break
        sleep 0.5
done
t0=$(date +%s)
systemctl stop "vm@$name.service"
echo "stopped in $(($(date +%s) - t0)) s"
# journald takes the last console lines from its socket on its own time: give it up to 2 minutes in a loaded nest.
journal_has() {
        for _ in $(seq 240); do
                journalctl -u "vm@$name" --no-pager -o cat | grep -q "$1" && return 0
                sleep 0.5
        done
        return 1
}
journal_has 'powerbtn: KEY_POWER pressed' || fail "the guest never saw the power button"
journal_has 'Guest powered off' || fail "the guest did not power off cleanly"
[[ $(systemctl show -P Result "vm@$name.service") == success ]] || fail "unit result is not success"

echo "== 7. machinectl poweroff: SIGRTMIN+4, power button, exit 0"
systemctl start "vm@$name.service"
wait_guest_shell 3
machinectl poweroff "$name"
wait_inactive
[[ $(systemctl show -P ActiveState "vm@$name.service") == inactive ]] || fail "still running after machinectl poweroff"
[[ $(systemctl show -P Result "vm@$name.service") == success ]] || fail "machinectl poweroff: result is not success"

echo "== 8. machinectl terminate: the unit stops"
systemctl start "vm@$name.service"
machinectl terminate "$name"
wait_inactive
[[ $(systemctl show -P ActiveState "vm@$name.service") == inactive ]] || fail "still running after machinectl terminate"
echo "OK"
