#!/bin/bash
# vmctl validate prints exactly the errors sdvm-generator logs for a config (without its prefix),
# exits 1 for a bad file and 0 for good ones, and --json says the same.
set -euo pipefail
: "${VMCTL:?}"
here=$(cd "$(dirname "$0")" && pwd)
cfg=$here/generator/configs
source "$(dirname "$0")/harness.sh"

rc=0
out=$("$VMCTL" validate "$cfg/broken.conf" 2>&1) || rc=$?
echo "$out"
((rc == 1)) || fail "exit status $rc for broken.conf, expected 1"
want=$(grep -F '@CONFIG_DIR@/broken.conf:' "$here/generator/expected.stderr" | grep -v 'skipped, no unit' | sed "s|^sdvm-generator: ||; s|@CONFIG_DIR@|$cfg|")
[[ $out == "$want" ]] || { diff <(echo "$want") <(echo "$out"); fail "vmctl validate and sdvm-generator disagree"; }

out=$("$VMCTL" validate "$cfg/web.conf" "$cfg/db.conf") || fail "valid files were refused"
echo "$out"
grep -q "web.conf: valid: VM 'web', 2 vCPUs, 1G memory" <<<"$out" || fail "no summary for web.conf"

rc=0
json=$("$VMCTL" --json validate "$cfg/web.conf" "$cfg/broken.conf" 2>/dev/null) || rc=$?
echo "$json"
((rc == 1)) || fail "--json: exit status $rc, expected 1"
grep -q '"file":"[^"]*web.conf","valid":true,"name":"web","cpus":2' <<<"$json" || fail "--json: web.conf"
grep -q '"file":"[^"]*broken.conf","valid":false' <<<"$json" || fail "--json: broken.conf"
# Each error as an object: file, line, section, key, message; the same errors as on stderr.
broken=$(grep 'broken.conf' <<<"$json")
jq -e '.errors | length == 3' <<<"$broken" >/dev/null || fail "--json: broken.conf should carry 3 errors: $broken"
jq -e '.errors[0] | .line == 3 and .section == "VM" and .key == "Memory" and (.message | startswith("Memory=12X: invalid size")) and (.file | endswith("broken.conf"))' \
        <<<"$broken" >/dev/null || fail "--json: the first error of broken.conf: $broken"
jq -e '.errors[2] | .key == "IOWieght" and .section == "Resources" and .line == 11' <<<"$broken" >/dev/null ||
        fail "--json: the unknown key of broken.conf: $broken"

rc=0
"$VMCTL" frobnicate 2>/dev/null || rc=$?
((rc == 2)) || fail "unknown command: exit $rc, expected 2"
"$VMCTL" --help | grep -q validate || fail "--help does not mention validate"
echo "OK"
