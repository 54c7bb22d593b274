#!/bin/bash
# Entry run inside L1 by sdvm-testbed-runner: the testbed suite under real systemd and real KVM.
source /src/testbed/l1-prelude.sh
# Through a pipe so that meson prints plain lines, not a progress spinner, to the serial port.
# SDVM_TESTS: only those tests of the suite (names, split on blanks); empty: all of them.
# shellcheck disable=SC2086
meson test -C /src/build-testbed --no-rebuild --suite testbed --print-errorlogs ${SDVM_TESTS:-} | cat
