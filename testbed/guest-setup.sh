#!/bin/bash
# guest-setup.sh ROOT MODULES: customise a freshly bootstrapped guest tree (testbed/guest-packages.txt)
# into the L2 test guest: the kernel modules of the L1 tree (MODULES is its /lib/modules/VERSION, so they
# match the kernel that boots the guest), the test agent, a root autologin on the serial console.
# Part of the guest image's cache key.
set -euo pipefail
t=$1 mods=$2
here=$(cd "$(dirname "$0")/guest" && pwd)

mkdir -p "$t/usr/lib/modules"
cp -a "$mods" "$t/usr/lib/modules/"
echo sdvm-guest >"$t/etc/hostname"
# fsck pass 0: the root is mounted rw by the kernel, and every test boots a fresh copy.
printf '/dev/vda / ext4 defaults 0 0\n' >"$t/etc/fstab"
# A fixed machine ID: no first-boot logic (systemd-firstboot would prompt on the console).
echo 5d7e0c1a6b2f4e8c9a3d1b7f0e6c2a94 >"$t/etc/machine-id"
# The journal in RAM: the durability tests account for every write to the root disk.
mkdir -p "$t/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$t/etc/systemd/journald.conf.d/sdvm.conf"
# Timers, waits and mounts that only cost boot time in a short-lived test guest: in the nest, a Debian
# boot is CPU-bound (1 vCPU: ~50 s kernel and initrd, ~110 s userspace) and every process counts.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
        systemd-firstboot.service systemd-networkd-wait-online.service getty@tty1.service \
        dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
        sys-kernel-config.mount sys-fs-fuse-connections.mount proc-sys-fs-binfmt_misc.automount \
        systemd-binfmt.service systemd-pstore.service systemd-journal-flush.service; do
        ln -sf /dev/null "$t/etc/systemd/system/$u"
done
# The image's /etc and /var are as new as its /usr: no ConditionNeedsUpdate= work (hwdb rebuild, ldconfig,
# catalog) at boot. Under nested KVM in TCG every process the guest spawns is expensive.
touch "$t/etc/.updated" "$t/var/.updated"
passwd -R "$t" -d root >/dev/null 2>&1 || chroot "$t" passwd -d root >/dev/null

# The console is for people (testbed/demo): root is logged in on ttyS0. The agent opens the tty for
# each line it prints, so the getty's hang-up of ttyS0 does not cut it off.
mkdir -p "$t/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$t/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOC'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 - $TERM
EOC

install -m 0755 "$here/sdvm-agent" "$t/usr/local/sbin/sdvm-agent"
install -m 0644 "$here/sdvm-agent.service" "$t/etc/systemd/system/sdvm-agent.service"
mkdir -p "$t/etc/systemd/system/multi-user.target.wants"
ln -sf ../sdvm-agent.service "$t/etc/systemd/system/multi-user.target.wants/sdvm-agent.service"
