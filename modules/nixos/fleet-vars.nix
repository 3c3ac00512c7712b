# Aspect `fleet-vars`: declares this flake's own vars generators
# (fleet.generators, modules/vars/generators.nix) that apply to the machine by
# its inventory tags (e.g. luks-root and initrd-ssh on `server`, the
# hetzner/gcp API tokens on `hetzner`/`gcp`). Services declare theirs themselves.
{ config, lib, ... }:
let
  flakeConfig = config;
  varsLib = import ../vars/_lib.nix { inherit lib; };
in
{
  flake.modules.nixos.fleet-vars =
    { config, pkgs, ... }:
    let
      machine = config.clan.core.settings.machine.name;
      tags = flakeConfig.flake.clan.inventory.machines.${machine}.tags;
      applicable = varsLib.generatorsForTags flakeConfig.flake.fleet.generators tags;
    in
    {
      clan.core.vars.generators = lib.mapAttrs (_: gen: varsLib.toClanGenerator { inherit gen pkgs; }) applicable;
    };
}
