#!/bin/bash
# test-vmm-console.sh: the console socket with a real guest, vmm run by hand. systemd-socket-activate
# passes the listening socket as "console", as vm-console@.socket does (it starts vmm on the first
# connection). Checks: output to a client, replay to a late attacher, input from the newest client, the
# read-only notice and the hand-back, a client that never reads not stalling the guest, the console
# bytes still on stdout, and a clean power-off. (Disconnecting a client that stopped reading needs
# ~0.5 MB of guest output; tests/test-console.c covers it.)
source "$(dirname "$0")/lib.sh"
if ! command -v systemd-socket-activate >/dev/null || ! command -v socat >/dev/null; then
        echo "no systemd-socket-activate or socat: skipping"
        exit 77
fi

conf=$(write_config console 1 256M service)
sock=$WORK/console.sock
out=$WORK/console.out
rm -f "$sock" "$WORK"/console.c1* "$WORK"/console.c3*
systemd-socket-activate -l "$sock" --fdname=console -- "$VMM" --config="$conf" </dev/null >"$out" 2>&1 &
pid=$!
c1='' c3=''
cleanup() {
        kill -9 $pid $c1 $c3 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 600); do [[ -S $sock ]] && break; sleep 0.1; done
# The clients' input comes from FIFOs that this script holds open: they never send anything, and
# never see the end of their input either.
mkfifo "$WORK/console.c1.in" "$WORK/console.c3.in"

# Client 1 attaches first (its connection starts vmm): it reads everything and types nothing.
socat - UNIX-CONNECT:"$sock" <"$WORK/console.c1.in" >"$WORK/console.c1" &
c1=$!
exec 7>"$WORK/console.c1.in"
for _ in $(seq 240); do
        grep -aq 'SDVM-GUEST: shell on the console' "$WORK/console.c1" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.5
done
grep -aq 'SDVM-GUEST: shell on the console' "$WORK/console.c1" ||
        { OUT=$out show_output; fail "client 1 never saw the guest's shell"; }

# Client 3 attaches and never reads (socat -u only sends, and sends nothing).
socat -u - UNIX-CONNECT:"$sock" <"$WORK/console.c3.in" &
c3=$!
exec 8>"$WORK/console.c3.in"
sleep 1

# Client 2 attaches late: it is sent the output so far, has the input, and the guest answers, also
# with a few thousand lines while client 3 reads none of them. It stays until the last line came (or
# 200 s): how fast the guest prints depends on the host's load, not on the console.
c2=$WORK/console.c2
rm -f "$c2"
(sleep 1
 # shellcheck disable=SC2016 # expanded by the guest's shell
 echo 'echo marker-$((6*7)); i=0; while [ $i -lt 3000 ]; do echo filler-line-$i; i=$((i+1)); done; echo done-$((6*7))'
 for _ in $(seq 400); do grep -aq '^done-42' "$c2" 2>/dev/null && break; sleep 0.5; done
 sleep 1) | timeout 220 socat - UNIX-CONNECT:"$sock" >"$c2"
reply=$(tr -d '\r' <"$c2")
grep -q 'SDVM-GUEST: shell on the console' <<<"$reply" || { tail -20 <<<"$reply"; fail "no replay for a late client"; }
grep -q '^marker-42$' <<<"$reply" || { tail -20 <<<"$reply"; fail "client 2's input got no answer"; }
grep -q '^done-42$' <<<"$reply" || { tail -20 <<<"$reply"; fail "the guest's output stalled"; }
echo "late client: replay, input and answer OK"

# Client 2 left: client 3 has the input. Once client 3 leaves too, client 1 gets it back.
kill $c3
exec 8>&-
sleep 2
tr -d '\r' <"$WORK/console.c1" >"$WORK/console.c1.txt"
grep -q 'has its input now; this one is read-only' "$WORK/console.c1.txt" || fail "client 1 was not told it is read-only"
grep -q '^marker-42$' "$WORK/console.c1.txt" || fail "client 1 did not see the output"
grep -q '^done-42$' "$WORK/console.c1.txt" || fail "client 1 did not see all the output"
grep -aq 'Console client 1 has the input again' "$out" || fail "client 1 did not get the input back"
grep -q 'this client has the console input again' "$WORK/console.c1.txt" || fail "client 1 was not told it has the input"
grep -aq 'marker-42' "$out" || fail "the console is not on stdout any more"

kill $c1
exec 7>&-
kill -TERM $pid
STATUS=0
timeout 120 tail --pid=$pid -f /dev/null || fail "vmm did not exit after SIGTERM"
wait $pid || STATUS=$?
OUT=$out show_output
((STATUS == 0)) || fail "status $STATUS, expected 0 (clean power-off)"
echo "OK: console"
