#!/usr/bin/env bash
# Build the rehearsal stand-ins' container image once, cache it, and import it
# into podman as localhost/fleet-standin:<key>.
#
# No container image can be pulled here (no registry), so the root filesystem
# is assembled from Debian packages with debootstrap, as tests/vm/build-image.sh
# does for the VM image, but without a kernel: systemd runs as the container's
# PID 1 (podman --systemd=always), sshd, python3 and nftables as on a server.
#
# The cache directory is keyed by a hash of this script: editing it rebuilds,
# anything else reuses. The tarball is kept in the cache, so a podman store
# that lost the image (podman system reset) re-imports it without debootstrap.
#
# Usage: tests/rehearsal/build-rootfs.sh             -> builds/imports if needed, prints the image name
#        tests/rehearsal/build-rootfs.sh --print-image -> prints the image name, builds nothing
# Env:   FLEET_STANDIN_CACHE cache root (default ${XDG_CACHE_HOME:-~/.cache}/fleet-standin)
#        FLEET_VM_MIRROR      Debian mirror (default: the first URI in this machine's apt sources)
set -euo pipefail

SUITE=bookworm
# A fleet server without a kernel: systemd as init, sshd, python3 for Ansible,
# nftables for the firewall, iproute2 for the mesh interface.
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,python3,sudo,iproute2,nftables,procps

script_path=$(readlink -f "$0")
cache_root=${FLEET_STANDIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fleet-standin}
key=$(sha256sum "$script_path" | cut -c1-16)
out="$cache_root/$key"
image="localhost/fleet-standin:$key"

if [[ ${1:-} == --print-image ]]; then
  echo "$image"
  exit 0
fi

import_image() {
  if ! podman image exists "$image"; then
    echo "build-rootfs: podman import $out/rootfs.tar as $image" >&2
    podman import --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
      "$out/rootfs.tar" "$image" >/dev/null
  fi
  echo "$image"
}

if [[ -f "$out/ready" ]]; then
  import_image
  exit 0
fi

default_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
mirror=${FLEET_VM_MIRROR:-$(default_mirror)}

for tool in debootstrap podman ssh-keygen flock; do
  command -v "$tool" >/dev/null || { echo "build-rootfs: $tool is not installed (apt-get install debootstrap podman openssh-client util-linux)" >&2; exit 2; }
done
if [[ $(id -u) -ne 0 ]]; then
  echo "build-rootfs: debootstrap and rootful podman need root; no cached image at $out" >&2
  exit 2
fi

mkdir -p "$cache_root/debs"
exec 9>"$cache_root/.lock"
flock 9
if [[ -f "$out/ready" ]]; then
  import_image
  exit 0
fi

work=$(mktemp -d "$cache_root/build.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
root="$work/root"

echo "build-rootfs: debootstrap $SUITE from $mirror into $root" >&2
debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$cache_root/debs" \
  "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 40 "$work/debootstrap.log" >&2
  exit 1
}

# The controller's login key lives only in the cache, never in the repository.
ssh-keygen -q -t ed25519 -N '' -C fleet-standin-controller -f "$work/id_ed25519"
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$work/id_ed25519.pub" "$root/root/.ssh/authorized_keys"

# Every stand-in creates its own host keys when sshd first starts, and gets
# its own machine-id from podman.
rm -f "$root"/etc/ssh/ssh_host_*
install -d "$root/etc/systemd/system/ssh.service.d"
cat >"$root/etc/systemd/system/ssh.service.d/10-hostkeys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# Units that have nothing to do in a container (no kernel, no consoles, no
# udev) and would otherwise sit failed, which service_health rightly reports.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
  getty@tty1.service console-getty.service systemd-networkd-wait-online.service systemd-remount-fs.service \
  systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service sys-kernel-config.mount \
  sys-kernel-debug.mount sys-kernel-tracing.mount systemd-sysctl.service systemd-firstboot.service \
  systemd-logind.service; do
  chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true
done
# The firewall starts empty; the stand-in's set-up writes the fleet ruleset.
chroot "$root" systemctl disable nftables.service >/dev/null 2>&1 || true
sed -i 's/^#\?DefaultTimeoutStopSec=.*/DefaultTimeoutStopSec=5s/' "$root/etc/systemd/system.conf"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

mkdir -p "$out"
tar -C "$root" --numeric-owner -cf "$work/rootfs.tar" .
mv "$work/rootfs.tar" "$work/id_ed25519" "$work/id_ed25519.pub" "$out/"
touch "$out/ready"
# Images and tarballs built by older versions of this script are never used again.
find "$cache_root" -mindepth 1 -maxdepth 1 -type d -regextype egrep -regex '.*/[0-9a-f]{16}' ! -path "$out" -exec rm -rf {} +
podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/fleet-standin:' | grep -vx "$image" \
  | xargs -r podman rmi >/dev/null 2>&1 || true
import_image
