#!/bin/bash
# test-vmm-lifecycle.sh SCENARIO: how a VM ends (see vmm(8) for the exit statuses).
#   panic        guest panics (sysrq c): pvpanic -> exit 11
#   reboot       guest reboots: exit 10, which the unit turns into a restart
#   powerbutton  SIGTERM presses the ACPI power button; the guest's helper powers off -> exit 0
source "$(dirname "$0")/lib.sh"

case "$1" in
panic)
        run_vmm "$(write_config panic 1 256M panic)" 240
        show_output
        ((STATUS == 11)) || fail "status $STATUS, expected 11 (guest panic)"
        grep -aq 'Kernel panic' "$OUT" || fail "the guest did not panic?"
        grep -aq 'Guest kernel panicked (pvpanic)' "$OUT" || fail "vmm did not log the pvpanic event"
        ;;
reboot)
        run_vmm "$(write_config reboot 2 256M reboot)" 240
        show_output
        ((STATUS == 10)) || fail "status $STATUS, expected 10 (guest reboot)"
        ;;
powerbutton)
        conf=$(write_config powerbutton 2 512M powerbutton)
        out=$WORK/powerbutton.out
        "$VMM" --config="$conf" </dev/null >"$out" 2>&1 &
        pid=$!
        for _ in $(seq 240); do
                grep -aq 'powerbtn: watching' "$out" && break
                kill -0 $pid 2>/dev/null || break
                sleep 0.5
        done
        grep -aq 'powerbtn: watching' "$out" || { kill -9 $pid; OUT=$out show_output; fail "guest never got ready"; }
        kill -TERM $pid
        STATUS=0
        timeout 120 tail --pid=$pid -f /dev/null || { kill -9 $pid; fail "vmm did not exit after SIGTERM"; }
        wait $pid || STATUS=$?
        OUT=$out show_output
        ((STATUS == 0)) || fail "status $STATUS, expected 0 (clean power-off)"
        grep -aq 'pressing the ACPI power button' "$out" || fail "vmm did not press the button"
        grep -aq 'powerbtn: KEY_POWER pressed' "$out" || fail "the guest never saw KEY_POWER"
        ;;
*)
        fail "unknown scenario '$1'"
        ;;
esac
echo "OK: $1"
