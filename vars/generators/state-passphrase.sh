#!/usr/bin/env bash
# Generator `terraform-state`: the passphrase OpenTofu's state and plan
# encryption derives its key from (pbkdf2). Never deployed to a machine; the
# terraform wrapper exports it as TF_VAR_state_passphrase from clan vars.
set -euo pipefail
: "${out:?clan sets \$out to the generator output directory}"
# 48 base64 characters = 36 random bytes; OpenTofu requires at least 16.
openssl rand -base64 36 | tr -d '\n' >"$out/passphrase"
