# Shells (zsh, nushell, optionally bash), prompt, history, navigation and the
# shell aliases every user has.
{
  flake.modules.homeManager.shell =
    {
      config,
      lib,
      fleetUser,
      ...
    }:
    {
      home.shellAliases = {
        agc = "bunx -p @augmentcode/auggie auggie";
        b = "bat";
        bazel = "bazelisk";
        bm = "btm";
        bt = "btop";
        ccd = "bunx -p @anthropic-ai/claude-code claude --dangerously-skip-permissions";
        cfn = "cleanfn";
        dl = "aria2c -x 16 -s 16 -k 1M";
        dr = "docker container run --interactive --rm --tty";
        e = "nvim";
        g = "git";
        gbc = "git branch --sort=-committerdate | grep -v '^*|main' | fzf --multi | xargs git branch -d";
        gemi = "bunx -p @google/gemini-cli gemini";
        ghe = "github_email";
        gls = "PAGER=cat git log --oneline --name-status --pretty=format:'%C(auto)%h %s'";
        gmach = "git machete";
        gts = "check_github_token_scopes";
        gu = "git machete traverse --fetch --start-from=first-root";
        i = "macchina";
        j = "just";
        jg = "jj git";
        k = "kubectl";
        kns = "kubectl config unset contexts.$(kubectl config current-context).namespace";
        ks = "kubens";
        kx = "kubectx";
        l = "ll";
        ld = "lazydocker";
        lg = "lazygit";
        lsdir = "ls -d1 */";
        mm = "micromamba";
        nb = "nix build --json --no-link --print-build-logs";
        nix-hash = "get_nix_hash";
        npmbw = "bunx -p @bitwarden/cli bw";
        nr = "nix run";
        oc = "bunx -p opencode-ai@latest opencode";
        p = "procs --tree";
        py = "poetry run python";
        rn = "fd -d 1 -t f '.*' | renamer";
        s = "sesh connect \"$(sesh list -i | gum filter --limit 1 --placeholder 'Pick a sesh' --prompt='⚡')\"";
        t = "tree";
        tat = "tmux attach -t";
        tks = "tmux kill-session -t";
        tls = "tmux ls";
        tmh = "tmux list-keys | less";
        tns = "tmux new -s";
        y = "yazi";
        ccds = "claude --dangerously-skip-permissions";
      };

      programs.zsh = {
        enable = true;
        # The legacy location (~/.zshrc); home-manager warns that its default
        # moves to XDG with stateVersion 26.05, so it is pinned here.
        dotDir = config.home.homeDirectory;
        enableCompletion = true;
        autosuggestion.enable = true;
        syntaxHighlighting.enable = true;
        oh-my-zsh = {
          enable = true;
          plugins = [
            "git"
            "rust"
            "vi-mode"
            "zoxide"
          ];
          theme = "robbyrussell";
        };
        # Nix and Homebrew paths in a fixed order, for login and non-login shells.
        envExtra = ''
          export PATH="/run/wrappers/bin:/run/current-system/sw/bin:/nix/var/nix/profiles/default/bin:$PATH"
          export PATH="$PATH:$HOME/.nix-profile/bin:/etc/profiles/per-user/$USER/bin:$HOME/.krew/bin:/opt/homebrew/bin"
        '';
        initContent = lib.mkMerge [
          # Completions of packages installed per user (home.packages).
          (lib.mkBefore ''
            fpath+=("${config.home.profileDirectory}/share/zsh/site-functions" "${config.home.profileDirectory}/share/zsh/$ZSH_VERSION/functions" "${config.home.profileDirectory}/share/zsh/vendor-completions")
          '')
          ''
            eval "$(micromamba shell hook --shell zsh)"

            # nnn with cd-on-quit; refuses to nest inside another nnn.
            n() {
              if [ -n "$NNNLVL" ] && [ "''${NNNLVL:-0}" -ge 1 ]; then
                echo "nnn is already running"
                return
              fi
              export NNN_TMPFILE="$HOME/.config/nnn/.lastd"
              command nnn -adeHo "$@"
              if [ -f "$NNN_TMPFILE" ]; then
                . "$NNN_TMPFILE"
                rm -f "$NNN_TMPFILE" > /dev/null
              fi
            }
          ''
        ];
      };

      programs.bash.enable = fleetUser.home.bash;

      programs.nushell = {
        enable = true;
        shellAliases = config.home.shellAliases;
        envFile.text = ''
          $env.PATH = ($env.PATH | split row (char esep) | prepend [
            $"/etc/profiles/per-user/($env.USER)/bin"
            "/run/current-system/sw/bin/"
            "/Applications/Docker.app/Contents/Resources/bin/"
          ])
        '';
        configFile.text = ''
          $env.config.edit_mode = "vi"
          # git log as structured data (jc).
          def gj [] { git log | jc --git-log | from json }
          def gjt [] { gj | table }
        '';
      };

      programs.starship = {
        enable = true;
        settings = {
          aws = {
            disabled = true;
          };
          command_timeout = 2000;
          custom = {
            jj = {
              command = "prompt";
              format = "$output";
              ignore_timeout = true;
              shell = [
                "starship-jj"
                "--ignore-working-copy"
                "starship"
              ];
              use_stdin = false;
              when = true;
            };
          };
          gcloud = {
            disabled = true;
          };
        };
      };

      programs.atuin = {
        enable = true;
        enableBashIntegration = false;
        enableZshIntegration = true;
        settings = {
          auto_sync = true;
          ctrl_n_shortcuts = false;
          dotfiles = {
            enabled = true;
          };
          enter_accept = true;
          filter_mode_shell_up_key_binding = "directory";
          keymap_mode = "vim-insert";
          search_mode = "skim";
          secrets_filter = true;
          show_help = false;
          show_preview = true;
          sync = {
            records = true;
          };
          sync_frequency = "15m";
          update_check = false;
        };
      };

      programs.direnv = {
        config = {
          global = {
            warn_timeout = "10m";
          };
        };
        enable = true;
        nix-direnv = {
          enable = true;
        };
      };

      programs.fzf = {
        enable = true;
        # Atuin owns Ctrl-R, as it did in the legacy configuration (its hook is
        # sourced after fzf's); say so instead of two bindings fighting.
        historyWidget.command = "";
        # The legacy fzf had no nushell integration; home-manager's needs fzf >= 0.73
        # (programs/fzf.nix assertion), newer than the fzf nixpkgs shipped when this was written.
        enableNushellIntegration = false;
        tmux = {
          enableShellIntegration = true;
        };
      };

      programs.lsd = {
        enable = true;
        enableBashIntegration = true;
        enableZshIntegration = true;
      };

      programs.zoxide.enable = true;
      programs.autojump.enable = false;
    };
}
