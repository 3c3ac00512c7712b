# The home of every workstation user: all shared home aspects. Per-user
# differences come from the user's facts (`fleetUser`, modules/users/<name>.nix).
{ config, ... }:
let
  hm = config.flake.modules.homeManager;
in
{
  flake.modules.homeManager.default = {
    imports = [
      hm.base
      hm.shell
      hm.git
      hm.terminal-tools
      hm.terminals
      hm.editors
      hm.ai-tools
      hm.packages
      hm.fonts
      hm.dotfiles
      hm.secrets
    ];
  };
}
