# Nix daemon settings of every workstation: features, GC, store optimisation,
# binary caches, and the flake's nixpkgs pinned into NIX_PATH and the registry.
{ inputs, ... }:
{
  flake.modules.darwin.nix-settings =
    { config, lib, ... }:
    {
      nixpkgs.config = {
        allowBroken = true;
        allowUnfree = true;
        allowUnsupportedSystem = true;
      };

      nix.settings = {
        accept-flake-config = true;
        build-users-group = "nixbld";
        # A list: clan-core also defines this setting, and lists merge.
        experimental-features = [
          "nix-command"
          "flakes"
          "auto-allocate-uids"
        ];
        extra-platforms = "aarch64-darwin x86_64-darwin";
        # Keep 5 GiB free; collect up to 10 GiB when space runs low.
        min-free = 5368709120;
        max-free = 10737418240;
        max-jobs = "auto";
        trusted-users = [
          "root"
          config.system.primaryUser
        ];
        # An empty global registry: only the pinned `nixpkgs` entry below resolves.
        flake-registry = builtins.toFile "empty-flake-registry.json" (
          builtins.toJSON {
            flakes = [ ];
            version = 2;
          }
        );
        substituters = [
          "https://cache.nixos.org"
          "https://nix-community.cachix.org"
          "https://cameronraysmith.cachix.org"
          "https://poetry2nix.cachix.org"
          "https://pyproject-nix.cachix.org"
          "https://om.cachix.org"
          "https://catppuccin.cachix.org"
        ];
        trusted-public-keys = [
          "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
          "nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs="
          "cameronraysmith.cachix.org-1:aC8ZcRCVcQql77Qn//Q1jrKkiDGir+pIUjhUunN6aio="
          "poetry2nix.cachix.org-1:eXpeBJl0EQjO+vs9/1cUq19BH1LLKQT9HScbJDeeHaA="
          "pyproject-nix.cachix.org-1:UNzugsOlQIu2iOz0VyZNBQm2JSrL/kwxeCcFGw+jMe0="
          "om.cachix.org-1:ifal/RLZJKN4sbpScyPGqJ2+appCslzu7ZZF/C01f2Q="
          "catppuccin.cachix.org-1:noG/4HkbhJb+lUAdKrph6LaozJvAeEEZj4N732IysmU="
        ];
      };

      # Weekly GC, Friday 21:00 local time.
      nix.gc = {
        automatic = true;
        interval = {
          Weekday = 5;
          Hour = 21;
          Minute = 0;
        };
        options = "--delete-older-than 14d";
      };
      nix.optimise.automatic = true;

      # `nix-shell -p` and `nix run nixpkgs#...` use the same nixpkgs as the system.
      nix.nixPath = lib.mkForce [ "nixpkgs=${inputs.nixpkgs}" ];
      nix.registry.nixpkgs.flake = inputs.nixpkgs;
    };
}
