#!/usr/bin/env bash
# Build the Debian bookworm test-VM image once and cache it.
#
# No VM image can be downloaded here, so the image is assembled from Debian
# packages with debootstrap: a root filesystem in an ext4 image (mkfs.ext4 -d,
# no loop mount needed), plus the kernel and initramfs copied out for QEMU's
# direct kernel boot (-kernel/-initrd/-append root=/dev/vda).
#
# The cache directory is keyed by a hash of this script, so editing the script
# rebuilds the image and an unchanged script reuses it. VMs never write to the
# cached image: tests/vm/qemu.py boots copy-on-write qcow2 overlays on top.
#
# Usage: tests/vm/build-image.sh              -> builds if needed, prints the cache directory
#        tests/vm/build-image.sh --print-dir  -> prints the cache directory, builds nothing
# Env:   FLEET_VM_CACHE   cache root (default ${XDG_CACHE_HOME:-~/.cache}/fleet-vm)
#        FLEET_VM_MIRROR  Debian mirror (default: the first URI in this
#                         machine's apt sources, else http://deb.debian.org/debian)
set -euo pipefail

SUITE=bookworm
# The smallest set that can stand in for a fleet server: systemd as init,
# sshd, python3 for Ansible, nftables for the firewall, iproute2 for the mesh
# interface, a kernel and an initramfs for direct boot.
PACKAGES=systemd,systemd-sysv,udev,dbus,openssh-server,python3,sudo,iproute2,nftables,kmod,linux-image-amd64,initramfs-tools,procps
IMAGE_SIZE=2G

script_path=$(readlink -f "$0")
cache_root=${FLEET_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fleet-vm}
key=$(sha256sum "$script_path" | cut -c1-16)
out="$cache_root/$key"

if [[ ${1:-} == --print-dir ]]; then
  echo "$out"
  exit 0
fi
if [[ -f "$out/ready" ]]; then
  echo "$out"
  exit 0
fi

default_mirror() {
  # deb822 "URIs: <uri>" or one-line "deb [opts] <uri> <suite>": take the first
  # plain Debian archive URI (not debian-security).
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
mirror=${FLEET_VM_MIRROR:-$(default_mirror)}

for tool in debootstrap mkfs.ext4 qemu-img ssh-keygen flock; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is not installed (apt-get install debootstrap e2fsprogs qemu-utils openssh-client util-linux)" >&2; exit 2; }
done
if [[ $(id -u) -ne 0 ]]; then
  echo "build-image: debootstrap needs root (or run under fakeroot/unshare); no cached image at $out" >&2
  exit 2
fi

mkdir -p "$cache_root/debs"
# One builder at a time; a second caller waits and then reuses the result.
exec 9>"$cache_root/.lock"
flock 9
if [[ -f "$out/ready" ]]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d "$cache_root/build.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
root="$work/root"

echo "build-image: debootstrap $SUITE from $mirror into $root" >&2
debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$cache_root/debs" \
  "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 40 "$work/debootstrap.log" >&2
  exit 1
}

# The controller's login key lives only in the cache, never in the repository.
ssh-keygen -q -t ed25519 -N '' -C fleet-vm-controller -f "$work/id_ed25519"
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$work/id_ed25519.pub" "$root/root/.ssh/authorized_keys"

# Every VM gets its own host key at first boot (the overlays share one base
# image), and its own machine-id.
rm -f "$root"/etc/ssh/ssh_host_*
install -d "$root/etc/systemd/system/ssh.service.d"
cat >"$root/etc/systemd/system/ssh.service.d/10-hostkeys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

echo fleet-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 fleet-vm\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 defaults,noatime 0 1' >"$root/etc/fstab"

# eth0 is QEMU user networking (management + SSH port forward). eth1 (mesh)
# and eth2 (public link) get their addresses from Ansible, from inventory.
cat >"$root/etc/systemd/network/10-eth0.network" <<'EOF'
[Match]
Name=eth0

[Network]
DHCP=ipv4
LinkLocalAddressing=no
EOF
cat >"$root/etc/systemd/network/20-links.network" <<'EOF'
[Match]
Name=eth1 eth2

[Network]
LinkLocalAddressing=ipv6
IPv6AcceptRA=no
ConfigureWithoutCarrier=yes
EOF
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
# Boot faster under TCG: nothing here needs timers, wait-online or getty on tty1.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
  fstrim.timer systemd-networkd-wait-online.service getty@tty1.service; do
  chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true
done
# The firewall starts empty; the scenario's converge writes the fleet ruleset.
chroot "$root" systemctl disable nftables.service >/dev/null 2>&1 || true
# Don't wait 90 s on shutdown; the tests kill VMs anyway.
sed -i 's/^#\?DefaultTimeoutStopSec=.*/DefaultTimeoutStopSec=5s/' "$root/etc/systemd/system.conf"

install -d "$work/boot"
cp "$(readlink -f "$root/vmlinuz")" "$work/boot/vmlinuz"
cp "$(readlink -f "$root/initrd.img")" "$work/boot/initrd.img"
chmod 0644 "$work/boot/vmlinuz" "$work/boot/initrd.img"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

mkfs.ext4 -q -F -L root -d "$root" "$work/rootfs.raw" "$IMAGE_SIZE"
qemu-img convert -q -O qcow2 "$work/rootfs.raw" "$work/rootfs.qcow2"

mkdir -p "$out"
mv "$work/boot/vmlinuz" "$work/boot/initrd.img" "$work/rootfs.qcow2" "$work/id_ed25519" "$work/id_ed25519.pub" "$out/"
chmod 0444 "$out/rootfs.qcow2"
touch "$out/ready"
# Images built by older versions of this script are never used again.
find "$cache_root" -mindepth 1 -maxdepth 1 -type d -regextype egrep -regex '.*/[0-9a-f]{16}' ! -path "$out" -exec rm -rf {} +
echo "$out"
