#!/usr/bin/env bash
# Generator `openssh`: the machine's persistent ed25519 SSH host key.
set -euo pipefail
: "${out:?clan sets \$out to the generator output directory}"
ssh-keygen -t ed25519 -N "" -C "" -f "$out/ssh.id_ed25519" >/dev/null
