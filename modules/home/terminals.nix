# Terminal emulators. Ghostty comes from its Homebrew cask (package = null);
# wezterm from nixpkgs (the wezterm@nightly cask is installed as well).
{
  flake.modules.homeManager.terminals = {
    programs.ghostty = {
      enable = true;
      package = null;
      settings = {
        auto-update = "download";
        auto-update-channel = "stable";
        cursor-click-to-move = true;
        font-family = "Monaspace Neon Nerd Font";
        font-size = 13;
        font-thicken = false;
        keybind = [
          "global:alt+backquote=toggle_quick_terminal"
        ];
        quick-terminal-position = "center";
        quick-terminal-size = "1000px,600px";
        shell-integration = "none";
        shell-integration-features = "no-cursor,sudo,title,ssh-env";
        theme = "light:Catppuccin Frappe,dark:Catppuccin Mocha";
        window-height = 30;
        window-padding-x = 8;
        window-padding-y = 8;
        window-width = 120;
      };
    };

    programs.wezterm = {
      enable = true;
      extraConfig = ''
        local wezterm = require("wezterm")
        local config = wezterm.config_builder()
        config.font = wezterm.font("Monaspace Neon Nerd Font")
        config.color_scheme = "Catppuccin Mocha"
        config.window_decorations = "RESIZE"
        config.font_size = 14
        config.line_height = 1.1
        config.hide_tab_bar_if_only_one_tab = true
        config.keys = {
          { key = "P", mods = "CTRL|SHIFT", action = wezterm.action.ActivateCommandPalette },
        }
        return config
      '';
    };
  };
}
