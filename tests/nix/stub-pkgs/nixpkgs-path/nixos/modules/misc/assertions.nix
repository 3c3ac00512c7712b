# TEST-ONLY: home-manager imports `pkgs.path + "/nixos/modules/misc/assertions.nix"`.
# Offline there is no nixpkgs tree, so this declares the same two options
# (`assertions`, `warnings`) with nixpkgs' types, for the stand-in pkgs.
{ lib, ... }:
{
  options = {
    assertions = lib.mkOption {
      type = lib.types.listOf lib.types.unspecified;
      internal = true;
      default = [ ];
    };
    warnings = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      internal = true;
      default = [ ];
    };
  };
}
