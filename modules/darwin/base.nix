# What every nix-darwin machine of the fleet is: nix itself, zsh, Touch ID
# sudo, the accounts, and the state version.
{ config, ... }:
let
  darwin = config.flake.modules.darwin;
in
{
  flake.modules.darwin.base = {
    imports = [
      darwin.nix-settings
      darwin.shells
      darwin.security
      darwin.users
      darwin.fleet-hosts
    ];
    # Kept at the legacy value: stateVersion guards defaults (e.g. the nixbld
    # group id) that must not change under an existing installation.
    system.stateVersion = 4;
  };
}
