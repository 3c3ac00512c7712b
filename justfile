# Nix tasks for the fleet flake. `just` lists them.
# Offline (no binary cache, no internet): only the eval-* and test* recipes
# work; check/build/vm-test need full nixpkgs and run in CI
# (.github/workflows/nix.yml runs `nix develop -c just <recipe>`).

set shell := ["bash", "-euo", "pipefail", "-c"]

# Flags that swap full nixpkgs for nixpkgs.lib when the offline helpers exist
# (FLEET_SHARED, default ../shared); online (CI, FLEET_NIX_ONLINE=1) none.
shared := env_var_or_default("FLEET_SHARED", "../shared")
offline := `if [ "${FLEET_NIX_ONLINE:-}" != 1 ] && f=$(python3 "${FLEET_SHARED:-../shared}/nix-offline/nix_offline.py" flags 2>/dev/null); then echo $f --no-write-lock-file; fi`

default:
    @just --list

# Everything nix knows how to check: eval checks, clan's VM test of testvm (online; needs the vars store: `just ci-vars` in CI, `clan vars generate` for real).
check:
    nix flake check -L

# Build every NixOS toplevel, and every darwin system when on macOS (online). Host lists come from the flake.
build:
    #!/usr/bin/env bash
    set -euo pipefail
    for m in $(nix eval --json .#nixosConfigurations --apply builtins.attrNames | jq -r '.[]'); do
      nix build -L --no-link ".#nixosConfigurations.$m.config.system.build.toplevel"
    done
    if [ "$(uname -s)" = Darwin ]; then
      for m in $(nix eval --json .#darwinConfigurations --apply builtins.attrNames | jq -r '.[]'); do
        nix build -L --no-link ".#darwinConfigurations.$m.system"
      done
    fi

# The tests that run here and in CI alike: the nix tier (assertions, vars, data, darwin values) and the secret scan.
# With .venv (scripts/setup) through scripts/test; in CI's fresh checkout (no .venv) with the devShell's python.
test:
    #!/usr/bin/env bash
    set -euo pipefail
    paths=(tests/nix tests/test_no_plaintext_secrets.py)
    if [ -e .venv/bin/activate ]; then
      FLEET_SHARED={{shared}} scripts/test "${paths[@]}" -q
    else
      FLEET_SHARED={{shared}} python -m pytest "${paths[@]}" -q
    fi

# The offline tier's first-build check only (every darwin host and HM user's assertions and warnings).
test-assertions:
    FLEET_SHARED={{shared}} scripts/test tests/nix/test_assertions.py -q

# CI only: put the vars fixture (test identity fleet-ci-fixture) where clan reads vars; refuses over a real store.
ci-vars:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "${CI:-}" != true ] && [ "${FLEET_CI_VARS:-}" != 1 ]; then
      echo "ci-vars: refusing outside CI (CI=true): this would put the test identity fleet-ci-fixture where clan reads the real vars store; run 'clan vars generate' for real vars, or set FLEET_CI_VARS=1 in a throwaway checkout" >&2
      exit 1
    fi
    for d in vars/per-machine vars/shared sops; do
      if [ -e "$d" ]; then
        echo "ci-vars: $d already exists (a real vars store?); expected a checkout without vars; remove it or skip ci-vars" >&2
        exit 1
      fi
    done
    cp -r tests/nix/vars-fixture/store/vars/per-machine tests/nix/vars-fixture/store/vars/shared vars/
    cp -r tests/nix/vars-fixture/store/sops sops
    # Flakes see only files git knows: stage (never commit) the copies in the CI checkout.
    git add vars/per-machine vars/shared sops

# CI only: the darwin build matrix (machine names from the flake) as a GitHub step output; prints it without CI.
ci-darwin-matrix:
    echo "darwin=$(nix eval --json {{offline}} .#darwinConfigurations --apply builtins.attrNames)" >> "${GITHUB_OUTPUT:-/dev/stdout}"

# Format the tree (treefmt via treefmt-nix: nixfmt, shellcheck, ruff).
fmt:
    nix fmt

# Fail when formatting would change a file (online; not gating until the first `nix fmt` is committed).
fmt-check:
    nix fmt -- --fail-on-change

# Evaluate what evaluates without full nixpkgs: inventory, resolved service roles, fleet data, host lists.
eval-offline:
    nix eval --json {{offline}} .#clan.inventory.machines --apply builtins.attrNames
    nix eval --json {{offline}} .#fleet.serviceRoles
    nix eval --json {{offline}} .#fleet.firewall
    nix eval --json {{offline}} .#fleet.generators --apply builtins.attrNames
    nix eval --json {{offline}} .#fleetChecks.disko --apply builtins.attrNames
    nix eval --json {{offline}} .#nixosConfigurations --apply builtins.attrNames
    nix eval --json {{offline}} .#darwinConfigurations --apply builtins.attrNames

# Which clan service roles each machine holds (machine -> instance -> roles).
service-roles:
    nix eval --json {{offline}} .#fleet.serviceRoles

# The nix-core pytest suites (offline).
test-nix:
    . .venv/bin/activate && python -m pytest tests/nix/test_inventory_services.py tests/nix/test_vars_generators.py tests/nix/test_nixos_data.py tests/test_no_plaintext_secrets.py -q

# shellcheck every vars generator script.
shellcheck:
    shellcheck vars/generators/*.sh

# Build one NixOS machine's system closure (online).
build-nixos machine:
    nix build --no-link --print-out-paths .#nixosConfigurations.{{machine}}.config.system.build.toplevel

# Build one darwin machine's system (online; needs a darwin builder).
build-darwin machine:
    nix build --no-link --print-out-paths .#darwinConfigurations.{{machine}}.system

# Build every NixOS machine (online).
build-all-nixos:
    for m in $(nix eval --json .#nixosConfigurations --apply builtins.attrNames | jq -r '.[]'); do just build-nixos "$m"; done

# clan's NixOS VM test of testvm (online, needs KVM).
vm-test:
    nix build -L .#checks.x86_64-linux.testvm

# Build the documentation site (reference pages regenerated from the code) into docs/site/dist.
docs:
    docs/site/scripts/build

# Serve the built documentation site at http://localhost:4321/.
docs-serve: docs
    cd docs/site && npx astro preview --host 127.0.0.1 --port 4321
