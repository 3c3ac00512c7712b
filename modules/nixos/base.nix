# Aspect `base`: what every NixOS server is. Machine files
# (modules/machines/nixos/<name>.nix) import `base` plus a hardware aspect and
# set only host facts (platform, disk).
{ config, ... }:
let
  nixos = config.flake.modules.nixos;
in
{
  flake.modules.nixos.base =
    { config, ... }:
    {
      imports = [
        nixos.srvos-server
        nixos.firewall
        nixos.fleet-vars
        nixos.disko-luks
        nixos.remote-unlock
        nixos.fleet-hosts
      ];
      # <machine>.<clan domain>: the name the SSH host certificates are for.
      networking.domain = config.clan.core.settings.domain;
      networking.useNetworkd = true;
      nix.settings.experimental-features = [
        "nix-command"
        "flakes"
      ];
      # First release these machines were installed with; never bump casually.
      system.stateVersion = "25.11";
    };
}
