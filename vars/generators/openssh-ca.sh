#!/usr/bin/env bash
# Generator `openssh-ca` (shared): the fleet's SSH certificate authority.
# The private half never leaves the admin's vars store (deploy = false); the
# public half is pinned as @cert-authority in every machine's known_hosts.
# Same command as clan-core's sshd service, so NixOS (clan-core sshd) and
# darwin (modules/clan/services/sshd.nix) agree on the shared generator.
set -euo pipefail
: "${out:?clan sets \$out to the generator output directory}"
ssh-keygen -t ed25519 -N "" -C "" -f "$out/id_ed25519" >/dev/null
