# Identity, locale, PATH additions and XDG for every user.
{
  flake.modules.homeManager.base =
    {
      config,
      lib,
      pkgs,
      fleetUser,
      ...
    }:
    {
      home.username = fleetUser.name;
      home.homeDirectory = "/Users/${fleetUser.name}";
      # Kept at the legacy value so home-manager keeps its defaults for existing state.
      home.stateVersion = "23.11";

      home.sessionVariables = {
        EDITOR = "nvim";
        LANG = "en_US.UTF-8";
        LC_ALL = "en_US.UTF-8";
        LC_CTYPE = "en_US.UTF-8";
        # Bitwarden desktop is the SSH agent (keys never leave the vault).
        SSH_AUTH_SOCK = "${config.home.homeDirectory}/Library/Containers/com.bitwarden.desktop/Data/.bitwarden-ssh-agent.sock";
      }
      # The non-admin users had standalone home-manager, which pinned <nixpkgs> per
      # user; the admin gets the same from the system's nix.nixPath.
      // lib.optionalAttrs (!fleetUser.admin) {
        NIX_PATH = "nixpkgs=${pkgs.path}";
      };
      home.sessionPath = [
        "/etc/profiles/per-user/$USER/bin"
        "/nix/var/nix/profiles/system/sw/bin"
        "/usr/local/bin"
      ];

      xdg.enable = true;
      # Replaces mac-app-util's trampolines: copies home-manager apps into
      # ~/Applications/Home Manager Apps so Spotlight and the Dock find them.
      targets.darwin.copyApps.enable = true;
      # home-manager enables linkApps by default for stateVersion < 25.11 and
      # asserts that only one of the two is on (targets/darwin/copyapps.nix).
      targets.darwin.linkApps.enable = false;
    };
}
