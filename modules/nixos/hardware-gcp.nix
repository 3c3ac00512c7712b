# Aspect `hardware-gcp`: a GCE VM. srvos has no GCP profile and nixpkgs'
# virtualisation/google-compute-config.nix sets fileSystems."/" (by-label
# nixos) and the GRUB device at normal priority, which collide with the
# disko-luks layout; so this aspect takes only what a LUKS-on-disko GCE VM
# needs: the qemu guest profile (virtio drivers, also in the initrd for the
# unlock SSH), the serial console and GCE's metadata time server and MTU.
# Every GCE node has a vTPM (modules/terranix/gcp.nix turns it on for each), so
# this aspect also brings `tpm-unlock`: the LUKS root opens itself after GCE
# restarts the VM (the initrd SSH unlock stays as the fallback).
{ config, ... }:
let
  inherit (config.flake.modules.nixos) tpm-unlock;
in
{
  flake.modules.nixos.hardware-gcp =
    { modulesPath, ... }:
    {
      imports = [
        "${modulesPath}/profiles/qemu-guest.nix"
        tpm-unlock
      ];
      boot.initrd.availableKernelModules = [
        "virtio_scsi"
        "virtio_net"
        "virtio_pci"
      ];
      boot.kernelParams = [ "console=ttyS0" ];
      networking.timeServers = [ "metadata.google.internal" ];
      # GCE's VPC MTU; every interface name matched, addresses by DHCP.
      systemd.network.networks."10-uplink" = {
        matchConfig.Name = "en* eth*";
        networkConfig.DHCP = "yes";
        linkConfig.MTUBytes = "1460";
      };
    };
}
