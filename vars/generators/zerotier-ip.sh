#!/usr/bin/env bash
# Generator `zerotier-ip-<machine>-<instance>` (shared, public): the
# machine's mesh address. The controller reads these public values to admit
# members by identity, so no one types an address or runs a manual join.
set -euo pipefail
: "${in:?clan sets \$in to the dependency directory}"
: "${out:?clan sets \$out to the generator output directory}"
: "${IDENTITY_GENERATOR:?IDENTITY_GENERATOR must be set by the Nix wrapper}"
: "${NETWORK_GENERATOR:?NETWORK_GENERATOR must be set by the Nix wrapper}"
zerotier-generate --mode compute-ip \
  --identity-secret "$in/$IDENTITY_GENERATOR/identity-secret" \
  --network-id-file "$in/$NETWORK_GENERATOR/network-id" \
  --ip "$out/ip"
