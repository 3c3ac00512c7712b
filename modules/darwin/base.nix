# What every darwin workstation is: the shared aspects plus the state version.
# Host files (modules/machines/darwin/<name>.nix) import this and add only facts.
{ config, ... }:
let
  darwin = config.flake.modules.darwin;
in
{
  flake.modules.darwin.base = {
    imports = [
      darwin.nix-settings
      darwin.homebrew
      darwin.system-defaults
      darwin.security
      darwin.shells
      darwin.users
      darwin.home-manager
    ];
    # Kept at the legacy value: stateVersion guards defaults (e.g. the nixbld
    # group id) that must not change under an existing installation.
    system.stateVersion = 4;
  };
}
