#!/usr/bin/env bash
# Generator `zerotier-identity-<machine>` (darwin side): the ZeroTier identity
# keypair. Same tool and arguments as clan-core's zerotier service uses on
# NixOS (zerotier-generate from clan-core's zerotier-tools package).
set -euo pipefail
: "${out:?clan sets \$out to the generator output directory}"
zerotier-generate --mode identity-only --identity-secret "$out/identity-secret"
