# Declares `flake.fleet`: fleet-wide facts that are not part of clan's inventory
# schema (ports, the firewall's public surface, the secret generators as data).
# Nix modules, terranix and the Ansible side (through `nix eval .#fleet`) all
# read these values from here; none of them repeat the numbers.
{ lib, ... }:
{
  options.flake.fleet = lib.mkOption {
    type = lib.types.submodule {
      freeformType = lib.types.lazyAttrsOf lib.types.raw;
    };
    default = { };
    description = "Fleet-wide facts shared by NixOS, nix-darwin, terranix and the Ansible control plane.";
  };
}
