# cinnabar: Hetzner Cloud CX53, the ZeroTier controller.
# Tags, deploy target and phase live in modules/clan/inventory/machines.nix.
{ config, ... }:
{
  flake.fleet.disks.cinnabar = "/dev/sda";
  clan.machines.cinnabar = {
    imports = with config.flake.modules.nixos; [
      base
      hardware-hetzner-cloud
    ];
    nixpkgs.hostPlatform = "x86_64-linux";
  };
}
