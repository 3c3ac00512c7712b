# Nix tasks for the fleet flake. `just` lists them.
# Offline (no binary cache, no internet): only the eval-* and test-* recipes
# work; check/build/vm-test need full nixpkgs and run in CI
# (.github/workflows/nix.yml).

set shell := ["bash", "-euo", "pipefail", "-c"]

# Flags that swap full nixpkgs for nixpkgs.lib when ../shared/nix-offline exists.
offline := `if [ "${FLEET_NIX_ONLINE:-}" != 1 ] && f=$(python3 ../shared/nix-offline/nix_offline.py flags 2>/dev/null); then echo $f --no-write-lock-file; fi`

default:
    @just --list

# Everything nix knows how to check: formatter, eval checks, NixOS VM tests (online).
check:
    nix flake check

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
