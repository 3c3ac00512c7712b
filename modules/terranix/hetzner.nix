# Aspect `flake.modules.terranix.hetzner`: the Hetzner Cloud workspace. One
# hcloud_server per enabled inventory machine tagged `hetzner` (cinnabar and
# electrum, both CX53), behind the fleet firewall (firewall.nix), reachable with
# the operator's bootstrap key. The API token comes from clan vars at run time.
{
  flake.modules.terranix.hetzner =
    { config, lib, ... }:
    let
      inherit (lib) mkOption types;
      cfg = config.fleet.terranix;
      sshKey = "fleet-admin";
    in
    {
      options.fleet.terranix = {
        hetzner.location = mkOption {
          type = types.str;
          default = "fsn1";
          description = "Hetzner location of the servers.";
        };
        nodes = mkOption {
          type = types.attrsOf (
            types.submodule {
              options.hetzner = {
                serverType = mkOption {
                  type = types.str;
                  default = "cx53";
                  description = "Hetzner server type.";
                };
                image = mkOption {
                  type = types.str;
                  default = "debian-12";
                  description = "Image the server boots before clan installs NixOS onto it.";
                };
              };
            }
          );
        };
      };

      config = lib.mkIf (cfg.cloud == "hetzner") {
        fleet.terranix.credentials.hcloud_token = {
          generator = "hetzner-api-token";
          file = "token";
          description = "Hetzner Cloud API token (read and write) of the fleet's project.";
        };

        terraform.required_providers.hcloud = {
          source = "hetznercloud/hcloud";
          version = "~> 1.45";
        };
        provider.hcloud.token = "\${var.hcloud_token}";

        resource.hcloud_ssh_key.${sshKey} = {
          name = sshKey;
          public_key = "\${var.admin_ssh_public_key}";
        };

        resource.hcloud_server = lib.mapAttrs (
          name: node:
          {
            inherit name;
            server_type = node.hetzner.serverType;
            inherit (node.hetzner) image;
            inherit (cfg.hetzner) location;
            ssh_keys = [ "\${hcloud_ssh_key.${sshKey}.id}" ];
            firewall_ids = [ "\${hcloud_firewall.${cfg.firewall.name}.id}" ];
            public_net = {
              ipv4_enabled = true;
              ipv6_enabled = true;
            };
            labels = {
              "clan-machine" = name;
            };
          }
          # Losing the ZeroTier controller loses the mesh's identity: tofu
          # must refuse to destroy it unless this line is changed on purpose.
          // lib.optionalAttrs (lib.elem "zerotier-controller" node.tags) {
            lifecycle.prevent_destroy = true;
          }
        ) cfg.enabledNodes;

        output = lib.mapAttrs (name: _: {
          description = "Public addresses of ${name}.";
          value = {
            ipv4 = "\${hcloud_server.${name}.ipv4_address}";
            ipv6 = "\${hcloud_server.${name}.ipv6_address}";
          };
        }) cfg.enabledNodes;
      };
    };
}
