# electrum: Hetzner Cloud CX53.
# Tags, deploy target and phase live in modules/clan/inventory/machines.nix.
{ config, ... }:
{
  flake.fleet.disks.electrum = "/dev/sda";
  clan.machines.electrum = {
    imports = with config.flake.modules.nixos; [
      base
      hardware-hetzner-cloud
    ];
    nixpkgs.hostPlatform = "x86_64-linux";
  };
}
