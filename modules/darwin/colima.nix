# Colima: container VMs (here an incus runtime) on Apple's virtualization
# framework. nix-darwin has no colima module, so this aspect declares the
# options the legacy configuration used and turns them into helper commands
# (colima-init/-stop/-restart), an activation notice and, if autoStart is set,
# a launchd agent. Only hosts that import it get colima (stibnite).
{
  flake.modules.darwin.colima =
    {
      config,
      lib,
      pkgs,
      ...
    }:
    let
      cfg = config.services.colima;
      startArgs = lib.escapeShellArgs (
        [
          "--profile"
          cfg.profile
          "--runtime"
          cfg.runtime
          "--cpu"
          (toString cfg.cpu)
          "--memory"
          (toString cfg.memory)
          "--disk"
          (toString cfg.disk)
          "--arch"
          cfg.arch
          "--vm-type"
          cfg.vmType
          "--mount-type"
          cfg.mountType
        ]
        ++ lib.optional cfg.rosetta "--vz-rosetta"
      );
      colima = lib.getExe' cfg.package "colima";
    in
    {
      options.services.colima = {
        enable = lib.mkEnableOption "Colima container VMs";
        package = lib.mkPackageOption pkgs "colima" { };
        runtime = lib.mkOption {
          type = lib.types.enum [
            "docker"
            "containerd"
            "incus"
          ];
          default = "docker";
        };
        profile = lib.mkOption {
          type = lib.types.str;
          default = "default";
        };
        autoStart = lib.mkOption {
          type = lib.types.bool;
          default = false;
          description = "Start the profile at login (launchd user agent).";
        };
        cpu = lib.mkOption {
          type = lib.types.ints.positive;
          default = 2;
        };
        memory = lib.mkOption {
          type = lib.types.ints.positive;
          default = 2;
          description = "GiB.";
        };
        disk = lib.mkOption {
          type = lib.types.ints.positive;
          default = 60;
          description = "GiB.";
        };
        arch = lib.mkOption {
          type = lib.types.str;
          default = "aarch64";
        };
        vmType = lib.mkOption {
          type = lib.types.enum [
            "qemu"
            "vz"
          ];
          default = "vz";
        };
        rosetta = lib.mkOption {
          type = lib.types.bool;
          default = false;
        };
        mountType = lib.mkOption {
          type = lib.types.enum [
            "sshfs"
            "9p"
            "virtiofs"
          ];
          default = "virtiofs";
        };
        extraPackages = lib.mkOption {
          type = lib.types.listOf lib.types.package;
          default = [ ];
        };
      };

      config = lib.mkIf cfg.enable {
        environment.systemPackages = [
          cfg.package
          (pkgs.writeShellScriptBin "colima-init" ''exec ${colima} start ${startArgs} "$@"'')
          (pkgs.writeShellScriptBin "colima-stop" ''exec ${colima} stop --profile ${lib.escapeShellArg cfg.profile} "$@"'')
          (pkgs.writeShellScriptBin "colima-restart" ''
            ${colima} stop --profile ${lib.escapeShellArg cfg.profile} || true
            exec ${colima} start ${startArgs} "$@"
          '')
        ]
        ++ cfg.extraPackages;

        system.activationScripts.colima.text = ''
          if [ -d "/Users/${config.system.primaryUser}/.colima/${cfg.profile}" ]; then
            echo "colima: profile '${cfg.profile}' exists; apply changed settings with colima-restart" >&2
          else
            echo "colima: profile '${cfg.profile}' does not exist yet; create it with colima-init" >&2
          fi
        '';
        # nix-darwin runs only its fixed activation phases; hook ours into postActivation.
        system.activationScripts.postActivation.text = lib.mkAfter config.system.activationScripts.colima.text;

        # Legacy modules/home/darwin-only/colima.nix: the admin's zsh loads colima's
        # completion when colima is on PATH (only the nix-darwin-integrated user had it).
        home-manager.users.${config.system.primaryUser}.programs.zsh.initContent = lib.mkAfter ''
          if command -v colima >/dev/null 2>&1; then
            eval "$(colima completion zsh)"
          fi
        '';

        launchd.user.agents.colima = lib.mkIf cfg.autoStart {
          serviceConfig = {
            ProgramArguments = [ "/bin/sh" "-c" "exec ${colima} start --foreground ${startArgs}" ];
            RunAtLoad = true;
            KeepAlive = false;
          };
        };
      };
    };
}
