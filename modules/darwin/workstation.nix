# The macOS workstation pattern: blackphos, rosegold and argentum are exactly
# this plus their name; stibnite adds colima and its own Homebrew extras.
# Also pulls in the clan services' darwin parts where the nix-core engineer's
# modules provide them (ZeroTier, sshd CA), see docs/DARWIN-REGRESSION.md.
{ config, ... }:
{
  flake.modules.darwin.workstation = {
    imports = [ config.flake.modules.darwin.base ];
  };
}
