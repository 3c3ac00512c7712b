# Aspect `srvos-server`: srvos' server profile (sane server defaults: UTC,
# firewall on, no docs/fonts, immutable users, sudo for wheel, sshd).
{ inputs, ... }:
{
  flake.modules.nixos.srvos-server.imports = [ inputs.srvos.nixosModules.server ];
}
