# Terminal tools: tmux (with its plugins), file managers, pagers, monitors and the
# small CLI helpers that home-manager configures, plus gpg and its agent.
{
  flake.modules.homeManager.terminal-tools =
    { lib, pkgs, ... }:
    {
      # tmux-which-key rewrites its init.tmux and config.yaml under XDG; the copies
      # home-manager links are read-only, so make them writable after linking.
      home.activation.fixTmuxWhichKeyPermissions = lib.hm.dag.entryAfter [ "linkGeneration" ] ''
        for f in "$HOME/.local/share/tmux/plugins/tmux-which-key/init.tmux" "$HOME/.config/tmux/plugins/tmux-which-key/config.yaml"; do
          if [ -e "$f" ]; then run chmod u+w "$f" || true; fi
        done
      '';

      programs.tmux = {
        enable = true;
        baseIndex = 1;
        disableConfirmationPrompt = true;
        escapeTime = 10;
        historyLimit = 1000000;
        keyMode = "vi";
        newSession = true;
        secureSocket = false;
        shell = "${pkgs.zsh}/bin/zsh";
        shortcut = "a";
        terminal = "tmux-256color";
        plugins = [
          # Theme first: the status line below refers to its @catppuccin_* variables.
          {
            plugin = pkgs.tmuxPlugins.catppuccin;
            extraConfig = ''
              set -g @catppuccin_flavor "mocha"
              set -g @catppuccin_window_status_style "rounded"
              set -g @catppuccin_window_number_position "right"
              set -g @catppuccin_window_flags "icon"
              set -g @catppuccin_window_text " #{b:pane_current_path}"
              set -g @catppuccin_window_current_text " #{b:pane_current_path}"
              set -g @catppuccin_status_left_separator ""
              set -g @catppuccin_status_right_separator ""
              set -g @catppuccin_status_right_separator_inverse "no"
              set -g @catppuccin_status_fill "icon"
              set -g @catppuccin_status_connect_separator "no"
              set -g @catppuccin_status_middle_separator " "
              set -g @catppuccin_host_text " @#H"
              set -g @catppuccin_date_time_text "%H:%M %d-%b-%y"
              set -g @catppuccin_kube_context_color "#{E:@thm_sky}"
              set -g @catppuccin_kube_text " #{l:#[fg=#{@catppuccin_kube_context_color}]#{kubectx_context}#[fg=default]:#[fg=#{@catppuccin_kube_namespace_color}]#{kubectx_namespace}}"
            '';
          }
          pkgs.tmuxPlugins.better-mouse-mode
          pkgs.tmuxPlugins.fzf-tmux-url
          pkgs.tmuxPlugins.yank
          pkgs.tmuxPlugins.prefix-highlight
          pkgs.tmuxPlugins.tmux-fzf
          pkgs.tmuxPlugins.tmux-thumbs
          {
            plugin = pkgs.tmuxPlugins.resurrect;
            extraConfig = ''
              set -g @resurrect-strategy-nvim "session"
              set -g @resurrect-capture-pane-contents "on"
            '';
          }
          {
            plugin = pkgs.tmuxPlugins.continuum;
            extraConfig = ''
              set -g @continuum-restore "off"
              set -g @continuum-boot "off"
              set -g @continuum-save-interval "3"
            '';
          }
          {
            plugin = pkgs.tmuxPlugins.tmux-floax;
            extraConfig = ''
              set -g @floax-width "80%"
              set -g @floax-height "80%"
              set -g @floax-border-color "magenta"
              set -g @floax-text-color "blue"
              set -g @floax-bind "p"
              set -g @floax-change-path "true"
            '';
          }
          {
            plugin = pkgs.tmuxPlugins.tmux-sessionx;
            extraConfig = ''
              set -g @sessionx-bind "o"
              set -g @sessionx-zoxide-mode "on"
              set -g @sessionx-window-height "85%"
              set -g @sessionx-window-width "75%"
              set -g @sessionx-filter-current "false"
              set -g @sessionx-preview-location "right"
              set -g @sessionx-preview-ratio "55%"
            '';
          }
          {
            plugin = pkgs.tmuxPlugins.session-wizard;
            extraConfig = ''
              set -g @session-wizard "t"
              set -g @session-wizard-height "80"
              set -g @session-wizard-width "80"
            '';
          }
          {
            plugin = pkgs.tmuxPlugins.tmux-which-key;
            extraConfig = ''
              set -g @tmux-which-key-xdg-enable "1"
              if-shell "test -f ~/.local/share/tmux/plugins/tmux-which-key/init.tmux" "source-file ~/.local/share/tmux/plugins/tmux-which-key/init.tmux"
            '';
          }
        ];
        extraConfig = ''
          bind ^X lock-server
          bind ^C new-window -c "#{pane_current_path}"
          bind ^D detach
          bind S choose-session
          bind H previous-window
          bind L next-window
          bind ^A last-window
          bind ^W list-windows
          bind w list-windows
          bind M move-window -t 0
          bind ^T clock-mode
          bind r command-prompt "rename-window %%"
          bind R source-file ~/.config/tmux/tmux.conf
          bind C-l send-keys "clear"\; send-keys "Enter"
          bind | split-window -h -c "#{pane_current_path}"
          bind s split-window -v -c "#{pane_current_path}"
          bind v split-window -h -c "#{pane_current_path}"
          bind h select-pane -L
          bind j select-pane -D
          bind k select-pane -U
          bind l select-pane -R
          bind z resize-pane -Z
          bind x swap-pane -D
          bind c kill-pane
          bind * setw synchronize-panes
          bind P set pane-border-status
          bind b set-option -g status
          bind -r -T prefix , resize-pane -L 20
          bind -r -T prefix . resize-pane -R 20
          bind -r -T prefix - resize-pane -D 7
          bind -r -T prefix = resize-pane -U 7
          bind : command-prompt
          bind ^L refresh-client
          bind -n M-\' choose-window
          bind-key "K" display-popup -E -w 80% -h 80% "sesh connect \"$(sesh list -i | gum filter --limit 1 --placeholder 'Pick a sesh' --prompt='⚡')\""
          bind-key -T copy-mode-vi v send-keys -X begin-selection

          set -g status-left-length 100
          set -g status-left ""
          set -ag status-left "#{E:@catppuccin_status_session}"
          set -g status-right-length 200
          set -g status-right ""
          set -agF status-right "#{E:@catppuccin_status_kube}"
          set -agF status-right "#{@catppuccin_status_gitmux}"
          set -ag status-right "#{E:@catppuccin_status_host}"
          set -ag status-right "#{E:@catppuccin_status_date_time}"
          set -ga terminal-overrides ",*256col*:RGB"
          set -ga terminal-overrides ",*:Ss=\\E[%p1%d q:Se=\\E[0 q"
          set-environment -g COLORTERM "truecolor"
          set -g focus-events off
          setw -g aggressive-resize on
          set-option -g mouse on
          set -g detach-on-destroy off
          set -g renumber-windows on
          set -g set-clipboard on
          set -g status-position top
          set -g pane-active-border-style 'fg=magenta,bg=default'
          set -g pane-border-style 'fg=brightblack,bg=default'
        '';
      };

      programs.tmate.enable = true;

      programs.yazi = {
        enable = true;
        enableBashIntegration = true;
        enableNushellIntegration = true;
        enableZshIntegration = true;
        settings = {
          mgr = {
            show_hidden = true;
            show_symlink = true;
            sort_by = "natural";
            sort_dir_first = true;
          };
          preview = {
            tab_size = 2;
          };
        };
      };

      programs.zellij = {
        enable = true;
        settings = {
          theme = "catppuccin-mocha";
        };
      };

      programs.nnn = {
        enable = true;
        package = pkgs.nnn.override { withNerdIcons = true; };
        plugins = {
          mappings.K = "preview-tui";
          src = "${pkgs.nnn}/plugins";
        };
      };

      programs.bat.enable = true;
      programs.btop.enable = true;
      programs.htop.enable = true;
      programs.jq.enable = true;
      programs.k9s.enable = true;
      programs.pandoc.enable = true;

      programs.bottom = {
        enable = true;
        settings = {
          flags = {
            enable_gpu_memory = true;
            rate = 1000;
            temperature_type = "c";
          };
          processes = {
            columns = [
              "pid"
              "name"
              "cpu%"
              "mem%"
              "read"
              "write"
              "user"
            ];
          };
        };
      };

      programs.tealdeer = {
        enable = true;
        settings = {
          display = {
            compact = false;
            use_pager = true;
          };
          updates = {
            auto_update = true;
          };
        };
      };

      programs.awscli = {
        enable = true;
        settings = {
          default = {
            output = "json";
            region = "us-east-1";
          };
        };
      };

      programs.nix-index = {
        enable = true;
        enableZshIntegration = true;
      };

      programs.gpg.enable = true;
      services.gpg-agent = {
        enable = true;
        defaultCacheTtl = 43200;
        maxCacheTtl = 86400;
        extraConfig = "";
        pinentry.package = pkgs.pinentry-tty;
      };
    };
}
