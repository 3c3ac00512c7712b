# The firewall policy as data, derived from `fleet.ports` and
# `fleet.publicSurface` (modules/fleet/ports.nix) by ./_firewall.nix. The
# NixOS firewall aspect (modules/nixos/firewall.nix), the tests and the
# Ansible firewall checks read `fleet.firewall`; none of them repeats a port.
{ config, lib, ... }:
{
  flake.fleet.firewall = import ./_firewall.nix { inherit lib; } {
    inherit (config.flake.fleet) ports publicSurface;
  };
}
