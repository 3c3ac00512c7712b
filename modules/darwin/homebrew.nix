# Homebrew: the GUI apps, App Store apps and the few brews that nix does not ship
# well on macOS. Hosts add their own extras (`homebrew.casks`/`brews` merge).
# Fonts come from nix (see the home `fonts` aspect), not from font casks.
{
  flake.modules.darwin.homebrew = {
    homebrew = {
      enable = true;
      global.autoUpdate = true;
      # `uninstall`: anything not listed here is removed on activation, so the
      # lists below are the complete set of Homebrew software on the machine.
      onActivation = {
        autoUpdate = true;
        cleanup = "uninstall";
        upgrade = true;
      };
      caskArgs.no_quarantine = true;
      taps = [ "humanlayer/humanlayer" ];
      brews = [
        "mas"
        "pinentry-mac"
      ];
      casks = [
        "aldente"
        "alt-tab"
        "betterdisplay"
        "calibre"
        "claude"
        "cyberduck"
        "discord"
        "fork"
        "ghostty"
        "helium-browser"
        "logseq"
        "neohtop"
        "obs"
        "opcode"
        "orbstack"
        "raindropio"
        "raycast"
        "skim"
        "slack"
        "soundsource"
        "stats"
        "tableplus"
        "visual-studio-code"
        "wezterm@nightly"
        "zed"
        "zen"
        "zoom"
        "zotero"
        "codelayer-nightly"
        "dbeaver-community"
        "gpg-suite"
        "inkscape"
        "keycastr"
        "meld"
        "postgres-unofficial"
      ];
      masApps = {
        bitwarden = 1352778147;
        save-to-raindrop-io = 1549370672;
        whatsapp = 310633997;
      };
    };
  };
}
