# `fleet.disks.<machine>`: the root disk device of each NixOS server, a host
# fact set in that machine's file (modules/machines/nixos/<name>.nix). Typed
# here so the per-machine definitions merge into one attribute set.
{ lib, ... }:
{
  options.flake.fleet = lib.mkOption {
    type = lib.types.submodule {
      options.disks = lib.mkOption {
        type = lib.types.attrsOf lib.types.str;
        default = { };
        description = "Root disk device per NixOS machine (host fact), consumed by the disko-luks aspect.";
      };
    };
  };
}
