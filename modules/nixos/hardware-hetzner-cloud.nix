# Aspect `hardware-hetzner-cloud`: srvos' Hetzner Cloud profile (qemu guest,
# cloud-init networking, qemu-guest-agent). Its root filesystem and GRUB
# device are mkDefault, so the disko-luks layout takes precedence.
{ inputs, ... }:
{
  flake.modules.nixos.hardware-hetzner-cloud.imports = [ inputs.srvos.nixosModules.hardware-hetzner-cloud ];
}
