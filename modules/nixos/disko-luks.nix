# Aspect `disko-luks`: the LUKS root disk for servers, from the pure layout in
# ./_disko-luks-layout.nix. The LUKS passphrase is the vars generator
# `luks-root` (fleet.generators.luks-root, neededFor = "partitioning"), which
# clan uploads to /run/partitioning-secrets/ before disko formats.
# Host fact: `fleet.disks.<machine>` (the disk device), set in the machine file.
# (disko's NixOS module itself comes with clan-core's clanCore module.)
{ config, lib, ... }:
let
  flakeConfig = config;
  layout = import ./_disko-luks-layout.nix;
  # clan's sops/age backends place partitioning secrets here (clan-core
  # nixosModules/clanCore/vars/secret/sops/default.nix); the NixOS side
  # asserts the vars path is still this, so the data cannot silently drift.
  partitioningPath = machine: "/run/partitioning-secrets/per-machine/${machine}/luks-root/key";
in
{
  flake.fleet.disko = lib.mapAttrs (
    machine: device:
    layout {
      inherit device;
      passwordFile = partitioningPath machine;
    }
  ) (config.flake.fleet.disks or { });

  flake.modules.nixos.disko-luks =
    { config, ... }:
    let
      machine = config.clan.core.settings.machine.name;
      devices =
        flakeConfig.flake.fleet.disko.${machine}
          or (throw "disko-luks: machine '${machine}' has no disk device; set flake.fleet.disks.${machine} = \"/dev/...\" in modules/machines/nixos/${machine}.nix");
      keyPath = config.clan.core.vars.generators.luks-root.files.key.path;
    in
    {
      disko.devices = devices;
      assertions = [
        {
          assertion = keyPath == partitioningPath machine;
          message = "disko-luks on '${machine}': the LUKS passwordFile in fleet.disko is ${partitioningPath machine} but clan deploys vars luks-root/key to ${keyPath}; update partitioningPath in modules/nixos/disko-luks.nix";
        }
      ];
      boot.loader.grub = {
        enable = true;
        efiSupport = true;
        efiInstallAsRemovable = true;
      };
    };
}
