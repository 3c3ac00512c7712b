#!/usr/bin/env bash
# Runs on a rehearsal stand-in, as root, once, after tests/rehearsal/standins.py
# unpacked this host's tree into / (firewall, secrets list, stand-in tools).
# The addresses are podman's (tests/rehearsal/containers.py). Makes the
# pre-migration system generation 1 and activates it.
set -euo pipefail
host=$1 mesh_if=$2 mesh_addr=$3 pre_system=$4
# Secrets: owner and mode as the clan vars generators declare them.
while IFS=' ' read -r path owner mode; do
  [ -n "$path" ] || continue
  install -d -m 0751 "/run/secrets/$(dirname "$path")"
  printf 'rehearsal placeholder, not a secret\n' >"/run/secrets/$path"
  chown "$owner" "/run/secrets/$path"
  chmod "$mode" "/run/secrets/$path"
done </etc/fleet-standin/secrets.list
nft -c -f /etc/nftables.conf
systemctl enable --now nftables.service >/dev/null 2>&1
systemctl restart nftables.service
for _ in $(seq 30); do
  if ip -6 addr show dev "$mesh_if" | grep -q "$mesh_addr/.* scope global" &&
    ! ip -6 addr show tentative | grep -q scope; then break; fi
  sleep 1
done
chmod 0755 /usr/local/bin/* /nix/store/*/bin/switch-to-configuration
if [ ! -e /nix/var/nix/profiles/system-1-link ]; then
  nix-env -p /nix/var/nix/profiles/system --set "$pre_system"
  /nix/var/nix/profiles/system/bin/switch-to-configuration switch >/dev/null
fi
echo "stand-in $host ready: running $(readlink /run/current-system)"
