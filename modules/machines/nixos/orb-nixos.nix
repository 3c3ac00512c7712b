# orb-nixos: GCP e2-micro.
# Tags, deploy target and phase live in modules/clan/inventory/machines.nix.
{ config, ... }:
{
  flake.fleet.disks.orb-nixos = "/dev/sda";
  clan.machines.orb-nixos = {
    imports = with config.flake.modules.nixos; [
      base
      hardware-gcp
    ];
    nixpkgs.hostPlatform = "x86_64-linux";
  };
}
