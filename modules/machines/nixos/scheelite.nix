# scheelite: GCP GPU node (toggleable in terranix).
# Tags, deploy target and phase live in modules/clan/inventory/machines.nix.
{ config, ... }:
{
  flake.fleet.disks.scheelite = "/dev/sda";
  clan.machines.scheelite = {
    imports = with config.flake.modules.nixos; [
      base
      hardware-gcp
      nvidia-gpu
    ];
    nixpkgs.hostPlatform = "x86_64-linux";
  };
}
