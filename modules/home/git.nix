# Version control: git (SSH-signed commits), delta, lazygit and jujutsu. Identity
# and keys come from the user's facts; the signing key's private half is the
# sops secret <sopsIdentifier>/signing-key (see the `secrets` aspect).
{
  flake.modules.homeManager.git =
    {
      config,
      lib,
      pkgs,
      fleetUser,
      ...
    }:
    let
      home = config.home.homeDirectory;
      signingKeyPath = "${home}/.radicle/keys/radicle";
      allowedSigners = "${home}/.config/git/allowed_signers";
    in
    {
      programs.git = {
        enable = true;
        package = pkgs.gitFull;
        signing = {
          format = "ssh";
          key = signingKeyPath;
          signByDefault = true;
        };
        lfs = {
          enable = true;
          skipSmudge = false;
        };
        ignores = [
          "*~"
          "*.swp"
        ];
        settings = {
          user = {
            name = fleetUser.fullName;
            inherit (fleetUser) email;
          };
          alias = {
            a = "add";
            br = "branch";
            bra = "branch -a";
            c = "commit";
            ca = "commit --amend";
            can = "commit --amend --no-edit";
            cavm = "commit -a -v -m";
            cfg = "config --list";
            cl = "clone";
            cm = "commit -m";
            co = "checkout";
            cp = "cherry-pick";
            cpx = "cherry-pick -x";
            d = "diff";
            div = "log --oneline --left-right @{u}...HEAD";
            f = "fetch";
            fo = "fetch origin";
            fu = "fetch upstream";
            lease = "push --force-with-lease";
            lol = "log --graph --decorate --pretty=oneline --abbrev-commit";
            lola = "log --graph --decorate --pretty=oneline --abbrev-commit --all";
            pl = "pull";
            pr = "pull -r";
            ps = "push";
            psf = "push -f";
            r = "remote";
            ra = "remote add";
            rb = "rebase";
            rbi = "rebase -i";
            rr = "remote rm";
            rs = "remote show";
            rv = "remote -v";
            st = "status";
            stn = "status -uno";
          };
          color.ui = true;
          core.editor = "nvim";
          credential.helper = "store --file ~/.git-credentials";
          diff.colorMoved = "zebra";
          fetch.prune = true;
          format.signoff = true;
          # The admin's GitHub account (the legacy config set it for every user).
          github.user = "cameronraysmith";
          gpg.ssh.allowedSignersFile = allowedSigners;
          init = {
            defaultBranch = "main";
            templateDir = "";
          };
          log.showSignature = false;
          merge.conflictstyle = "diff3";
          push = {
            autoSetupRemote = true;
            useForceIfIncludes = true;
          };
          rebase = {
            autoStash = true;
            updateRefs = true;
          };
        };
      };

      home.file.".config/git/allowed_signers".text = lib.optionalString (fleetUser.signingKey != null) ''
        ${fleetUser.email} namespaces="git" ${fleetUser.signingKey}
      '';

      programs.delta = {
        enable = true;
        enableGitIntegration = true;
        options.side-by-side = true;
      };

      programs.lazygit = {
        enable = true;
        settings.git = {
          commit.signOff = true;
          overrideGpg = true;
          paging = {
            colorArg = "always";
            pager = "delta --color-only --dark --paging=never";
            useConfig = false;
          };
        };
      };

      programs.jujutsu = {
        enable = true;
        settings = {
          git = {
            colocate = true;
            sign-on-push = true;
            write-change-id-header = true;
          };
          signing = {
            backend = "ssh";
            backends.ssh.allowed-signers = allowedSigners;
            behavior = "own";
            key = signingKeyPath;
          };
          snapshot = {
            auto-track = "all()";
            max-new-file-size = "300KiB";
          };
          ui = {
            color = "auto";
            diff-formatter = ":git";
            editor = "nvim";
            pager = "delta";
            show-cryptographic-signatures = true;
          };
          user = {
            name = fleetUser.fullName;
            inherit (fleetUser) email;
          };
        };
      };
    };
}
