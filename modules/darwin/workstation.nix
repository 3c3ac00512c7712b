# The macOS workstation pattern: base plus Homebrew apps, macOS preferences
# and every user's home. blackphos, rosegold and argentum are exactly this plus
# their name; stibnite adds colima and its own Homebrew extras. The clan
# services (ZeroTier peer, sshd with the fleet CA, the admin account) come from
# the clan inventory by tag, not from here.
{ config, ... }:
let
  darwin = config.flake.modules.darwin;
in
{
  flake.modules.darwin.workstation = {
    imports = [
      darwin.base
      darwin.homebrew
      darwin.system-defaults
      darwin.home-manager
    ];
  };
}
