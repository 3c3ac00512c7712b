# argentum: a macOS workstation following the shared pattern (Apple silicon).
{ config, ... }:
{
  clan.machines.argentum = {
    imports = [ config.flake.modules.darwin.workstation ];
    nixpkgs.hostPlatform = "aarch64-darwin";
    homebrew.casks = [ "docker-desktop" ];
  };
  # Users of this host (new host, no legacy configuration: ASSUMED the blackphos set; the owner confirms (docs/baseline-decisions.yml new-host-users)).
  flake.fleet.hostUsers.argentum = [
    "crs58"
    "raquel"
    "runner"
  ];
  flake.fleet.legacyBaseline.argentum = "blackphos";
}
