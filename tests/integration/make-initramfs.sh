#!/bin/bash
# make-initramfs.sh OUT KVER POWERBTN: a busybox initramfs for L2 test guests, with the few modules
# the tests need from /lib/modules/KVER (decompressed, in dependency order) and tests/guest/init.
set -euo pipefail
out=$1 kver=$2 powerbtn=$3
here=$(cd "$(dirname "$0")" && pwd)
mods=(evdev button pvpanic-mmio virtio-rng virtio_blk virtio_net)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,proc,sys,dev,modules}
cp /bin/busybox "$tmp/bin/busybox"
cp "$here/../guest/init" "$tmp/init"
cp "$powerbtn" "$tmp/powerbtn"
chmod 0755 "$tmp/init" "$tmp/powerbtn"

declare -A seen=()
add_module() {
        local m=$1 f dep
        [[ -n ${seen[$m]:-} ]] && return 0
        seen[$m]=1
        f=$(modinfo -k "$kver" -n "$m" 2>/dev/null) || { echo "make-initramfs: no module $m for $kver" >&2; return 1; }
        [[ $f == "(builtin)" || -z $f ]] && return 0
        for dep in $(modinfo -k "$kver" -F depends "$m" | tr ',' ' '); do add_module "$dep"; done
        case "$f" in
        *.xz) xz -dc "$f" >"$tmp/modules/$m.ko" ;;
        *.zst) zstd -qdc "$f" >"$tmp/modules/$m.ko" ;;
        *) cp "$f" "$tmp/modules/$m.ko" ;;
        esac
        echo "$m.ko" >>"$tmp/modules.list"
}
: >"$tmp/modules.list"
for m in "${mods[@]}"; do add_module "$m"; done
(cd "$tmp" && find . | cpio -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
