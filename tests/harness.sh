# shellcheck shell=bash
# The shell tests' harness, sourced by every test script (unit and testbed): how a test fails, how it
# waits, how it says that it is alive. Checked by tests/test-harness.sh.
#
# Rules it keeps:
# - A failure's message goes to stderr, so that it reaches meson's log also from inside $(...) (where
#   stdout is the variable) and from a wait whose stdout is discarded. Under set -e the subshell's
#   status ends the test too (an assignment takes its command substitution's status).
# - A wait waits for an event, with a limit, and on timeout says what it waited for. Limits are for
#   hangs, not for speed: the nest runs 1.5-3x slower under load.

# fail MESSAGE: the test fails with MESSAGE.
fail() {
        echo "FAIL: $*" >&2
        exit 1
}

# heartbeat MESSAGE: in L1, a line on its progress port (ttyS1), so that L0's stall watchdog does not
# take a long test for a hang of the nest; meson prints nothing until a test ends. Elsewhere nothing.
heartbeat() {
        [[ -f /src/.l1-entry && -w /dev/ttyS1 ]] && echo "  ($*)" >/dev/ttyS1 2>/dev/null || true
}

# wait_for LIMIT WHAT CMD...: runs CMD every 0.2 s until it succeeds; fails after LIMIT seconds with
# "no WHAT within LIMIT s". A heartbeat every minute. CMD's output is its own.
wait_for() {
        local limit=$1 what=$2 end beat
        shift 2
        end=$((SECONDS + limit)) beat=$((SECONDS + 60))
        until "$@"; do
                ((SECONDS < end)) || fail "no $what within $limit s"
                if ((SECONDS > beat)); then
                        heartbeat "waiting for $what"
                        beat=$((SECONDS + 60))
                fi
                sleep 0.2
        done
}
