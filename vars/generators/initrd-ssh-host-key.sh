#!/usr/bin/env bash
# Generator `initrd-ssh`: host key of the initrd SSH daemon used to unlock
# LUKS remotely. Separate from the system host key: the initrd image is
# readable on the unencrypted /boot, so this key must not be the system's.
set -euo pipefail
: "${out:?clan sets \$out to the generator output directory}"
ssh-keygen -t ed25519 -N "" -C "" -f "$out/id_ed25519" >/dev/null
