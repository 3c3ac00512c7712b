#!/usr/bin/env bash
# Generator `user-password-<user>`: the account password (prompted; generated
# when the prompt is left empty) and its crypt(3) hash, which is the only
# part deployed (neededFor = "users").
set -euo pipefail
: "${out:?clan sets \$out to the generator output directory}"
prompted=""
if [[ -n "${prompts:-}" && -f "$prompts/user-password" ]]; then
  prompted="$(cat "$prompts/user-password")"
fi
if [[ -n "$prompted" ]]; then
  printf '%s' "$prompted" >"$out/user-password"
else
  openssl rand -base64 24 | tr -d '\n' >"$out/user-password"
fi
mkpasswd --method=yescrypt --stdin <"$out/user-password" | tr -d '\n' >"$out/user-password-hash"
