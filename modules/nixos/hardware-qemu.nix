# Aspect `hardware-qemu`: a local QEMU/KVM guest (testvm).
{
  flake.modules.nixos.hardware-qemu =
    { modulesPath, ... }:
    {
      imports = [ "${modulesPath}/profiles/qemu-guest.nix" ];
      systemd.network.networks."10-uplink" = {
        matchConfig.Name = "en* eth*";
        networkConfig.DHCP = "yes";
      };
    };
}
