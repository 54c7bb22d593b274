#!/bin/bash
# sdvm-generator on a config directory with good, bad and ignored files: the output tree (drop-ins and
# symlinks) must equal tests/generator/expected*, and stderr must hold exactly the expected error lines.
# Then the command line and edge cases, and the time for 1,000 configs (printed, not checked).
# Needs GENERATOR (the binary) and UNIT_DIR (where vm@.service is installed) from meson.
set -euo pipefail

: "${GENERATOR:?}" "${UNIT_DIR:?}"
DATA=$(cd "$(dirname "$0")/generator" && pwd)
unset SYSTEMD_SCOPE # run by systemd, the generator would log to /dev/kmsg
umask 022

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$0")/harness.sh"

# Prints a tree as lines "d PATH", "f PATH MODE" and "l PATH -> TARGET", sorted.
tree() {
        (cd "$1" && find . -mindepth 1 \( -type d -printf 'd %P\n' \) -o \( -type f -printf 'f %P %m\n' \) \
                -o \( -type l -printf 'l %P -> %l\n' \) -o -printf '? %P\n') | LC_ALL=C sort -k2,2
}

# Replaces every occurrence of a literal string in stdin.
subst() {
        local from=$1 to=$2 line
        while IFS= read -r line || [[ -n $line ]]; do
                printf '%s\n' "${line//"$from"/"$to"}"
        done
}

# --- The main case ---------------------------------------------------------------------------------
CONF=$WORK/vms
OUT=$WORK/out
mkdir "$CONF" "$OUT"
cp -a "$DATA/configs/." "$CONF/"
mkdir "$CONF/dir.conf"          # not a file
ln -s nowhere "$CONF/gone.conf" # a dangling symlink

rc=0
SDVM_CONFIG_DIR=$CONF "$GENERATOR" "$OUT" >"$WORK/stdout" 2>"$WORK/stderr" || rc=$?
((rc == 0)) || fail "exit status $rc, expected 0 (bad configs are no reason to fail)"
[[ ! -s $WORK/stdout ]] || fail "unexpected output on stdout: $(cat "$WORK/stdout")"

subst "$CONF" @CONFIG_DIR@ <"$WORK/stderr" >"$WORK/stderr.got"
if ! diff -u "$DATA/expected.stderr" "$WORK/stderr.got"; then
        fail "stderr differs from tests/generator/expected.stderr (- expected, + got)"
fi

tree "$OUT" | subst "$UNIT_DIR" @UNIT_DIR@ >"$WORK/tree.got"
if ! diff -u "$DATA/expected.tree" "$WORK/tree.got"; then
        fail "output tree differs from tests/generator/expected.tree (- expected, + got)"
fi
while read -r type path _; do
        [[ $type == f ]] || continue
        subst "$CONF" @CONFIG_DIR@ <"$OUT/$path" >"$WORK/file.got"
        if ! diff -u "$DATA/expected/$path" "$WORK/file.got"; then
                fail "$path differs from tests/generator/expected/$path (- expected, + got)"
        fi
done <"$WORK/tree.got"
echo "ok: output tree and error lines as expected ($(grep -c '^f' "$WORK/tree.got") drop-ins)"

# Running again over the same output (as systemd never does, but a person might) changes nothing.
SDVM_CONFIG_DIR=$CONF "$GENERATOR" "$OUT" 2>/dev/null || fail "second run failed"
tree "$OUT" | subst "$UNIT_DIR" @UNIT_DIR@ | diff -u "$WORK/tree.got" - || fail "second run changed the tree"

# The early and late directories are accepted and left alone.
mkdir "$WORK/n" "$WORK/e" "$WORK/l"
SDVM_CONFIG_DIR=$CONF "$GENERATOR" "$WORK/n" "$WORK/e" "$WORK/l" 2>/dev/null || fail "3 arguments: failed"
[[ -z $(find "$WORK/e" "$WORK/l" -mindepth 1) ]] || fail "3 arguments: wrote into early-dir or late-dir"
[[ -f $WORK/n/vm@web.service.d/50-sdvm.conf ]] || fail "3 arguments: nothing in normal-dir"
echo "ok: 3 arguments, only normal-dir written"

# --- The command line and the environment ----------------------------------------------------------
# expect STATUS PATTERN CMD...: CMD exits with STATUS and its output matches PATTERN.
expect() {
        local status=$1 pattern=$2 rc=0 out
        shift 2
        out=$("$@" 2>&1) || rc=$?
        ((rc == status)) || fail "$*: exit status $rc, expected $status; output: $out"
        grep -qE -- "$pattern" <<<"$out" || fail "$*: no output matching /$pattern/; output: $out"
}
expect 0 '^Usage: sdvm-generator NORMAL-DIR \[EARLY-DIR LATE-DIR\]' "$GENERATOR" --help
expect 1 '^sdvm-generator: Expected 1 or 3 arguments' "$GENERATOR"
expect 1 '^sdvm-generator: Expected 1 or 3 arguments' "$GENERATOR" "$WORK/n" "$WORK/e"
expect 1 'unrecognized option' "$GENERATOR" --bogus "$WORK/n"
expect 1 '^sdvm-generator: Output directory must be an absolute path: relative$' "$GENERATOR" relative
expect 1 "^sdvm-generator: Failed to access output directory $WORK/missing: No such file or directory\$" \
        env SDVM_CONFIG_DIR="$CONF" "$GENERATOR" "$WORK/missing"
touch "$WORK/file"
expect 1 "^sdvm-generator: Output directory $WORK/file is not a directory" "$GENERATOR" "$WORK/file"
expect 1 'SDVM_CONFIG_DIR must be an absolute path: vms$' env SDVM_CONFIG_DIR=vms "$GENERATOR" "$WORK/n"
# No config directory at all (no VMs yet): nothing to do, nothing to say.
mkdir "$WORK/empty"
out=$(SDVM_CONFIG_DIR=$WORK/none "$GENERATOR" "$WORK/empty" 2>&1) || fail "missing config dir: failed: $out"
[[ -z $out && -z $(ls -A "$WORK/empty") ]] || fail "missing config dir: output '$out' or files written"
# An output directory that cannot be written: exit status 1 (as root, a read-only bind would be needed;
# a file in the way of the drop-in directory does the same).
mkdir "$WORK/blocked"
touch "$WORK/blocked/vm@db.service.d"
expect 1 "Failed to create a temporary file in $WORK/blocked/vm@db.service.d: Not a directory" \
        env SDVM_CONFIG_DIR="$CONF" "$GENERATOR" "$WORK/blocked"
# '%' in a path is escaped where systemd expands specifiers; a newline cannot be written at all.
mkdir "$WORK/100%vms" "$WORK/pct-out"
cp "$DATA/configs/db.conf" "$WORK/100%vms/"
SDVM_CONFIG_DIR=$WORK/100%vms "$GENERATOR" "$WORK/pct-out" || fail "'%' in the config path: failed"
grep -qxF "SourcePath=$WORK/100%%vms/db.conf" "$WORK/pct-out/vm@db.service.d/50-sdvm.conf" ||
        fail "'%' in the config path: not escaped in SourcePath="
nl=$WORK/$'new\nline'
mkdir "$nl" "$WORK/nl-out"
cp "$DATA/configs/db.conf" "$nl/"
expect 0 'cannot be written into a unit file' env SDVM_CONFIG_DIR="$nl" "$GENERATOR" "$WORK/nl-out"
[[ -z $(find "$WORK/nl-out" -mindepth 1) ]] || fail "newline in the config path: wrote a unit"
# A [Disk] path that systemd's OpenFile= would refuse (a component longer than NAME_MAX): no unit.
mkdir "$WORK/long" "$WORK/long-out"
printf '[Boot]\nKernel=/k\n[Disk]\nPath=/srv/%s\n' "$(printf 'x%.0s' {1..256})" >"$WORK/long/long.conf"
expect 0 "long.conf:3: \[Disk\] Path=/srv/x+: a path component is longer than 255 bytes" \
        env SDVM_CONFIG_DIR="$WORK/long" "$GENERATOR" "$WORK/long-out"
[[ -z $(find "$WORK/long-out" -mindepth 1) ]] || fail "overlong [Disk] path: wrote a unit"
echo "ok: command line and edge cases"

# --- Run by systemd ($SYSTEMD_SCOPE=system): errors go to /dev/kmsg, as LOG_ERR with "name[pid]:" -------
# Checked against a file mounted over /dev/kmsg in a mount namespace of its own (/dev made private
# first, so nothing reaches the host's mounts); needs root, and is skipped without.
KMSG=$WORK/kmsg
: >"$KMSG"
mkdir "$WORK/kmsg-out"
if unshare -m --propagation unchanged sh -c \
        'mount --make-rprivate /dev && mount --bind "$1" /dev/kmsg && shift && exec "$@"' sh "$KMSG" \
        env SYSTEMD_SCOPE=system SDVM_CONFIG_DIR="$CONF" "$GENERATOR" "$WORK/kmsg-out" \
        >"$WORK/kmsg-stdout" 2>"$WORK/kmsg-stderr"; then
        [[ ! -s $WORK/kmsg-stderr ]] || fail "run by systemd: wrote to stderr: $(cat "$WORK/kmsg-stderr")"
        sed -E 's/^<3>sdvm-generator\[[0-9]+\]: /sdvm-generator: /' "$KMSG" | subst "$CONF" @CONFIG_DIR@ |
                diff -u "$DATA/expected.stderr" - || fail "run by systemd: kmsg lines differ (- expected, + got)"
        grep -qvE '^<3>sdvm-generator\[[0-9]+\]: ' "$KMSG" && fail "run by systemd: a kmsg line without <3>name[pid]"
        echo "ok: run by systemd, errors went to /dev/kmsg as <3>sdvm-generator[PID]: ..."
else
        echo "skipped: kmsg check (needs root and unshare; $(head -n1 "$WORK/kmsg-stderr"))"
fi

# --- 1,000 configs: the time, for the record --------------------------------------------------------
MANY=$WORK/many
mkdir "$MANY" "$WORK/many-out"
for i in $(seq -w 1 1000); do
        {
                printf '[VM]\nDescription=Load test VM %s\nCPUs=2\nMemory=%dM\n' "$i" $((512 + 10#$i))
                if ((10#$i % 3 == 0)); then
                        printf 'Autostart=yes\n'
                fi
                printf '[Boot]\nKernel=/var/lib/vms/images/vmlinuz\nInitrd=/var/lib/vms/images/initrd.img\n'
                printf 'CommandLine=console=ttyS0 root=/dev/vda rw\n'
                if ((10#$i % 2 == 0)); then
                        printf '[Resources]\nCPUQuota=%d%%\nAllowedCPUs=0-3\nIOWeight=100\n' $((10#$i))
                fi
        } >"$MANY/vm-$i.conf"
done
start=$(date +%s%N)
SDVM_CONFIG_DIR=$MANY "$GENERATOR" "$WORK/many-out" || fail "1,000 configs: failed"
end=$(date +%s%N)
n=$(find "$WORK/many-out" -name 50-sdvm.conf | wc -l)
links=$(find "$WORK/many-out/machines.target.wants" -type l | wc -l)
((n == 1000 && links == 333)) || fail "1,000 configs: $n drop-ins and $links links, expected 1000 and 333"
echo "time: sdvm-generator over 1000 configs: $(((end - start) / 1000000)) ms ($n drop-ins, $links links)"
