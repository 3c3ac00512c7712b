#!/usr/bin/env bash
# Generators whose files are exactly what the operator enters at clan's prompt
# (cloud API tokens, the GCP project id, the bootstrap SSH public key): each
# prompt `<name>` becomes the output file `<name>`. An empty prompt is refused,
# because an empty credential would only fail later, inside OpenTofu.
set -euo pipefail
: "${out:?clan sets \$out to the generator output directory}"
: "${prompts:?clan sets \$prompts to the prompt directory}"
found=0
for prompt in "$prompts"/*; do
  [[ -e "$prompt" ]] || continue
  name=$(basename "$prompt")
  value=$(cat "$prompt")
  if [[ -z "$value" ]]; then
    echo "prompted-value: the prompt '$name' is empty; run 'clan vars generate' again and enter it" >&2
    exit 1
  fi
  printf '%s' "$value" >"$out/$name"
  found=1
done
if [[ "$found" -eq 0 ]]; then
  echo "prompted-value: no prompts in \$prompts; the generator must declare the prompt it copies" >&2
  exit 1
fi
