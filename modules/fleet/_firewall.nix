# Derives the firewall policy from the port table and the public surface
# (pure function; used by modules/fleet/firewall.nix, exposed for tests as
# `fleetLib.firewallFrom`).
{ lib }:
{ ports, publicSurface }:
let
  portOf =
    proto: name:
    ports.${name} or (throw "fleet.publicSurface.${proto} names port '${name}', but fleet.ports has no such entry (known: ${lib.concatStringsSep ", " (lib.attrNames ports)}); add it to modules/fleet/ports.nix");
in
{
  # Reachable from any interface (the internet).
  public = {
    tcp = map (portOf "tcp") publicSurface.tcp;
    udp = map (portOf "udp") publicSurface.udp;
  };
  # Everything else is accepted only on the ZeroTier mesh. ZeroTier names its
  # interfaces zt<hash>; "zt+" is the iptables/NixOS-firewall wildcard for them.
  meshInterfaces = [ "zt+" ];
  # The initrd SSH daemon (remote LUKS unlock) listens on the ssh port: no
  # system sshd runs yet, so it needs no extra public port.
  initrdSshPort = ports.ssh;
}
