#!/usr/bin/env bash
# Builds the VM test bed's disk image from Debian packages only: a debootstrap root file system
# with Debian 12's stock kernel (in-tree DRBD 8.4 module), drbd-utils, LVM, docker and sshd,
# written into an ext4 image with `mkfs.ext4 -d` (no loop mount, no device-mapper needed here)
# and converted to qcow2. The kernel and initrd are copied out next to it: qemu boots them
# directly, so the image needs no boot loader.
#   $1 = output folder, $2 = Debian mirror, $3 = security mirror, $4 = apt proxy URL or ""
set -euo pipefail
out=$1 mirror=$2 security=$3 proxy=${4:-}
suite=bookworm
work="$out.work"
rm -rf "$work"; mkdir -p "$work"
root="$work/root"
packages=linux-image-amd64,initramfs-tools,systemd-sysv,udev,kmod,dbus,openssh-server,python3,sudo,
packages+=iproute2,iputils-ping,procps,netbase,ca-certificates,drbd-utils,lvm2,thin-provisioning-tools,
packages+=xfsprogs,e2fsprogs,docker.io,busybox-static,curl,python3-docker,python3-apt
[ -n "$proxy" ] && export http_proxy=$proxy
PATH=$PATH:/usr/sbin:/sbin debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

cat > "$root/etc/apt/sources.list" <<SRC
deb $mirror $suite main
deb $security $suite-security main
SRC
echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" > "$root/etc/fstab"
# the console is the serial port; a root shell there helps when a boot goes wrong
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat > "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200 %I $TERM
UNIT
# one interface, eth0, on the test bed's bridge; its address comes from the kernel command line
cat > "$root/usr/local/sbin/hive-vm-lan" <<'SH'
#!/bin/sh
# Sets the name, the LAN address and the admin key from the kernel command line
# (hive.name=NAME hive.lan=ADDR/LEN hive.key=BASE64).
for arg in $(cat /proc/cmdline); do
  case $arg in hive.lan=*) lan=${arg#hive.lan=} ;; hive.name=*) name=${arg#hive.name=} ;; hive.key=*) key=${arg#hive.key=} ;; esac
done
[ -n "${name:-}" ] && hostnamectl set-hostname "$name" 2>/dev/null || { [ -n "${name:-}" ] && hostname "$name"; }
[ -n "${name:-}" ] && echo "$name" > /etc/hostname
[ -n "${name:-}" ] && printf '127.0.0.1 localhost\n127.0.1.1 %s %s\n' "$name" "${name%%.*}" > /etc/hosts
if [ -n "${key:-}" ]; then
  install -d -m 0700 -o admin -g admin /home/admin/.ssh
  echo "$key" | base64 -d > /home/admin/.ssh/authorized_keys
  chown admin:admin /home/admin/.ssh/authorized_keys; chmod 0600 /home/admin/.ssh/authorized_keys
fi
[ -n "${lan:-}" ] || exit 0
ip link set eth0 up
ip addr replace "$lan" dev eth0
SH
chmod 0755 "$root/usr/local/sbin/hive-vm-lan"
cat > "$root/etc/systemd/system/hive-vm-lan.service" <<'UNIT'
[Unit]
Description=VM test bed LAN address from the kernel command line
Before=ssh.service docker.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hive-vm-lan
RemainAfterExit=yes
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/hive-vm-lan.service "$root/etc/systemd/system/multi-user.target.wants/hive-vm-lan.service"
# timers that would take the apt lock or disks during a test
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo drbd > "$root/etc/modules-load.d/drbd.conf"
# the admin user hive logs in as; its authorized key comes from the kernel command line
# (hive.key=<base64 of the public key line>), so one cached image serves every test bed
chroot "$root" useradd --create-home --shell /bin/bash --groups sudo admin
chroot "$root" usermod --password '*' admin
echo 'admin ALL=(ALL) NOPASSWD: ALL' > "$root/etc/sudoers.d/admin"
chmod 0440 "$root/etc/sudoers.d/admin"
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
# each VM makes its own host key at first boot; only ed25519, as RSA key generation takes
# most of a minute under emulation
cat > "$root/etc/systemd/system/ssh.service.d/keys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'test -f /etc/ssh/ssh_host_ed25519_key || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key'
UNIT
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\n' > "$root/etc/ssh/sshd_config.d/hostkey.conf"
: > "$root/etc/machine-id"
# the initrd must find the root disk on virtio
printf "virtio_pci\nvirtio_blk\nvirtio_net\n" >> "$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -u -k all >/dev/null 2>&1
cp "$(ls "$root"/boot/vmlinuz-* | tail -1)" "$work/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | tail -1)" "$work/initrd.img"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
mkfs.ext4 -q -F -L hive-root -d "$root" "$work/root.raw" 6G
qemu-img convert -O qcow2 "$work/root.raw" "$work/root.qcow2"
rm -f "$work/root.raw"
rm -rf "$root"
mv "$work" "$out"
