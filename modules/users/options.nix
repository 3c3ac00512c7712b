# Declares `flake.fleet.users`: who uses the workstations. The user facts live in
# one file per user (modules/users/<name>.nix; admin.nix is not a user, it
# derives `flake.fleet.admin` from them); the darwin `users` and
# `home-manager` aspects and the tests read them from here.
{ lib, ... }:
let
  userType = lib.types.submodule (
    { name, ... }:
    {
      options = {
        name = lib.mkOption {
          type = lib.types.str;
          default = name;
          description = "Login name.";
        };
        fullName = lib.mkOption { type = lib.types.str; };
        email = lib.mkOption { type = lib.types.str; };
        githubUser = lib.mkOption {
          type = lib.types.nullOr lib.types.str;
          default = null;
        };
        sopsIdentifier = lib.mkOption {
          type = lib.types.str;
          description = "Directory under secrets/users/ whose secrets this user decrypts.";
        };
        admin = lib.mkOption {
          type = lib.types.bool;
          default = false;
          description = "The workstation's primary user (nix-darwin `system.primaryUser`, trusted nix user).";
        };
        sshKeys = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ ];
          description = "Public SSH keys (authorized on the workstations; the admin's also for root).";
        };
        signingKey = lib.mkOption {
          type = lib.types.nullOr lib.types.str;
          default = null;
          description = "Public half of the user's SSH signing key (git, jj, radicle); the private half is a sops secret.";
        };
        home = lib.mkOption {
          type = lib.types.submodule {
            options = {
              extraPackages = lib.mkOption {
                type = lib.types.listOf lib.types.str;
                default = [ ];
                description = "nixpkgs attribute names added to this user's home.packages.";
              };
              neovimDistribution = lib.mkOption {
                type = lib.types.bool;
                default = true;
                description = "Whether the user gets the full neovim (LazyVim-style) setup.";
              };
              bash = lib.mkOption {
                type = lib.types.bool;
                default = false;
                description = "Whether home-manager also manages bash for this user.";
              };
            };
          };
          default = { };
        };
      };
    }
  );
in
{
  options.flake.fleet = lib.mkOption {
    type = lib.types.submodule {
      options.users = lib.mkOption {
        type = lib.types.attrsOf userType;
        default = { };
        description = "Workstation users, by login name.";
      };
    };
  };
}
