#!/bin/bash
# Entry run inside L1 by sdvm-testbed-runner: the testbed suite under real systemd and real KVM.
source /src/testbed/l1-prelude.sh
# Through a pipe so that meson prints plain lines, not a progress spinner, to the serial port.
# SDVM_TESTS: only those tests of the suite (names, split on blanks); empty: all of them.
# shellcheck disable=SC2086
meson test -C /src/build-testbed --no-rebuild --suite testbed --print-errorlogs ${SDVM_TESTS:-} | cat
rc=$?
# What vmm's seccomp filters stopped (or, with --seccomp=log, let through), as the kernel logged it
# (audit type 1326): each thread name and system call number once, with a count, then the last lines.
seccomp=$(dmesg | grep -F 'type=1326' || true)
if [[ -n $seccomp ]]; then
        sed -n 's/.*comm="\([^"]*\)".* syscall=\([0-9]*\) .*/\1 syscall=\2/p' <<<"$seccomp" | sort | uniq -c | sed 's/^/seccomp: /'
        tail -n 5 <<<"$seccomp" | sed 's/^/seccomp: /'
fi
exit "$rc"
