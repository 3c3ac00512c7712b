# Aspect `flake.modules.terranix.gcp`: the Google Cloud workspace. One
# google_compute_instance (with its boot disk) and one static
# google_compute_address per enabled inventory machine tagged `gcp`: orb-nixos
# (e2-micro), and -- only when switched on -- the CPU node galena and the GPU
# node scheelite. Sizes follow the inventory tags: `vps` is an e2-micro, `gpu`
# gets an N1 machine with an NVIDIA T4, any other GCP node a general-purpose
# e2-standard-4; each can be overridden per node.
{
  flake.modules.terranix.gcp =
    { config, lib, ... }:
    let
      inherit (lib) mkOption types;
      cfg = config.fleet.terranix;
      has = tag: node: lib.elem tag node.tags;

      # deploy.targetHost is "<user>@<name>.<domain>"; the bootstrap key is
      # installed for that same user.
      sshUser =
        name:
        let
          target = cfg.machines.${name}.deploy.targetHost or null;
          parts = lib.splitString "@" target;
        in
        if target != null && lib.length parts == 2 then
          lib.head parts
        else
          throw (
            "terranix: machine ${name} needs deploy.targetHost = \"<user>@<host>\" in the clan inventory "
            + "(the GCP bootstrap key is installed for that user), but it is "
            + (if target == null then "unset" else "\"${target}\"")
            + "; set it in modules/clan/inventory/machines.nix"
          );
      # Lets `user` (root for servers) log in with the bootstrap key.
      startupScript = user: ''
        #!/bin/bash
        set -euo pipefail
        if [ "${user}" = root ]; then
          install -d -m 0700 /root/.ssh
          printf '%s\n' "''${var.admin_ssh_public_key}" > /root/.ssh/authorized_keys
          chmod 0600 /root/.ssh/authorized_keys
          printf 'PermitRootLogin prohibit-password\n' > /etc/ssh/sshd_config.d/00-clan-install.conf
          systemctl reload ssh || systemctl reload sshd
        fi
      '';
    in
    {
      options.fleet.terranix = {
        gcp = {
          region = mkOption {
            type = types.str;
            default = "us-central1";
            description = "GCP region (e2-micro is in the free tier in us-central1).";
          };
          zone = mkOption {
            type = types.str;
            default = "us-central1-a";
            description = "GCP zone of the instances (must offer the GPU type of GPU nodes).";
          };
        };
        nodes = mkOption {
          type = types.attrsOf (
            types.submodule (
              { config, ... }:
              {
                options.gcp = {
                  machineType = mkOption {
                    type = types.str;
                    default =
                      if has "gpu" config then
                        "n1-standard-8"
                      else if has "vps" config then
                        "e2-micro"
                      else
                        "e2-standard-4";
                    description = "GCE machine type.";
                  };
                  # The e2-micro install path: 1 GB is not enough for nixos-anywhere's
                  # kexec installer (its initrd unpacks the whole NixOS installer into
                  # RAM). The node is created/resized as installMachineType while
                  # `installing` is set, the closure is built on the controller
                  # (`clan machines install <m> --build-on local`, nothing is built on
                  # the node), then `installing` is unset and the next apply resizes
                  # it back (GCE stops the instance for a machine-type change).
                  installing = mkOption {
                    type = types.bool;
                    default = false;
                    description = "Whether clan is installing NixOS on the node (use installMachineType).";
                  };
                  installMachineType = mkOption {
                    type = types.str;
                    default = if has "vps" config then "e2-small" else config.gcp.machineType;
                    description = "Machine type while installing (e2-small: 2 GB, enough for the kexec installer).";
                  };
                  accelerator = mkOption {
                    type = types.nullOr (
                      types.submodule {
                        options = {
                          type = mkOption {
                            type = types.str;
                            description = "GCE accelerator type.";
                          };
                          count = mkOption {
                            type = types.ints.positive;
                            default = 1;
                            description = "Number of accelerators.";
                          };
                        };
                      }
                    );
                    default =
                      if has "gpu" config then
                        {
                          type = "nvidia-tesla-t4";
                          count = 1;
                        }
                      else
                        null;
                    description = "GPU attached to the node (nodes tagged `gpu` get one by default).";
                  };
                  image = mkOption {
                    type = types.str;
                    default = "debian-cloud/debian-12";
                    description = "Image the instance boots before clan installs NixOS onto it.";
                  };
                  diskSizeGb = mkOption {
                    type = types.ints.positive;
                    default = if has "vps" config then 30 else 100;
                    description = "Boot disk size in GB.";
                  };
                };
              }
            )
          );
        };
      };

      config = lib.mkIf (cfg.cloud == "gcp") {
        fleet.terranix.credentials = {
          gcp_credentials = {
            generator = "gcp-api-token";
            file = "token";
            description = "Service-account key (JSON) allowed to manage compute resources of the project.";
          };
          gcp_project = {
            generator = "gcp-project";
            file = "id";
            sensitive = false;
            description = "ID of the GCP project the fleet lives in.";
          };
        };

        terraform.required_providers.google = {
          source = "hashicorp/google";
          version = ">= 6.0, < 8.0";
        };
        provider.google = {
          credentials = "\${var.gcp_credentials}";
          project = "\${var.gcp_project}";
          inherit (cfg.gcp) region zone;
        };

        resource.google_compute_address = lib.mapAttrs (name: _: {
          inherit name;
          inherit (cfg.gcp) region;
        }) cfg.enabledNodes;

        resource.google_compute_instance = lib.mapAttrs (
          name: node:
          {
            inherit name;
            machine_type = if node.gcp.installing then node.gcp.installMachineType else node.gcp.machineType;
            # A machine-type change needs a stopped instance.
            allow_stopping_for_update = true;
            inherit (cfg.gcp) zone;
            # The firewall rules (firewall.nix) target this tag.
            tags = [ cfg.firewall.name ];
            labels."clan-machine" = name;
            boot_disk = {
              initialize_params = {
                inherit (node.gcp) image;
                size = node.gcp.diskSizeGb;
              };
            };
            network_interface = [
              {
                network = "\${google_compute_network.fleet.name}";
                access_config = [ { nat_ip = "\${google_compute_address.${name}.address}"; } ];
              }
            ];
            metadata = {
              ssh-keys = "${sshUser name}:\${var.admin_ssh_public_key}";
              # The stock images refuse root logins (PermitRootLogin no); clan
              # machines install connects as root. Runs at every boot of the
              # bootstrap image only: NixOS ignores GCE startup scripts.
              startup-script = startupScript (sshUser name);
            };
            # vTPM for the unattended LUKS unlock (modules/nixos/tpm-unlock.nix).
            shielded_instance_config = {
              enable_vtpm = true;
              enable_integrity_monitoring = true;
            };
          }
          // lib.optionalAttrs (node.gcp.accelerator != null) {
            guest_accelerator = [ { inherit (node.gcp.accelerator) type count; } ];
            # GCE cannot live-migrate instances with GPUs.
            scheduling = {
              on_host_maintenance = "TERMINATE";
              automatic_restart = true;
            };
          }
        ) cfg.enabledNodes;

        output = lib.mapAttrs (name: _: {
          description = "Public address of ${name}.";
          value.ipv4 = "\${google_compute_address.${name}.address}";
        }) cfg.enabledNodes;
      };
    };
}
