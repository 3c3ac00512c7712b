# blackphos: a macOS workstation following the shared pattern (Apple silicon).
{ config, ... }:
{
  clan.machines.blackphos = {
    imports = [ config.flake.modules.darwin.workstation ];
    nixpkgs.hostPlatform = "aarch64-darwin";
    homebrew.casks = [ "docker-desktop" ];
  };
  flake.fleet.legacyBaseline.blackphos = "blackphos";
}
