#!/bin/bash
# Repeated suspend cycles under vm@.service, with the busybox guest whose counter sleeps 100 ms on a
# timer between lines (2 vCPUs): SDVM_CYCLES times (30 by default), as fast as the host allows,
# pause, save into the state directory, kill -9 vmm, start (which resumes the state). Each time the
# guest must count on within 120 s with the same boot id (never stuck), and at the end it must not
# have logged a soft lockup, an RCU stall or a clock that went backwards (its uptime only grows).
source "$(dirname "$0")/lib.sh"
[[ $(cat /proc/1/comm) == systemd ]] || { echo "systemd is not PID 1: skipping"; exit 77; }

name=cycles
unit=vm@$name.service
conf=/etc/vms/$name.conf
state=/var/lib/vms/$name/suspend.vmstate
initrd=/var/lib/sdvm-test/initramfs.cpio
cycles=${SDVM_CYCLES:-30}
mkdir -p /etc/vms /var/lib/sdvm-test
cp "$(initramfs)" "$initrd"
chmod 0644 "$initrd"
cleanup() {
        systemctl stop "$unit" 2>/dev/null
        systemctl reset-failed "$unit" 2>/dev/null
        rm -f "$conf" "$state"
        systemctl daemon-reload
}
trap cleanup EXIT
cat >"$conf" <<EOC
[VM]
CPUs=2
Memory=256M
[Boot]
Kernel=$GUEST_KERNEL
Initrd=$initrd
CommandLine=console=ttyS0 panic=-1 quiet sdvm.action=counter
EOC
systemctl daemon-reload

since() { journalctl -u "$unit" -o cat --since "@$1" --no-pager 2>/dev/null; }
show() { echo "-- the unit's log since $(date -d "@$1" +%T):"; since "$1" | tail -n 25; }
last_count() {
        local t0=$1 after=${3:-0} line n deadline=$((SECONDS + $2))
        while ((SECONDS < deadline)); do
                line=$(since "$t0" | grep 'SDVM-GUEST: count ' | tail -n1)
                n=$(sed -n 's/.*count \([0-9]*\).*/\1/p' <<<"$line")
                [[ -n $n ]] && ((n > after)) && { echo "$line"; return 0; }
                sleep 0.2
        done
        return 1
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
count_of() { sed -n 's/.*count \([0-9]*\).*/\1/p' <<<"$1"; }
# What a stuck guest is doing: its vCPUs' exits and the devices, twice, 3 s apart (halted with no
# timer interrupt, spinning, or a console that stopped taking bytes), and the console's last bytes,
# partial line included.
stuck() {
        { "$VMCTL" --json inspect "$name" | head -c 6000; echo; } || true
        sleep 3
        { "$VMCTL" --json inspect "$name" | head -c 6000; echo; } || true
        echo "-- the console's last bytes:"
        { timeout 2 socat -u "UNIX-CONNECT:/run/vms/$name/console" - 2>/dev/null | tail -c 600 | od -c | tail -n 12; } ||
                true
}

t0=$(date +%s)
systemctl start "$unit" || { show "$t0"; fail "start failed"; }
line=$(last_count "$t0" 120 10) || { show "$t0"; fail "the guest never counted"; }
boot=$(field "$line" boot)
n=$(count_of "$line")
up=$(field "$line" up)
echo "counting: $line"

start=$SECONDS
for i in $(seq "$cycles"); do
        c0=$SECONDS
        "$VMCTL" pause "$name" || fail "cycle $i: pause failed"
        "$VMCTL" save "$name" >/dev/null || { show "$t0"; fail "cycle $i: save failed"; }
        pid=$(systemctl show -P MainPID "$unit")
        kill -9 "$pid"
        for _ in $(seq 600); do [[ $(systemctl is-active "$unit") != active ]] && break; sleep 0.1; done
        [[ -s $state ]] || fail "cycle $i: no state after the save"
        systemctl reset-failed "$unit" 2>/dev/null || true
        t=$(date +%s)
        timeout 300 systemctl start "$unit" || { show "$t"; fail "cycle $i: start (resume) failed or hung"; }
        line=$(last_count "$t" 120 "$n") || { show "$t"; stuck; fail "cycle $i: the guest is stuck (no count past $n in 120 s)"; }
        [[ $(field "$line" boot) == "$boot" ]] || fail "cycle $i: the guest rebooted"
        awk -v a="$(field "$line" up)" -v b="$up" 'BEGIN { exit !(a >= b) }' ||
                fail "cycle $i: the guest's uptime went backwards ($up to $(field "$line" up))"
        [[ ! -e $state ]] || fail "cycle $i: the state was not consumed"
        n=$(count_of "$line")
        up=$(field "$line" up)
        echo "cycle $i: $((SECONDS - c0)) s, count $n, up $up"
        heartbeat "restore-cycles: cycle $i of $cycles, $((SECONDS - c0)) s"
done
echo "$cycles cycles in $((SECONDS - start)) s"
if since "$t0" | grep -E 'soft lockup|rcu_sched self-detected stall|rcu: INFO|clocksource.*unstable'; then
        fail "the guest logged a lockup, a stall or an unstable clock"
fi
echo "OK"
