# shellcheck shell=bash
# For the tests that boot the Debian guest image (testbed/guest-setup.sh) from virtio disks: test-disk.sh,
# test-net.sh. SDVM_TEST_VMM picks who runs the guest:
#   vmm  (default) /etc/vms/NAME.conf with [Disk]/[Network] sections, systemctl start vm@NAME
#   qemu           qemu-system-x86_64 -accel kvm with virtio-blk-pci and virtio-net-pci, the peer that
#                  proves the tests and the guest image before vmm has the devices
# Either way the guest gets the same kernel, initrd, command line, disks (vda, vdb, ...) and NIC, and
# the test agent in the image prints "SDVM-AGENT: " lines on its serial console.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAUNCHER=${SDVM_TEST_VMM:-vmm}
[[ $LAUNCHER == vmm || $LAUNCHER == qemu ]] || fail "SDVM_TEST_VMM must be vmm or qemu, not '$LAUNCHER'"
GUEST_INITRD=${SDVM_GUEST_INITRD:-/boot/initrd.img-$KVER}
# Where guest disks live: L1's scratch disk (testbed/lib.sh: tb_make_scratch), which carries the
# image as guest.img. Elsewhere (a host with KVM), SDVM_GUEST_IMAGE names an image built by
# tb_ensure_guest_image and the copies go to $WORK.
SCRATCH=/var/lib/sdvm-scratch
echo "guest launcher: $LAUNCHER (SDVM_TEST_VMM=vmm|qemu)"

guest_scratch() {
        if [[ -n ${SDVM_GUEST_IMAGE:-} ]]; then
                SCRATCH=$WORK/guests GUEST_IMAGE=$SDVM_GUEST_IMAGE
                mkdir -p "$SCRATCH"
                return 0
        fi
        (
                flock 9
                mountpoint -q "$SCRATCH" && exit 0
                if [[ ! -e /dev/disk/by-label/sdvm-scratch ]]; then
                        # In the testbed the disk must be there; anywhere else the test has nothing to boot.
                        [[ -f /src/.l1-entry ]] && fail "L1 has no scratch disk (label sdvm-scratch)"
                        echo "no guest image (set SDVM_GUEST_IMAGE): skipping"
                        exit 77
                fi
                mkdir -p "$SCRATCH"
                mount /dev/disk/by-label/sdvm-scratch "$SCRATCH"
        ) 9>"$WORK/.lock-scratch" || exit $?
        GUEST_IMAGE=$SCRATCH/guest.img
        [[ -s $GUEST_IMAGE ]] || fail "no guest image at $GUEST_IMAGE"
}

# guest_copy NAME: a fresh writable copy of the guest image, printed as a path.
guest_copy() {
        local dir=$SCRATCH/$1 t0
        rm -rf "$dir"
        mkdir -p "$dir"
        t0=$(date +%s.%N)
        cp --sparse=always "$GUEST_IMAGE" "$dir/root.img"
        echo "copied the guest image ($(du -h "$dir/root.img" | cut -f1) used) in $(since "$t0") s" >&2
        echo "$dir/root.img"
}

# guest_define NAME [CPUS [MEMORY]]: a new VM definition (1 vCPU by default: L1 has one CPU for all of
# them); then guest_disk PATH [ro] (in guest order) and guest_nic TAP MAC.
guest_define() {
        G_NAME=$1 G_CPUS=${2:-1} G_MEM=${3:-1G}
        G_DISKS=() G_TAP='' G_MAC='' G_PID='' G_INV='' G_STATUS=''
        G_CONSOLE=$WORK/$G_NAME.console
        rm -f "$G_CONSOLE"
}
guest_disk() { G_DISKS+=("$1${2:+:$2}"); }
guest_nic() { G_TAP=$1 G_MAC=$2; }

# guest_start ACTIONS [sdvm.KEY=VALUE...]: boots the guest with sdvm.test=ACTIONS; returns once it runs.
guest_start() {
        local cmdline="console=ttyS0 root=/dev/vda rw quiet panic=-1 sdvm.test=$1"
        shift
        (($# == 0)) || cmdline+=" $*"
        G_T0=$(date +%s.%N)
        "guest_start_$LAUNCHER" "$cmdline"
}

guest_start_qemu() {
        local args=() i=0 d path ro
        for d in "${G_DISKS[@]}"; do
                path=${d%:ro} ro=''
                [[ $d == *:ro ]] && ro=,readonly=on
                args+=(-drive "file=$path,if=none,id=disk$i,format=raw$ro"
                        -device "virtio-blk-pci,drive=disk$i,serial=sdvm-disk$i")
                i=$((i + 1))
        done
        [[ -z $G_TAP ]] || args+=(-netdev "tap,id=net0,ifname=$G_TAP,script=no,downscript=no"
                -device "virtio-net-pci,netdev=net0,mac=$G_MAC")
        qemu-system-x86_64 -accel kvm -M q35 -cpu host -smp "$G_CPUS" -m "$G_MEM" \
                -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$1" \
                "${args[@]}" -device virtio-rng-pci \
                -nodefaults -display none -monitor none -no-reboot -serial "file:$G_CONSOLE" \
                </dev/null >"$WORK/$G_NAME.qemu.log" 2>&1 &
        G_PID=$!
}

guest_start_vmm() {
        local conf=/etc/vms/$G_NAME.conf d dir
        mkdir -p /etc/vms
        {
                printf '[VM]\nCPUs=%s\nMemory=%s\n\n[Boot]\nKernel=%s\nInitrd=%s\nCommandLine=%s\n' \
                        "$G_CPUS" "$G_MEM" "$GUEST_KERNEL" "$GUEST_INITRD" "$1"
                for d in "${G_DISKS[@]}"; do
                        printf '\n[Disk]\nPath=%s\nReadOnly=%s\n' "${d%:ro}" "$([[ $d == *:ro ]] && echo yes || echo no)"
                done
                [[ -z $G_TAP ]] || printf '\n[Network]\nTap=%s\nMACAddress=%s\n' "$G_TAP" "$G_MAC"
        } >"$conf"
        # The images stay root's, mode 0600, outside every path the sandbox lets vmm see: the generator's
        # OpenFile= has systemd open them and pass the fds in, which is what this test proves.
        for d in "${G_DISKS[@]}"; do chmod 0600 "${d%:ro}"; done
        systemctl daemon-reload
        systemctl reset-failed "vm@$G_NAME.service" 2>/dev/null || true
        if ! systemctl start "vm@$G_NAME.service"; then
                journalctl -u "vm@$G_NAME" --no-pager -o cat -n 30
                fail "systemctl start vm@$G_NAME failed"
        fi
        G_INV=$(systemctl show -P InvocationID "vm@$G_NAME.service")
}

# The console so far: QEMU's serial file, or the unit's journal (vmm logs the guest's console there).
guest_console() {
        case $LAUNCHER in
        qemu) [[ ! -f $G_CONSOLE ]] || tr -d '\r\0' <"$G_CONSOLE" ;;
        vmm) journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$G_INV" 2>/dev/null | tr -d '\r\0' ;;
        esac
}

# The console's complete lines: the guest writes a line a byte at a time, and a test must not act on
# half of one.
guest_lines() {
        local s
        s=$(guest_console; printf .)
        s=${s%.}
        if [[ $s != *$'\n' ]]; then
                if [[ $s == *$'\n'* ]]; then s=${s%$'\n'*}$'\n'; else s=''; fi
        fi
        printf '%s' "$s"
}

guest_running() {
        case $LAUNCHER in
        qemu) kill -0 "$G_PID" 2>/dev/null ;;
        vmm) [[ $(systemctl show -P ActiveState "vm@$G_NAME.service") =~ ^(active|activating|deactivating)$ ]] ;;
        esac
}

# guest_wait REGEX LIMIT: waits for a console line matching REGEX and prints it; fails (with the
# console's tail) if the guest stops first, or once its console has been silent for LIMIT seconds
# without the line: the limit starts again whenever the guest prints, so a slow nest that still
# makes progress never fails it, and a hung guest fails it after LIMIT seconds.
guest_wait() {
        local re=$1 limit=$2 end beat line s len=-1
        end=$((SECONDS + limit)) beat=$((SECONDS + 60))
        while :; do
                s=$(guest_lines)
                if line=$(grep -aE -m1 -- "$re" <<<"$s"); then
                        echo "$line"
                        return 0
                fi
                if ! guest_running; then
                        line=$(guest_lines | grep -aE -m1 -- "$re") && { echo "$line"; return 0; }
                        guest_show
                        fail "the guest stopped before printing /$re/"
                fi
                if ((${#s} != len)); then
                        len=${#s}
                        ((SECONDS + limit <= end)) || end=$((SECONDS + limit))
                fi
                ((SECONDS < end)) || {
                        guest_show
                        fail "no /$re/ on the console: it has been silent for $limit s ($(guest_elapsed) s since the start)"
                }
                if ((SECONDS > beat)); then
                        heartbeat "$G_NAME: waiting for /$re/, $(guest_elapsed) s since the start"
                        beat=$((SECONDS + 60))
                fi
                sleep 0.2
        done
}

# since T0: seconds since date +%s.%N said T0; guest_elapsed: since guest_start.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
guest_elapsed() { since "$G_T0"; }

guest_show() {
        echo "--- guest console ($LAUNCHER, last 40 lines) ---" >&2
        guest_console | tail -n 40 >&2
        [[ $LAUNCHER == qemu ]] && tail -n 5 "$WORK/$G_NAME.qemu.log" >&2
        echo "---" >&2
}

# guest_wait_exit TIMEOUT: waits for the VM to end; G_STATUS=poweroff for a clean power-off, else a
# description.
guest_wait_exit() {
        local limit=$1 end rc=0
        end=$(($(date +%s) + limit))
        while guest_running; do
                (($(date +%s) < end)) || { guest_show; fail "the guest did not power off within $limit s"; }
                sleep 0.5
        done
        case $LAUNCHER in
        qemu)
                wait "$G_PID" || rc=$?
                G_STATUS=$( ((rc == 0)) && echo poweroff || echo "qemu exit status $rc")
                ;;
        vmm)
                G_STATUS=$(systemctl show -P Result "vm@$G_NAME.service")
                [[ $G_STATUS == success ]] && G_STATUS=poweroff
                ;;
        esac
        G_PID=''
}

# SIGKILL to the VMM process itself.
guest_kill9() {
        case $LAUNCHER in
        qemu) kill -9 "$G_PID" ;;
        vmm) systemctl kill --kill-whom=main -s KILL "vm@$G_NAME.service" ;;
        esac
        guest_wait_exit 120
}

# For an EXIT trap: stop whatever is still running and drop the vmm unit's files.
guest_cleanup() {
        [[ -n ${G_NAME:-} ]] || return 0
        case $LAUNCHER in
        qemu) [[ -z ${G_PID:-} ]] || kill -9 "$G_PID" 2>/dev/null || true ;;
        vmm)
                systemctl kill -s KILL "vm@$G_NAME.service" 2>/dev/null || true
                systemctl stop "vm@$G_NAME.service" 2>/dev/null || true
                rm -rf "/etc/vms/$G_NAME.conf" "/run/systemd/system/vm@$G_NAME.service.d"
                systemctl daemon-reload
                systemctl reset-failed "vm@$G_NAME.service" 2>/dev/null || true
                ;;
        esac
}

# marker_field LINE KEY: the value of KEY=VALUE in an agent line.
marker_field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# check_durable IMAGE LINE: the file the agent reported in LINE ("synced file=F bytes=N sha256=S"),
# read from IMAGE on the host with debugfs, has the same bytes.
check_durable() {
        local img=$1 line=$2 f sum got
        f=$(marker_field "$line" file) sum=$(marker_field "$line" sha256)
        [[ -n $f && ${#sum} == 64 ]] || fail "malformed agent line: $line"
        rm -f "$WORK/durable.out"
        debugfs -R "dump $f $WORK/durable.out" "$img" 2>/dev/null
        [[ -f $WORK/durable.out ]] || fail "$f is not in the image"
        got=$(sha256sum <"$WORK/durable.out" | cut -d' ' -f1)
        [[ $got == "$sum" ]] || fail "$f in the image has sha256 $got, the guest wrote $sum"
        echo "the host reads $f ($(stat -c %s "$WORK/durable.out") bytes) from the image: sha256 matches"
}
