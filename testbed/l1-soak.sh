#!/bin/bash
# Entry run inside L1 by testbed/soak: the testbed tests SDVM_TESTS (L2 guest boots) again and again,
# back to back, until SDVM_SOAK_SECONDS have passed. meson's result lines go to L0, which counts them.
source /src/testbed/l1-prelude.sh
end=$((SECONDS + ${SDVM_SOAK_SECONDS:-3600})) round=0 rc=0
while ((SECONDS < end)); do
        round=$((round + 1))
        echo "SOAK: round $round at ${SECONDS}s"
        # shellcheck disable=SC2086
        meson test -C /src/build-testbed --no-rebuild --suite testbed --print-errorlogs $SDVM_TESTS | cat || rc=1
done
exit "$rc"
