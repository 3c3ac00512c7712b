# stibnite: the primary workstation (Apple silicon). Containers run in a colima
# incus VM instead of Docker Desktop; Linux builds are not done in a local VM
# (see docs/baseline-decisions.yml, nix-rosetta-builder).
{ config, ... }:
{
  clan.machines.stibnite = {
    imports = with config.flake.modules.darwin; [
      workstation
      colima
    ];
    nixpkgs.hostPlatform = "aarch64-darwin";
    homebrew.brews = [ "incus" ];
    nix.linux-builder.enable = false;
    services.colima = {
      enable = true;
      runtime = "incus";
      profile = "default";
      autoStart = false;
      cpu = 12;
      memory = 48;
      disk = 500;
      arch = "aarch64";
      vmType = "vz";
      rosetta = true;
      mountType = "virtiofs";
    };
  };
  # Users of this host (legacy: crs58 (nix-darwin), raquel and runner (standalone home-manager)).
  flake.fleet.hostUsers.stibnite = [
    "crs58"
    "raquel"
    "runner"
  ];
  flake.fleet.legacyBaseline.stibnite = "stibnite";
}
