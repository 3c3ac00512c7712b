# blackphos: a macOS workstation following the shared pattern (Apple silicon).
{ config, ... }:
{
  clan.machines.blackphos = {
    imports = [ config.flake.modules.darwin.workstation ];
    nixpkgs.hostPlatform = "aarch64-darwin";
    homebrew.casks = [ "docker-desktop" ];
  };
  # Users of this host (legacy: crs58 (nix-darwin), raquel and runner (standalone home-manager)).
  flake.fleet.hostUsers.blackphos = [
    "crs58"
    "raquel"
    "runner"
  ];
  flake.fleet.legacyBaseline.blackphos = "blackphos";
}
