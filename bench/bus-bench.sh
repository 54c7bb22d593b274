#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ns per bus_dispatch() with and without the bus lock, for 1 thread and for as many as there are CPUs
# (contended: the vCPUs share the lock's cache line). Prints a JSON array.
#   bench/bus-bench.sh BUILD-DIR [DISPATCHES_PER_THREAD]
set -euo pipefail
build=${1:?usage: $0 BUILD-DIR [DISPATCHES_PER_THREAD]}
n=${2:-5000000}
cpus=$(nproc)
sep='['
for threads in $(printf '%s\n' 1 "$cpus" | sort -nu); do
        for exe in bus-bench-nolock bus-bench; do
                printf '%s%s' "$sep" "$("$build/bench/$exe" "$threads" "$n")"
                sep=$',\n '
        done
done
printf ']\n'
