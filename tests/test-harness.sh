#!/bin/bash
# The shell tests' harness (tests/harness.sh) fails loudly from wherever a test calls it: a failure's
# message reaches stderr from inside $(...) and from a wait whose output is discarded, and the test
# ends with a non-zero status; a wait that times out says what it waited for.
set -euo pipefail
HARNESS=$(cd "$(dirname "$0")" && pwd)/harness.sh
source "$HARNESS"

# run_case SCRIPT: runs SCRIPT in a fresh bash with the harness sourced, as a test would; sets RC, OUT
# (stdout) and ERR (stderr).
run_case() {
        local o e
        o=$(mktemp) e=$(mktemp)
        RC=0
        bash -c "set -euo pipefail; source '$HARNESS'; $1" >"$o" 2>"$e" || RC=$?
        OUT=$(cat "$o") ERR=$(cat "$e")
        rm -f "$o" "$e"
}

# expect_failure NAME SCRIPT MESSAGE: SCRIPT must exit non-zero, print MESSAGE on stderr and never reach
# the line after the failing call.
expect_failure() {
        run_case "$2"
        ((RC != 0)) || fail "$1: the test went on (status 0)"
        grep -qF -- "FAIL: $3" <<<"$ERR" || fail "$1: no 'FAIL: $3' on stderr (stderr: '$ERR', stdout: '$OUT')"
        ! grep -q 'went on' <<<"$OUT$ERR" || fail "$1: the test went on after the failure"
        echo "ok: $1"
}

expect_failure "fail in the test" 'fail "plain"; echo went on' "plain"
expect_failure "fail inside \$(...)" 'x=$(echo partial; fail "in a substitution"); echo went on' "in a substitution"
expect_failure "fail in a function inside \$(...)" \
        'f() { echo ignored; fail "from a function"; }; y=$(f); echo went on' "from a function"
expect_failure "wait_for timing out inside \$(...)" \
        'z=$(wait_for 1 "the impossible event" false); echo went on' "no the impossible event within 1 s"
expect_failure "wait_for timing out, output discarded" \
        'wait_for 1 "a discarded wait" false >/dev/null; echo went on' "no a discarded wait within 1 s"

# A wait that sees its event returns at once and lets the test go on.
run_case 'touch_after() { [[ -e $1 ]]; }; f=$(mktemp -u); (sleep 0.5; touch "$f") & wait_for 30 "the file" touch_after "$f"; rm -f "$f"; echo went on'
((RC == 0)) && [[ $OUT == "went on" ]] || fail "wait_for did not return once its event came (status $RC, stderr '$ERR')"
echo "ok: wait_for returns on its event"

# heartbeat is silent outside L1.
run_case 'heartbeat "alive"; echo went on'
[[ $RC == 0 && $OUT == "went on" && -z $ERR ]] || fail "heartbeat outside L1 printed or failed: '$OUT' '$ERR'"
echo "ok: heartbeat outside L1"
