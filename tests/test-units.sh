#!/bin/bash
# vm@.service, vm-console@.socket and vm-control@.socket as installed, with the drop-in sdvm-generator
# writes for a config:
# "systemd-analyze verify" must have nothing to say, and "systemd-analyze security" must rate the
# sandbox at most 1.5 (it prints the score). Offline, in a scratch root: no systemd as PID 1 needed.
# Needs GENERATOR, UNITS (the build's configured units), UNIT_DIR, LIBEXECDIR and VMM from meson.
set -euo pipefail

: "${GENERATOR:?}" "${UNITS:?}" "${UNIT_DIR:?}" "${LIBEXECDIR:?}" "${VMM:?}"
DATA=$(cd "$(dirname "$0")/generator" && pwd)
unset SYSTEMD_SCOPE

command -v systemd-analyze >/dev/null || { echo "no systemd-analyze: skipping"; exit 77; }
version=$(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
((version >= 257)) || { echo "systemd-analyze $version, need 257: skipping"; exit 77; }
[[ -f /usr/lib/systemd/system/sysinit.target ]] || { echo "no systemd units in /usr/lib: skipping"; exit 77; }

source "$(dirname "$0")/harness.sh"

# The scratch root: systemd's own units (sysinit.target, machines.target, machine.slice, ...), ours
# where meson installs them, and the programs they run (verify checks that they are executable; the
# machined helper is a stand-in when it is not built beside vmm).
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/usr/lib/systemd" "$ROOT$UNIT_DIR" "$ROOT$LIBEXECDIR" "$ROOT/etc/vms" "$ROOT/gen"
cp -a /usr/lib/systemd/system "$ROOT/usr/lib/systemd/"
cp "$UNITS/vm@.service" "$UNITS/vm-console@.socket" "$UNITS/vm-control@.socket" "$ROOT$UNIT_DIR/"
cp "$VMM" "$ROOT$LIBEXECDIR/vmm"
if [[ -x ${MACHINE_REGISTER:-} ]]; then
        cp "$MACHINE_REGISTER" "$ROOT$LIBEXECDIR/sdvm-machine-register"
else
        printf '#!/bin/sh\n' >"$ROOT$LIBEXECDIR/sdvm-machine-register"
        chmod 0755 "$ROOT$LIBEXECDIR/sdvm-machine-register"
fi

# The generator's output for a config with [Resources], where systemd reads generated units from.
cp "$DATA/configs/web.conf" "$ROOT/etc/vms/test.conf"
SDVM_CONFIG_DIR=$ROOT/etc/vms "$GENERATOR" "$ROOT/gen"
[[ -f $ROOT/gen/vm@test.service.d/50-sdvm.conf ]] || fail "the generator wrote no drop-in"
export SYSTEMD_UNIT_PATH=/gen:$UNIT_DIR: # inside ROOT; the trailing ':' adds the default paths

out=$(systemd-analyze verify --man=no --root="$ROOT" vm@test.service vm-console@test.socket \
        vm-control@test.socket 2>&1) ||
        fail "systemd-analyze verify failed: $out"
[[ -z $out ]] || fail "systemd-analyze verify complained:"$'\n'"$out"
echo "ok: systemd-analyze verify vm@test.service vm-console@test.socket vm-control@test.socket: clean"

# Proof that the drop-in is read: a bad line in it must be reported.
echo "NoSuchSetting=1" >>"$ROOT/gen/vm@test.service.d/50-sdvm.conf"
out=$(systemd-analyze verify --man=no --root="$ROOT" vm@test.service 2>&1) || true
grep -q "50-sdvm.conf:.*NoSuchSetting" <<<"$out" || fail "a bad drop-in went unnoticed: $out"
sed -i '/^NoSuchSetting=/d' "$ROOT/gen/vm@test.service.d/50-sdvm.conf"

# A config with disks and networks: OpenFile= with the escapes a path with '%', ':' and '\' needs, and
# the sandbox opened up for taps. systemd ignores an OpenFile= it cannot parse with a warning, so a clean
# verify means that the escaping was understood; the broken variant below proves such a warning shows.
cp "$DATA/configs/store.conf" "$ROOT/etc/vms/store.conf"
SDVM_CONFIG_DIR=$ROOT/etc/vms "$GENERATOR" "$ROOT/gen"
grep -qF 'OpenFile=/srv/100%%/a\x3ab\\c d.img:disk2:graceful' "$ROOT/gen/vm@store.service.d/50-sdvm.conf" ||
        fail "store.conf: no escaped OpenFile= in: $(cat "$ROOT/gen/vm@store.service.d/50-sdvm.conf")"
out=$(systemd-analyze verify --man=no --root="$ROOT" vm@store.service 2>&1) ||
        fail "systemd-analyze verify vm@store.service failed: $out"
[[ -z $out ]] || fail "systemd-analyze verify vm@store.service complained:"$'\n'"$out"
echo "ok: systemd-analyze verify vm@store.service (OpenFile= for 3 disks, network sandbox): clean"
echo 'OpenFile=/srv/a\:b:disk9:graceful' >>"$ROOT/gen/vm@store.service.d/50-sdvm.conf"
out=$(systemd-analyze verify --man=no --root="$ROOT" vm@store.service 2>&1) || true
grep -q "50-sdvm.conf:.*OpenFile" <<<"$out" || fail "a bad OpenFile= went unnoticed: $out"
sed -i '/disk9/d' "$ROOT/gen/vm@store.service.d/50-sdvm.conf"

rc=0
out=$(systemd-analyze security --offline=yes --root="$ROOT" --threshold=15 vm@test.service 2>&1) || rc=$?
grep -F '✗' <<<"$out" || true # what is left exposed
grep 'Overall exposure level' <<<"$out" || fail "no exposure level in: $out"
((rc == 0)) || fail "exposure above 1.5 (systemd-analyze security exit status $rc)"

# A VM with taps has CAP_NET_ADMIN and the host's network: its score, for the record (not checked).
out=$(systemd-analyze security --offline=yes --root="$ROOT" vm@store.service 2>&1) || true
grep 'Overall exposure level' <<<"$out" | sed 's/^/vm@store.service (with [Network]): /' ||
        fail "no exposure level for vm@store.service in: $out"
