# The command-line toolbox every user has (home.packages), by nixpkgs attribute
# name, plus the few packages that need a variant and the user's own extras
# (`fleetUser.home.extraPackages`). Packages that home-manager programs install
# (git, tmux, ...) come from those programs, not from this list.
{
  flake.modules.homeManager.packages =
    {
      lib,
      pkgs,
      fleetUser,
      ...
    }:
    let
      byName = name: lib.getAttrFromPath (lib.splitString "." name) pkgs;
      names = [
        # file and text utilities
        "b3sum"
        "coreutils"
        "diskus"
        "fd"
        "findutils"
        "gnugrep"
        "gnupatch"
        "gnupg"
        "gnused"
        "gum"
        "moreutils"
        "patchutils"
        "pinentry-tty"
        "pipe-rename"
        "procps"
        "procs"
        "rename"
        "ripgrep"
        "rsync"
        "sd"
        "sesh"
        "trash-cli"
        "tree"
        "unison"
        # network and backup
        "aria2"
        "curl"
        "rclone"
        "restic"
        "autorestic"
        "wget"
        # nix tooling
        "cachix"
        "nil"
        "nix-info"
        "nix-output-monitor"
        "nix-prefetch-scripts"
        "nixd"
        "nixfmt"
        "nixpkgs-reviewFull"
        "omnix"
        # documents and media
        "asciinema"
        "asciinema-agg"
        "exiftool"
        "ghostscript"
        "imagemagick"
        "poppler-utils"
        "qpdf"
        "quarto"
        "repomix"
        "svg2pdf"
        # containers, kubernetes and cloud
        "argo-workflows"
        "argocd"
        "argocd-autopilot"
        "crane"
        "crossplane-cli"
        "ctlptl"
        "cue"
        "dive"
        "hcloud"
        "holos"
        "kind"
        "krew"
        "kubectl"
        "kubectx"
        "kubernetes-helm"
        "kustomize"
        "lazydocker"
        "lima"
        "ngrok"
        "skopeo"
        "step-cli"
        "tenv"
        "timoni"
        "vcluster"
        "docker"
        # security and secrets
        "age"
        "aws-vault"
        "bitwarden-cli"
        "gitleaks"
        "libfido2"
        "openssh"
        "sops"
        "ssh-to-age"
        "yubikey-manager"
        # databases
        "duckdb"
        "limbo"
        "pgcli"
        "postgresql_16"
        "sqlite"
        "supabase-cli"
        "turso-cli"
        # development
        "act"
        "bazelisk"
        "bazel-buildtools"
        "buf"
        "claude-monitor"
        "gh"
        "git-filter-repo"
        "git-machete"
        "gitmux"
        "graphite-cli"
        "graphviz"
        "jc"
        "jqp"
        "jjui"
        "just"
        "mkcert"
        "plantuml-c4"
        "pre-commit"
        "proto"
        "ratchet"
        "shellcheck"
        "tea"
        "tmate"
        "tree-sitter"
        "yq"
        "zstd"
        "radicle-node"
        "macchina"
        # languages and runtimes
        "dioxus-cli"
        "rustup"
        "bun"
        "nodejs_22"
        "pnpm"
        "tailwindcss_4"
        "yarn-berry"
        "go"
        "dotnet-sdk_8"
        "micromamba"
        "pixi"
        "poethepoet"
        "pydeps"
        "pylint"
        "pyright"
        "ruff"
        "uv"
        # AI CLIs the legacy config took from the nix-ai-tools flake (nixpkgs builds now)
        "gemini-cli"
        "opencode"
        "crush"
        # `, <cmd>` runs a command from nixpkgs without installing it
        "comma"
      ];
    in
    {
      home.packages =
        map byName (names ++ fleetUser.home.extraPackages)
        ++ [
          (pkgs.google-cloud-sdk.withExtraComponents [ pkgs.google-cloud-sdk.components.gke-gcloud-auth-plugin ])
          (pkgs.dvc.override {
            enableGoogle = true;
            enableAWS = true;
            enableAzure = true;
            enableSSH = true;
          })
          (pkgs.python312.withPackages (ps: [
            ps.pip
            ps.huggingface-hub
          ]))
          (pkgs.texlive.combine {
            inherit (pkgs.texlive)
              scheme-small
              algorithm2e
              algorithmicx
              algorithms
              algpseudocodex
              apacite
              appendix
              caption
              cm-super
              dvipng
              framed
              git-latexdiff
              latexdiff
              latexmk
              latexpand
              multirow
              ncctools
              pdfcrop
              pdfjam
              placeins
              rsfs
              sttools
              threeparttable
              type1cm
              vruler
              wrapfig
              xurl
              ;
          })
        ]
        ++ lib.optionals pkgs.stdenv.hostPlatform.isDarwin [ pkgs.mactop ];
    };
}
