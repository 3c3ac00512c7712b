# Editors: helix, zed (app from the Homebrew cask, package = null) and neovim.
# The legacy LazyVim-module input is not part of this flake; neovim is set up
# with home-manager's own module (see docs/baseline-decisions.yml, lazyvim).
{
  flake.modules.homeManager.editors =
    { pkgs, fleetUser, ... }:
    {
      programs.helix = {
        enable = true;
        settings = {
          editor = {
            lsp = {
              display-inlay-hints = true;
              display-messages = true;
              display-signature-help-docs = true;
            };
            true-color = true;
          };
          keys = {
            insert = {
              C-s = [
                ":write"
                "normal_mode"
              ];
              j = {
                j = "normal_mode";
              };
            };
            normal = {
              C-s = ":write";
            };
          };
        };
        extraPackages = [ pkgs.marksman ];
      };

      programs.zed-editor = {
        enable = true;
        extensions = [
          "catppuccin"
          "catppuccin-icons"
          "just"
          "nix"
          "rainbow-csv"
          "toml"
          "xml"
        ];
        package = null;
        userSettings = {
          agent_panel = {
            dock = "right";
          };
          base_keymap = "VSCode";
          buffer_font_size = 12;
          disable_ai = true;
          file_types = {
            Markdown = [
              "qmd"
            ];
          };
          icon_theme = "Catppuccin Mocha";
          languages = {
            Nix = {
              language_servers = [
                "nixd"
                "!nil"
              ];
            };
          };
          load_direnv = "shell_hook";
          outline_panel = {
            dock = "right";
          };
          project_panel = {
            dock = "left";
          };
          soft_wrap = "editor_width";
          tab_bar = {
            show = false;
          };
          tab_size = 2;
          theme = {
            dark = "Catppuccin Mocha";
            light = "Catppuccin Mocha";
            mode = "system";
          };
          ui_font_family = "Cascadia Code";
          ui_font_size = 14;
          vim_mode = true;
        };
      };

      programs.neovim = {
        enable = fleetUser.home.neovimDistribution;
        viAlias = true;
        vimAlias = true;
        plugins = with pkgs.vimPlugins; [
          lazy-nvim
          LazyVim
          catppuccin-nvim
          blink-cmp
          blink-copilot
          copilot-lua
          mini-surround
          yanky-nvim
          snacks-nvim
          sqlite-lua
          nvim-treesitter
        ];
      };
    };
}
