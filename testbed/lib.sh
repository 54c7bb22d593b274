# shellcheck shell=bash
# Shared by testbed/run-tests, testbed/demo and testbed/chroot. Sourced, not run.
#
# L0 (this host, no KVM) builds a Debian trixie tree with mmdebstrap, builds sdvm inside it with
# chroot, then boots the tree as L1 under QEMU TCG with emulated SVM, where systemd 257 is PID 1 and
# /dev/kvm works. See ../shared/TESTBED.md for why each step is the way it is.

set -euo pipefail

TB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$TB_DIR/.." && pwd)
CACHE=${SDVM_TESTBED_CACHE:-/var/cache/sdvm-testbed}
BUILD_REL=build-testbed              # build dir, relative to the repo (/src in the chroot and in L1)
SUITE=trixie

tb_log() { printf 'testbed: %s\n' "$*" >&2; }
tb_die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

tb_need_root() {
        [[ $(id -u) == 0 ]] || tb_die "must run as root (it uses chroot, mount namespaces and mkfs)"
}

# tb_begin_run: root, one run at a time in a checkout (its build directory, work directories and L1s
# are shared; the lock is held until the run's shell exits), and no L1 outlives the run: on exit, on
# Ctrl-C and on SIGTERM (.ci/run's timeout) every L1 it started is ended.
tb_begin_run() {
        tb_need_root
        exec {TB_CHECKOUT_FD}>"$REPO/$BUILD_REL.lock"
        flock -n "$TB_CHECKOUT_FD" ||
                tb_die "another testbed run uses this checkout ($REPO/$BUILD_REL.lock); end it first"
        trap 'tb_kill_l1s "$REPO/$BUILD_REL".*/qemu.pid "$REPO/$BUILD_REL".*/shard-*/qemu.pid' EXIT
        # The shards' subshells too (signalled by name alone, they would go on with their reports).
        trap 'tb_log "interrupted: ending the L1s"; kill $(jobs -p) 2>/dev/null; exit 130' INT
        trap 'tb_log "terminated: ending the L1s"; kill $(jobs -p) 2>/dev/null; exit 143' TERM HUP
}

# The L1s this shell started (tb_boot_l1 writes WORKDIR/qemu.pid): ended, with whatever timeout wraps
# them, when the run ends for any reason (run-tests' EXIT trap), so that no L1 outlives its run.
tb_kill_l1s() {
        local f pid
        for f in "$@"; do
                [[ -f $f ]] || continue
                pid=$(cat "$f")
                [[ -n $pid ]] || continue
                pkill -TERM -P "$pid" 2>/dev/null || true
                kill -TERM "$pid" 2>/dev/null || true
        done
        sleep 1
        for f in "$@"; do
                [[ -f $f ]] || continue
                pid=$(cat "$f")
                [[ -n $pid ]] || continue
                pkill -KILL -P "$pid" 2>/dev/null || true
                kill -KILL "$pid" 2>/dev/null || true
                rm -f "$f"
        done
}

# Host packages, installed only when a tool is missing so that a warm run costs nothing.
tb_host_deps() {
        local missing=()
        command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
        command -v qemu-img >/dev/null || missing+=(qemu-utils)
        command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
        command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null || missing+=(e2fsprogs)
        command -v unshare >/dev/null && command -v setpriv >/dev/null || missing+=(util-linux)
        command -v socat >/dev/null || missing+=(socat)
        ((${#missing[@]} == 0)) && return 0
        tb_log "installing host packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        timeout 600 apt-get update -q >/dev/null || tb_die "apt-get update failed or took over 10 minutes"
        timeout 1200 apt-get install -y -q "${missing[@]}" >/dev/null ||
                tb_die "apt-get install ${missing[*]} failed or took over 20 minutes"
}

tb_packages() { grep -v '^[[:space:]]*\(#\|$\)' "$TB_DIR/packages.txt" | sort -u | paste -sd, -; }

# Cache keys: the tar depends on the package list only; the tree and disk image also on the
# files that customise it. A key is a prefix of a sha256.
tb_key_tar() { printf '%s %s\n' "$SUITE" "$(tb_packages)" | sha256sum | cut -c1-16; }
tb_key_tree() {
        { tb_key_tar; cat "$TB_DIR/setup-tree.sh" "$TB_DIR"/l1/*; } | sha256sum | cut -c1-16
}

# Everything in the cache is built under a temporary name and renamed into place when complete,
# so an interrupted run leaves nothing that a later run would mistake for a good cache entry.
tb_ensure_tar() {
        local key tar tmp
        key=$(tb_key_tar)
        tar=$CACHE/rootfs-$key.tar
        if [[ -s $tar ]]; then
                TB_TAR=$tar
                return 0
        fi
        mkdir -p "$CACHE"
        rm -rf "$CACHE"/tmp.rootfs-*
        tmp=$(mktemp -d "$CACHE/tmp.rootfs-XXXXXX")
        tb_log "building the $SUITE tree with mmdebstrap (cold cache, a few minutes)"
        timeout 1800 mmdebstrap --variant=minbase --include="$(tb_packages)" "$SUITE" "$tmp/rootfs.tar" \
                >"$tmp/mmdebstrap.log" 2>&1 || {
                tail -n 30 "$tmp/mmdebstrap.log" >&2
                tb_die "mmdebstrap failed (log: $tmp/mmdebstrap.log)"
        }
        mv "$tmp/rootfs.tar" "$tar"
        rm -rf "$tmp"
        TB_TAR=$tar
}

# The extracted, customised tree (chroot for builds) and its ext4 image (L1's root disk).
# The cache is shared by every checkout on the host. Two locks:
# - .lock, exclusive, while a run fills it: two runs started at once never build the same entry twice
#   or delete each other's half-built one;
# - .use.lock, shared by every run for its whole life (tb_cache_use), exclusive only to prune: a run
#   never deletes the tree or image that another run still builds in or boots L1 from. A run that
#   cannot have it exclusive at once leaves the old entries for a later run to prune.
tb_cache_lock() {
        mkdir -p "$CACHE"
        exec {TB_CACHE_FD}>"$CACHE/.lock"
        flock -n "$TB_CACHE_FD" && return 0
        tb_log "waiting for another run to finish filling $CACHE (30 minutes at most)"
        flock -w 1800 "$TB_CACHE_FD" || tb_die "another run held $CACHE/.lock for 30 minutes"
}
tb_cache_unlock() { exec {TB_CACHE_FD}>&-; }
tb_cache_use() {
        [[ -n ${TB_USE_FD:-} ]] && return 0
        mkdir -p "$CACHE"
        exec {TB_USE_FD}>"$CACHE/.use.lock"
        flock -s -w 600 "$TB_USE_FD" || tb_die "could not take a shared lock on $CACHE/.use.lock in 10 minutes"
}
# tb_cache_prune KEEP...: deletes the cache entries given on stdin that are not among KEEP, if no other
# run uses the cache now.
tb_cache_prune() {
        local old keep k fd
        exec {fd}>"$CACHE/.use.lock"
        # Our own shared lock would block us: trade it for the exclusive one, then take it back.
        flock -u "$TB_USE_FD"
        if flock -n -x "$fd"; then
                while read -r old; do
                        [[ -e $old ]] || continue
                        keep=0
                        for k in "$@"; do [[ $old == "$k" ]] && keep=1; done
                        ((keep)) || rm -rf "$old"
                done
                flock -u "$fd"
        else
                cat >/dev/null
                tb_log "another run uses $CACHE: old entries stay until a later run prunes them"
        fi
        exec {fd}>&-
        flock -s -w 600 "$TB_USE_FD" || tb_die "could not take a shared lock on $CACHE/.use.lock again"
}

tb_ensure_tree() {
        local key tmp
        tb_cache_use
        tb_cache_lock
        tb_ensure_tar
        key=$(tb_key_tree)
        TB_TREE=$CACHE/tree-$key
        TB_IMG=$CACHE/root-$key.img
        if [[ ! -f $TB_TREE/.sdvm-complete ]]; then
                rm -rf "$CACHE"/tmp.tree-* "$TB_TREE"
                tmp=$(mktemp -d "$CACHE/tmp.tree-XXXXXX")
                tb_log "extracting and customising the tree"
                tar -C "$tmp" -xf "$TB_TAR"
                bash "$TB_DIR/setup-tree.sh" "$tmp"
                touch "$tmp/.sdvm-complete"
                mv "$tmp" "$TB_TREE"
        fi
        if [[ ! -s $TB_IMG ]]; then
                tb_log "making L1's root disk image"
                rm -f "$CACHE"/tmp.root-*
                tmp=$(mktemp "$CACHE/tmp.root-XXXXXX")
                mkfs.ext4 -q -F -d "$TB_TREE" -L root "$tmp" 4G
                mv "$tmp" "$TB_IMG"
        fi
        # Old generations are dead weight: drop every tree and image that is not current.
        tb_cache_prune "$TB_TREE" "$TB_IMG" "$TB_TAR" < <(printf '%s\n' "$CACHE"/tree-* "$CACHE"/root-*.img "$CACHE"/rootfs-*.tar)
        tb_cache_unlock
}

# The L2 guest's root filesystem: its own small package list (guest-packages.txt), bootstrapped once
# into a tar (keyed by the list), then customised by guest-setup.sh with the test agent (guest/*) and the
# L1 tree's kernel modules, so that the tree's kernel and initrd boot it, and made into an ext4 image
# (keyed by all of those). Needs tb_ensure_tree first. Sets TB_GUEST_IMG.
tb_guest_packages() { grep -v '^[[:space:]]*\(#\|$\)' "$TB_DIR/guest-packages.txt" | sort -u | paste -sd, -; }
tb_guest_kver() { ls "$TB_TREE/lib/modules" | sort -V | tail -n1; }
tb_key_guest_tar() { printf '%s %s nodocs\n' "$SUITE" "$(tb_guest_packages)" | sha256sum | cut -c1-16; }
tb_key_guest() {
        { tb_key_guest_tar; tb_guest_kver; cat "$TB_DIR/guest-setup.sh" "$TB_DIR"/guest/*; } |
                sha256sum | cut -c1-16
}
tb_ensure_guest_image() {
        local kver tar tmp t0 size
        tb_cache_use
        tb_cache_lock
        kver=$(tb_guest_kver)
        [[ -n $kver ]] || tb_die "no kernel modules in $TB_TREE/lib/modules"
        tar=$CACHE/guest-rootfs-$(tb_key_guest_tar).tar
        TB_GUEST_IMG=$CACHE/guest-$(tb_key_guest).img
        t0=$(date +%s)
        if [[ ! -s $TB_GUEST_IMG && ! -s $tar ]]; then
                rm -rf "$CACHE"/tmp.guest-*
                tmp=$(mktemp -d "$CACHE/tmp.guest-XXXXXX")
                tb_log "bootstrapping the guest root filesystem with mmdebstrap (cold cache, about 1.5 min)"
                # Documentation and translations are dead weight in a test guest.
                timeout 1800 mmdebstrap --variant=minbase --include="$(tb_guest_packages)" \
                        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
                        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
                        "$SUITE" "$tmp/rootfs.tar" >"$tmp/mmdebstrap.log" 2>&1 || {
                        tail -n 30 "$tmp/mmdebstrap.log" >&2
                        tb_die "mmdebstrap of the guest failed (log: $tmp/mmdebstrap.log)"
                }
                mv "$tmp/rootfs.tar" "$tar"
                rm -rf "$tmp"
        fi
        if [[ ! -s $TB_GUEST_IMG ]]; then
                rm -rf "$CACHE"/tmp.guest-*
                tmp=$(mktemp -d "$CACHE/tmp.guest-XXXXXX")
                tb_log "customising the guest tree (test agent, kernel modules $kver)"
                mkdir "$tmp/root"
                tar -C "$tmp/root" -xf "$tar"
                bash "$TB_DIR/guest-setup.sh" "$tmp/root" "$TB_TREE/lib/modules/$kver"
                # The tree plus 512 MiB of room for the guest; sparse, so the room costs nothing.
                size=$(($(du -sm "$tmp/root" | cut -f1) + 512))
                tb_log "making the guest image (${size} MiB, $(du -sh "$tmp/root" | cut -f1) used)"
                mkfs.ext4 -q -F -d "$tmp/root" -L sdvm-guest "$tmp/guest.img" "${size}M" >/dev/null
                mv "$tmp/guest.img" "$TB_GUEST_IMG"
                rm -rf "$tmp"
                tb_log "guest image ready in $(($(date +%s) - t0)) s: $TB_GUEST_IMG"
        fi
        # Only older guest images and tars are ours to delete; tree-*, root-*, rootfs-* are tb_ensure_tree's.
        tb_cache_prune "$TB_GUEST_IMG" "$tar" < <(printf '%s\n' "$CACHE"/guest-*.img "$CACHE"/guest-rootfs-*.tar)
        tb_cache_unlock
}

# L1's scratch disk (its third virtio disk, label sdvm-scratch): a sparse ext4 file system carrying the
# guest image, on which L1's tests make their per-guest copies (tests/integration/guest-lib.sh). L1's own
# root disk has only ~3 GB free. mkfs copies only the image's data blocks, and so does L1's cp.
tb_make_scratch() {
        local out=$1 stage
        stage=$(mktemp -d "${TMPDIR:-/tmp}/sdvm-scratch-XXXXXX")
        ln "$TB_GUEST_IMG" "$stage/guest.img" 2>/dev/null || cp --sparse=always "$TB_GUEST_IMG" "$stage/guest.img"
        rm -f "$out"
        mkfs.ext4 -q -F -O ^has_journal -d "$stage" -L sdvm-scratch "$out" 16G >/dev/null
        rm -rf "$stage"
}

# Run a command inside the tree with the repo at /src. A private mount namespace means no mount
# outlives the command, whatever happens to it.
tb_chroot() {
        unshare --mount --propagation private -- bash -euc '
                t=$1 repo=$2; shift 2
                mount -t proc proc "$t/proc"
                mount --rbind /dev "$t/dev"
                mount -t sysfs sysfs "$t/sys"
                mount -t tmpfs tmpfs "$t/tmp"
                mount -t tmpfs tmpfs "$t/run"
                mount --bind "$repo" "$t/src"
                exec chroot "$t" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
                        TERM=dumb "$@"
        ' tb_chroot "$TB_TREE" "$REPO" "$@"
}

# Configure (once), build and run the unit tests in the chroot.
tb_build() {
        # -Dtest-hooks=true: the testbed kills vmm at chosen points of a save (src/shared/test-hook.h) and
        # makes its threads attempt forbidden calls (src/vmm/core/test-trigger.h, test-sandbox.sh).
        local setup=(meson setup "/src/$BUILD_REL" /src -Dwerror=true -Dbuildtype=debugoptimized --prefix=/usr
                -Dtest-hooks=true)
        [[ -f $REPO/$BUILD_REL/build.ninja ]] && setup+=(--reconfigure)
        tb_log "building sdvm in the $SUITE tree"
        tb_chroot "${setup[@]}" >"$REPO/$BUILD_REL.setup.log" 2>&1 || {
                cat "$REPO/$BUILD_REL.setup.log" >&2
                tb_die "meson setup failed"
        }
        tb_chroot meson compile -C "/src/$BUILD_REL"
}

# The payload disk carries the source and the build (same paths as in the chroot: /src) into L1.
tb_make_payload() {
        local entry=$1 out=$2 stage
        stage=$(mktemp -d "${TMPDIR:-/tmp}/sdvm-payload-XXXXXX")
        (cd "$REPO" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -C "$stage" -xf -
        cp -a "$REPO/$BUILD_REL" "$stage/"
        printf '%s\n' "$entry" >"$stage/.l1-entry"
        # Settings from L0 for the L1 scripts (l1-test.sh and bench/l1-bench.sh source it): which VMM
        # the guest-image tests run (SDVM_TEST_VMM=vmm|qemu), which testbed tests run (SDVM_TESTS)
        # and the benchmarks' knobs.
        local v
        for v in $(compgen -v | grep -E '^SDVM_(TEST_VMM|TESTS$|BENCH_|SOAK_)'); do printf '%s=%q\n' "$v" "${!v}"; done \
                >"$stage/.l1-env"
        rm -f "$out"
        mkfs.ext4 -q -F -d "$stage" -L payload "$out" 1G >/dev/null
        rm -rf "$stage"
}

# Which QEMU runs L1 (SDVM_L1_QEMU): the host's (default), or "tree": the trixie tree's newer one,
# run in place through the tree's own dynamic loader and libraries, with its firmware and modules.
tb_l1_qemu() {
        case ${SDVM_L1_QEMU:-host} in
        host) TB_L1_QEMU=(qemu-system-x86_64) ;;
        tree)
                local lib=$TB_TREE/usr/lib/x86_64-linux-gnu
                export QEMU_MODULE_DIR=$lib/qemu
                TB_L1_QEMU=("$lib/ld-linux-x86-64.so.2" --library-path "$lib"
                        "$TB_TREE/usr/bin/qemu-system-x86_64" -L "$TB_TREE/usr/share/seabios" -L "$TB_TREE/usr/share/qemu")
                ;;
        *) tb_die "SDVM_L1_QEMU=$SDVM_L1_QEMU: expected host or tree" ;;
        esac
}

# Boot L1 with the payload; its runner (testbed/l1/sdvm-testbed-runner) runs the payload's entry,
# streams its output to L1's second serial port, records the exit status and powers off. Several L1s
# may run at once (run-tests' shards), each with its own WORKDIR; TB_PREFIX labels its output lines.
tb_boot_l1() {
        local payload=$1 workdir=$2 limit=${3:-2400} overlay kernel initrd rc=0 tailpid
        tb_l1_qemu
        overlay=$workdir/root-overlay.qcow2
        rm -f "$overlay" "$workdir/console.log" "$workdir/progress.log" "$workdir/stall.txt" "$workdir/stall-at" "$workdir/mon.path" "$workdir/kallsyms"
        qemu-img create -q -f qcow2 -b "$TB_IMG" -F raw "$overlay"
        kernel=$(ls "$TB_TREE"/boot/vmlinuz-* | sort -V | tail -n1)
        initrd=$(ls "$TB_TREE"/boot/initrd.img-* | sort -V | tail -n1)
        # The scratch disk (tb_make_scratch), when the caller made one: vdc in L1.
        local scratch=()
        [[ -f $workdir/scratch.img ]] && scratch=(-drive "file=$workdir/scratch.img,if=virtio,format=raw")
        # HMP on a socket, for tb_nudge_l1 and tb_capture_stall. A socket path has at most 107 bytes and
        # the checkout may live anywhere: the socket lives in a short directory of its own, named in
        # WORKDIR/mon.path.
        local mondir
        mondir=$(mktemp -d /tmp/sdvm-mon.XXXXXX)
        echo "$mondir/mon.sock" >"$workdir/mon.path"
        local monitor=(-monitor "unix:$mondir/mon.sock,server=on,wait=off")
        : >"$workdir/progress.log"
        # --pid: the tail ends with the shell that runs this boot, however that shell ends.
        tail -n +1 --pid="$BASHPID" -f "$workdir/progress.log" | sed -u "s/^/${TB_PREFIX:-}/" &
        tailpid=$!
        tb_log "${TB_PREFIX:-}booting L1 (TCG, emulated SVM; console log: $workdir/console.log)"
        # nokaslr: a hung L1's RIP and stack words map straight onto System.map (tb_capture_stall);
        # sysrq_always_enabled: so does the stall capture's sysrq w and l.
        # timeout --foreground stays in the run's process group (plain timeout makes a group of its own,
        # which Ctrl-C and a kill of the run's group would miss), and setpriv's parent-death signal ends
        # QEMU when timeout is killed and timeout when the shell that started it is.
        setpriv --pdeathsig KILL timeout --foreground -k 10 "$limit" setpriv --pdeathsig KILL "${TB_L1_QEMU[@]}" \
                -accel "${SDVM_L1_ACCEL:-tcg}" -cpu EPYC-v3,+svm,+npt -m 8192 -smp 1 \
                -kernel "$kernel" -initrd "$initrd" \
                -append "console=ttyS0 root=/dev/vda rw quiet systemd.show_status=false panic=-1 nokaslr sysrq_always_enabled" \
                -drive "file=$overlay,if=virtio,format=qcow2" \
                -drive "file=$payload,if=virtio,format=raw" \
                "${scratch[@]}" \
                -display none "${monitor[@]}" -no-reboot -nodefaults \
                -serial "file:$workdir/console.log" -serial "file:$workdir/progress.log" \
                2> >(grep -v "TCG doesn't support requested feature" >&2) &
        qpid=$!
        echo "$qpid" >"$workdir/qemu.pid"
        local waited=0
        until [[ -S $mondir/mon.sock ]] || ((waited >= 60)) || ! kill -0 "$qpid" 2>/dev/null; do
                sleep 0.5
                waited=$((waited + 1))
        done
        [[ -S $mondir/mon.sock ]] ||
                tb_log "${TB_PREFIX:-}WARNING: L1 has no monitor socket ($mondir/mon.sock): no nudge for a lost timer interrupt, no stall capture"
        # A stall watchdog: the runner in L1 prints each test's result as it ends (and the tests that
        # boot the Debian guest print heartbeats meanwhile), and meson kills any other test after
        # its own timeout (400 s at most), so no output for longer than SDVM_TESTBED_STALL seconds
        # means L1 itself hangs (issue 16). Capture what it was doing, then report a stall (status 3)
        # for the caller to retry what had not finished.
        local stall=${SDVM_TESTBED_STALL:-480} last now ticking=0 tick nudged=0
        : >"$workdir/nudges.log"
        while kill -0 "$qpid" 2>/dev/null; do
                sleep 5
                last=$(stat -c %Y "$workdir/progress.log") now=$(date +%s)
                # L1's console ticks every 2 s once its entry runs (l1-prelude.sh). Silence for 30 s
                # means it sleeps and its timer interrupt got lost (issue 16): a keypress wakes it.
                ((ticking)) || ! grep -aq '^L1-tick' "$workdir/console.log" || ticking=1
                tick=$(stat -c %Y "$workdir/console.log")
                if ((nudged && tick > nudged)); then
                        echo "$(date -u +%T) woke after $((tick - nudged)) s" >>"$workdir/nudges.log"
                        tb_log "${TB_PREFIX:-}L1 ticks again: a keypress woke it"
                        nudged=0
                fi
                if ((ticking && now - tick > ${SDVM_TESTBED_NUDGE:-30} && nudged == 0)); then
                        tb_nudge_l1 "$workdir" $((now - tick))
                        nudged=$now
                fi
                if ((now - last > stall)) && kill -0 "$qpid" 2>/dev/null; then
                        tb_log "${TB_PREFIX:-}L1 printed nothing for $((now - last)) s: the nest hangs; capturing its state, then killing it"
                        # Results that come in from here on (the capture wakes L1) are the hang's, not the tests'.
                        wc -l <"$workdir/progress.log" >"$workdir/stall-at"
                        tb_capture_stall "$workdir" || true
                        pkill -P "$qpid" 2>/dev/null || true
                        kill "$qpid" 2>/dev/null || true
                        rc=stall
                        break
                fi
        done
        if [[ $rc == stall ]]; then
                wait "$qpid" 2>/dev/null || true
        else
                wait "$qpid" || rc=$?
        fi
        sleep 0.5
        kill "$tailpid" 2>/dev/null || true
        wait "$tailpid" 2>/dev/null || true
        rm -f "$overlay" "$workdir/scratch.img" "$workdir/qemu.pid"
        rm -rf "$mondir"
        if [[ $rc == stall ]]; then
                tb_log "${TB_PREFIX:-}the hang's capture: $workdir/stall.txt; its summary:"
                sed -n '/^== summary/,$p' "$workdir/stall.txt" >&2 || true
                return 3
        fi
        if ((rc == 124 || rc == 137)); then
                tb_log "${TB_PREFIX:-}L1 ran past its ${limit}s limit and was killed; last console lines:"
                tail -n 40 "$workdir/console.log" >&2 || true
                return 1
        fi
        ((rc == 0)) || { tb_log "${TB_PREFIX:-}qemu exited with status $rc"; return 1; }
}

# tb_hmp WORKDIR CMD...: runs HMP commands on that L1's monitor socket and prints their output.
tb_hmp() {
        local sock
        sock=$(cat "$1/mon.path")
        shift
        printf '%s\n' "$@" | socat -t 2 - "UNIX-CONNECT:$sock" 2>&1 |
                tr -d '\r' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/\x1b[^[]//g' | grep -av '^(qemu)\|^QEMU .* monitor' || true
}

# tb_l1_map WORKDIR: the path of this boot's copy of L1's kallsyms, read off its payload once (tb_boot_l1
# removes it at each boot).
tb_l1_map() {
        [[ -s $1/kallsyms ]] || debugfs -R "dump /.l1-kallsyms $1/kallsyms" "$1/payload.img" >/dev/null 2>&1 || true
        echo "$1/kallsyms"
}

# tb_nudge_l1 WORKDIR GAP: L1 has not ticked for GAP s. Note where its CPU is, then press a key (an
# interrupt that takes it out of a HLT whose timer never fired); tb_boot_l1 sees whether it ticks again.
tb_nudge_l1() {
        local workdir=$1 gap=$2 map rip sym
        [[ -S $(cat "$workdir/mon.path" 2>/dev/null) ]] || return 0
        map=$(tb_l1_map "$workdir")
        rip=$(tb_hmp "$workdir" "info registers" | sed -n 's/^RIP=\([0-9a-f]*\) .*/\1/p' | head -n1)
        sym=$(echo "$rip" | tb_symbolize "$map" | cut -d' ' -f2)
        tb_hmp "$workdir" "sendkey shift" >/dev/null
        echo "$(date -u +%T) no tick for $gap s, RIP ${rip:-?} ${sym:-?}, nudged" >>"$workdir/nudges.log"
        tb_log "${TB_PREFIX:-}L1 has not ticked for $gap s (CPU at ${sym:-$rip}): nudging it with a keypress"
}

# tb_symbolize MAP: kernel text addresses (16 hex digits, one per line) on stdin, "ADDR SYMBOL+OFF"
# out, from MAP: L1's /proc/kallsyms, which l1-test.sh leaves on the payload (Debian's System.map is a
# stub; the addresses hold because L1 boots with nokaslr). Addresses 1 MiB or more past the nearest
# text symbol below them (data, stack words that are not return addresses) are dropped.
tb_symbolize() {
        local map=$1
        [[ -s $map ]] || return 0
        # awk's numbers are doubles: compare the addresses as strings (same width) and subtract only
        # their low 32 bits.
        awk 'function h(s,  i, n) { n = 0; for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return n }
             FNR == NR { a[++n] = $1; s[n] = $3 ($4 != "" ? " " $4 : ""); next }
             { x = tolower($1); if (n == 0 || x < a[1]) next
               lo = 1; hi = n; while (lo < hi) { m = int((lo + hi + 1) / 2); if (a[m] <= x) lo = m; else hi = m - 1 }
               off = h(substr(x, 9)) - h(substr(a[lo], 9)); if (off < 0 || off >= 1048576) next
               printf "%s %s+0x%x\n", x, s[lo], off }' <(grep -a ' [tT] ' "$map" | sort) -
}

# tb_capture_stall WORKDIR: what a hung L1 was doing, into WORKDIR/stall.txt, before it is killed.
# Three samples of the vCPU a second apart (a RIP that moves is a loop, one that stays is a halt
# waiting for an interrupt that does not come), RIP and the stack's kernel addresses symbolized,
# then sysrq w (blocked tasks) and l (CPU backtraces) through the emulated keyboard: if L1's kernel
# still takes interrupts, they reach its console.
tb_capture_stall() {
        local workdir=$1 out=$1/stall.txt i rsp map
        [[ -S $(cat "$workdir/mon.path" 2>/dev/null) ]] || { echo "no monitor socket: nothing captured" >"$out"; return 0; }
        map=$(tb_l1_map "$workdir")
        {
                echo "== L1 hang at $(date -u +%FT%TZ): last progress line: $(tail -n 1 "$workdir/progress.log")"
                tb_hmp "$workdir" "info status" "info cpus"
                for i in 1 2 3; do
                        echo "== sample $i: info registers"
                        tb_hmp "$workdir" "info registers"
                        sleep 1
                done
                echo "== x/24i \$pc"
                tb_hmp "$workdir" 'x/24i $pc'
        } >"$out" 2>&1
        # QEMU 7.2's HMP knows no $rsp: take it from the last sample.
        rsp=$(sed -n 's/.*RSP=\([0-9a-f]*\).*/\1/p' "$out" | tail -n1)
        [[ -n $rsp ]] && { echo "== x/128gx RSP ($rsp)"; tb_hmp "$workdir" "x/128gx 0x$rsp"; } >>"$out" 2>&1
        {
                echo "== symbols: RIP of each sample, then kernel text addresses on the stack"
                sed -n 's/^RIP=\([0-9a-f]*\).*/\1/p' "$out" | tb_symbolize "$map"
                sed -n '/^== x\/128gx/,$p' "$out" | grep -ao '0x[0-9a-f]\{16\}' | sed 's/^0x//' | tb_symbolize "$map" |
                        awk '!seen[$1]++'
        } >>"$out" 2>&1
        local seen
        seen=$(stat -c %s "$workdir/console.log")
        # Loglevel 9 first: L1 boots with quiet, which would keep the stacks off the console.
        tb_hmp "$workdir" "sendkey alt-sysrq-9" >/dev/null
        tb_hmp "$workdir" "sendkey alt-sysrq-w" >/dev/null
        sleep 8
        tb_hmp "$workdir" "sendkey alt-sysrq-l" >/dev/null
        sleep 8
        {
                echo "== L1's console after sysrq w and l (nothing: L1's kernel takes no interrupts)"
                tail -c +$((seen + 1)) "$workdir/console.log" | tr -d '\r' | head -n 400
                echo "== summary"
                sed -n 's/^\(RIP=[0-9a-f]* RFL=[0-9a-f]*\).*/\1/p' "$out" | paste -sd' '
                grep -a -m1 -i 'CPU #0\|halted' "$out" || true
                echo "RIPs: $(sed -n 's/^RIP=\([0-9a-f]*\).*/\1/p' "$out" | tb_symbolize "$map" | cut -d' ' -f2 | sort | uniq -c |
                        awk '{ printf("%s%s (%d samples)", (NR > 1 ? ", " : ""), $2, $1) }')"
                echo "console bytes after sysrq: $(($(stat -c %s "$workdir/console.log") - seen))"
                echo "last console lines before the capture:"
                head -c "$seen" "$workdir/console.log" | tr -d '\r' | grep -av "^L1-tick" | tail -n 8
        } >>"$out" 2>&1
}

# What L1's runner left on the payload disk: its exit status, or nothing if it never ran.
tb_payload_status() {
        local payload=$1
        debugfs -R "cat /.l1-status" "$payload" 2>/dev/null | tr -dc '0-9'
}

# Build, then boot L1 with ENTRY (a script path relative to testbed/) and return its exit status.
# Sets TB_WORK (console.log, progress.log and payload.img live there).
tb_run_in_l1() {
        local entry=$1 limit=$2 status
        tb_begin_run
        tb_host_deps
        tb_ensure_tree
        tb_ensure_guest_image
        tb_build
        TB_WORK=$REPO/$BUILD_REL.work
        mkdir -p "$TB_WORK"
        tb_make_payload "$entry" "$TB_WORK/payload.img"
        tb_make_scratch "$TB_WORK/scratch.img"
        tb_boot_l1 "$TB_WORK/payload.img" "$TB_WORK" "$limit" || return 1
        status=$(tb_payload_status "$TB_WORK/payload.img")
        if [[ -z $status ]]; then
                tail -n 40 "$TB_WORK/console.log" >&2
                tb_log "L1 did not run $entry (console: $TB_WORK/console.log)"
                return 1
        fi
        return "$status"
}
