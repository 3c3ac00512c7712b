# Aspect `firewall`: from outside only the public surface of `fleet.firewall`
# (derived from fleet.ports/fleet.publicSurface: SSH over TCP, ZeroTier over
# UDP); everything else only on the ZeroTier mesh interfaces.
# The public lists are forced so that no service module (clan-core's zerotier
# opens TCP 9993 too; openssh opens its port) can widen them by accident.
# Mesh-only services need no firewall change: the mesh is a trusted interface.
{ config, lib, ... }:
let
  inherit (config.flake.fleet) firewall;
in
{
  flake.modules.nixos.firewall =
    { config, ... }:
    {
      networking.firewall = {
        enable = true;
        allowedTCPPorts = lib.mkForce firewall.public.tcp;
        allowedUDPPorts = lib.mkForce firewall.public.udp;
        allowedTCPPortRanges = lib.mkForce [ ];
        allowedUDPPortRanges = lib.mkForce [ ];
        trustedInterfaces = firewall.meshInterfaces;
      };
      assertions = [
        {
          # "zt+" is the iptables wildcard; nftables spells it differently.
          assertion = !config.networking.nftables.enable;
          message = "firewall aspect on '${config.networking.hostName}': networking.nftables is enabled, but fleet.firewall.meshInterfaces uses the iptables wildcard ${toString firewall.meshInterfaces}; keep the iptables backend or translate the wildcard in modules/nixos/firewall.nix";
        }
      ];
    };
}
