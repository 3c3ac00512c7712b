#!/usr/bin/env bash
# Generator `zerotier-network-<instance>` (shared): the network id, derived
# from the controller's identity. CONTROLLER_GENERATOR names the controller's
# identity generator (exported by the Nix side).
set -euo pipefail
: "${in:?clan sets \$in to the dependency directory}"
: "${out:?clan sets \$out to the generator output directory}"
: "${CONTROLLER_GENERATOR:?CONTROLLER_GENERATOR must be set by the Nix wrapper}"
zerotier-generate --mode network-id \
  --identity-secret-file "$in/$CONTROLLER_GENERATOR/identity-secret" \
  --network-id "$out/network-id"
