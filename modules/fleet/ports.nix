# The ports the fleet exposes. The NixOS firewall, the terranix cloud firewalls
# and the Ansible firewall_verify role all derive their allow-lists from this.
{
  flake.fleet.ports = {
    ssh = 22;
    zerotier = 9993;
  };
  # What answers from outside the mesh; everything else only on the mesh interface.
  flake.fleet.publicSurface = {
    tcp = [ "ssh" ];
    udp = [ "zerotier" ];
  };
}
