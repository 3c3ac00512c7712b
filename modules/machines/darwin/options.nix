# Declares the per-host fact `flake.fleet.legacyBaseline.<host>`: which legacy
# workstation's baseline (legacy-workstations.json) the host must keep. The
# zero-regression review (roles/regression_verify) reads it with
# `nix eval .#fleet.legacyBaseline`; a darwin host without an entry fails the review.
{ lib, ... }:
{
  options.flake.fleet = lib.mkOption {
    type = lib.types.submodule {
      options.hostUsers = lib.mkOption {
        type = lib.types.attrsOf (lib.types.listOf lib.types.str);
        default = { };
        description = "Darwin host -> login names (modules/users/<name>.nix) that get an account and a home there. Written per host, never inherited; a darwin host without an entry fails to evaluate.";
      };
      options.legacyBaseline = lib.mkOption {
        type = lib.types.attrsOf lib.types.str;
        default = { };
        description = "Darwin host -> legacy host whose baseline it keeps (rosegold and argentum follow blackphos).";
      };
    };
  };
}
