# galena: GCP CPU node (toggleable in terranix).
# Tags, deploy target and phase live in modules/clan/inventory/machines.nix.
{ config, ... }:
{
  flake.fleet.disks.galena = "/dev/sda";
  clan.machines.galena = {
    imports = with config.flake.modules.nixos; [
      base
      hardware-gcp
    ];
    nixpkgs.hostPlatform = "x86_64-linux";
  };
}
