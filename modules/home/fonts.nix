# Fonts come from nix, not from Homebrew font casks (the legacy manageFonts =
# false): home-manager links them into ~/Library/Fonts/HomeManager, and
# fontconfig finds them for the nix-built programs.
{
  flake.modules.homeManager.fonts =
    { lib, pkgs, ... }:
    {
      fonts.fontconfig.enable = true;
      home.packages = map (name: lib.getAttrFromPath (lib.splitString "." name) pkgs) [
        "noto-fonts-color-emoji"
        "fira-code"
        "cascadia-code"
        "monaspace"
        "nerd-fonts.monaspace"
        "inconsolata"
        "nerd-fonts.inconsolata"
        "jetbrains-mono"
        "nerd-fonts.jetbrains-mono"
      ];
    };
}
