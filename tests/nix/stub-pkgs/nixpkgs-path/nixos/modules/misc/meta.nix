# TEST-ONLY: stand-in for nixpkgs' nixos/modules/misc/meta.nix (see assertions.nix).
{ lib, ... }:
{
  options.meta = lib.mkOption {
    type = lib.types.submodule {
      freeformType = lib.types.lazyAttrsOf lib.types.raw;
      options = {
        maintainers = lib.mkOption {
          type = lib.types.listOf lib.types.raw;
          default = [ ];
        };
        teams = lib.mkOption {
          type = lib.types.listOf lib.types.raw;
          default = [ ];
        };
        doc = lib.mkOption {
          type = lib.types.raw;
          default = null;
        };
        buildDocsInSandbox = lib.mkOption {
          type = lib.types.bool;
          default = true;
        };
      };
    };
    default = { };
    internal = true;
  };
}
