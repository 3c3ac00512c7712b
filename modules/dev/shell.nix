# Local–CI parity: one devShell with every tool the justfile and the workflows
# call, and `nix fmt` (treefmt through treefmt-nix). CI runs
# `nix develop -c just <recipe>` (.github/workflows/nix.yml), so a recipe that
# works in `nix develop` locally works in CI.
{ inputs, ... }:
{
  imports = [ inputs.treefmt-nix.flakeModule ];

  perSystem =
    {
      config,
      inputs',
      pkgs,
      ...
    }:
    {
      treefmt = {
        projectRootFile = "flake.nix";
        programs.nixfmt.enable = true;
        programs.shellcheck.enable = true;
        programs.ruff-format.enable = true;
        settings.global.excludes = [
          "tests/nix/vars-fixture/store/**"
          "flake.lock"
        ];
        # Not a flake check yet: nixfmt cannot run offline, so the tree has never
        # been formatted by it; `just fmt-check` gates once an online `nix fmt`
        # run is committed (docs/VERIFICATION.md).
        flakeCheck = false;
      };

      devShells.default = pkgs.mkShell {
        packages = [
          config.treefmt.build.wrapper
          inputs'.clan-core.packages.clan-cli
          pkgs.just
          pkgs.jq
          pkgs.git
          pkgs.shellcheck
          pkgs.opentofu
          pkgs.sops
          pkgs.age
          pkgs.bubblewrap
          pkgs.openssh
          pkgs.mkpasswd
          pkgs.openssl
          # `just test` in CI (no .venv there): pytest and what the tests import.
          (pkgs.python3.withPackages (ps: [ ps.pytest ps.pyyaml ]))
          pkgs.uv
        ];
      };
    };
}
