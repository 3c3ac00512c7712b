#!/usr/bin/env bash
# Generator `luks-root`: the LUKS passphrase of the root disk. Deployed before
# disko runs (neededFor = "partitioning") and typed over initrd SSH at boot.
# 48 random bytes, base64: 64 printable characters, no trailing newline, so
# the same bytes work as a key file and as a typed passphrase.
set -euo pipefail
: "${out:?clan sets \$out to the generator output directory}"
openssl rand -base64 48 | tr -d '\n' >"$out/key"
