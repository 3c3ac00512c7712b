# testvm: local QEMU test VM (virtio disk).
# Tags, deploy target and phase live in modules/clan/inventory/machines.nix.
{ config, ... }:
{
  flake.fleet.disks.testvm = "/dev/vda";
  clan.machines.testvm = {
    imports = with config.flake.modules.nixos; [
      base
      hardware-qemu
    ];
    nixpkgs.hostPlatform = "x86_64-linux";
  };
}
