#!/usr/bin/env bash
# Generator `openssh-cert`: signs this machine's host key with the fleet CA so
# clients that trust the CA connect without TOFU prompts.
# Inputs: $in/openssh-ca/id_ed25519 and $in/openssh/ssh.id_ed25519.pub
# (generator dependencies); MACHINE and PRINCIPALS (comma-separated host
# names, e.g. "cinnabar.fleet") are exported by the Nix side before this runs.
set -euo pipefail
: "${in:?clan sets \$in to the dependency directory}"
: "${out:?clan sets \$out to the generator output directory}"
: "${MACHINE:?MACHINE (the certificate identity) must be set by the Nix wrapper}"
: "${PRINCIPALS:?PRINCIPALS (comma-separated host names) must be set by the Nix wrapper}"
# Sign a copy: ssh-keygen writes the certificate next to the public key and
# $in belongs to the dependencies.
work="$(mktemp -d)"
cp "$in/openssh/ssh.id_ed25519.pub" "$work/ssh.id_ed25519.pub"
ssh-keygen -q -s "$in/openssh-ca/id_ed25519" -I "$MACHINE" -h -n "$PRINCIPALS" "$work/ssh.id_ed25519.pub"
mv "$work/ssh.id_ed25519-cert.pub" "$out/ssh.id_ed25519-cert.pub"
rm -rf "$work"
