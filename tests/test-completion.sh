#!/bin/bash
# The vmctl bash completion offers commands first, then VM names from the config directory.
set -euo pipefail
source "$(dirname "$0")/../shell-completion/vmctl.bash"
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _vmctl; echo "${COMPREPLY[*]}"; }
[[ $(complete_words vmctl st) == "status start stop" ]] || { echo "FAIL: verbs: $(complete_words vmctl st)"; exit 1; }
[[ $(complete_words vmctl --json pa) == "pause" ]] || { echo "FAIL: verb after an option"; exit 1; }
[[ $(complete_words vmctl inspect web v) == "vcpus" ]] || { echo "FAIL: inspect paths"; exit 1; }
[[ $(complete_words vmctl e) == "events" && $(complete_words vmctl co) == "console" ]] || { echo "FAIL: events, console"; exit 1; }
[[ $(complete_words vmctl add-) == "add-disk add-nic" ]] || { echo "FAIL: add- verbs: $(complete_words vmctl add-)"; exit 1; }
echo OK
