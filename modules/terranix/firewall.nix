# Aspect `flake.modules.terranix.firewall`: the cloud firewalls, derived from the
# same facts as the NixOS firewall -- `fleet.ports` and `fleet.publicSurface`
# (modules/fleet/ports.nix). Only the ports listed in publicSurface are open from
# outside; no port number is written here.
{
  flake.modules.terranix.firewall =
    { config, lib, ... }:
    let
      cfg = config.fleet.terranix;
      inherit (cfg.facts) ports publicSurface;
      name = cfg.firewall.name;

      # "Anywhere": the public surface is by definition reachable from every
      # address. These are the all-addresses prefixes, not host addresses.
      anywhere = {
        ipv4 = "0.0.0.0/0";
        ipv6 = "::/0";
      };

      portOf =
        service:
        ports.${service} or (throw (
          "terranix: fleet.publicSurface lists the service ${service}, but fleet.ports has no port for it "
          + "(known: ${lib.concatStringsSep ", " (lib.attrNames ports)}); add it to modules/fleet/ports.nix"
        ));

      # [ { protocol = "tcp"; service = "ssh"; port = 22; } ... ]
      rules = lib.concatLists (
        lib.mapAttrsToList (
          protocol: services:
          map (service: {
            inherit protocol service;
            port = portOf service;
          }) services
        ) publicSurface
      );
    in
    {
      options.fleet.terranix.firewall = {
        name = lib.mkOption {
          type = lib.types.str;
          default = "fleet-public";
          description = "Name of the firewall (Hetzner) and network tag (GCP) every node is attached to.";
        };
        rules = lib.mkOption {
          type = lib.types.listOf lib.types.attrs;
          readOnly = true;
          default = rules;
          description = "The inbound rules, derived from fleet.publicSurface and fleet.ports.";
        };
      };

      config = lib.mkMerge [
        (lib.mkIf (cfg.cloud == "hetzner") {
          # Attached to every server through its firewall_ids (hetzner.nix), so a
          # server is never up without it. Inbound traffic not matched is dropped.
          resource.hcloud_firewall.${name} = {
            inherit name;
            rule = map (r: {
              description = "public ${r.service}";
              direction = "in";
              inherit (r) protocol;
              port = toString r.port;
              source_ips = [
                anywhere.ipv4
                anywhere.ipv6
              ];
            }) rules;
          };
        })
        (lib.mkIf (cfg.cloud == "gcp") {
          # A network of our own: GCP's `default` network ships allow-rules for
          # ssh, rdp and icmp from anywhere, which would widen the public surface.
          resource.google_compute_network.fleet = {
            name = "fleet";
            auto_create_subnetworks = true;
          };
          resource.google_compute_firewall = lib.listToAttrs (
            map (r: {
              name = "${name}-${r.protocol}-${r.service}";
              value = {
                name = "${name}-${r.protocol}-${r.service}";
                network = "\${google_compute_network.fleet.name}";
                direction = "INGRESS";
                allow = [
                  {
                    inherit (r) protocol;
                    ports = [ (toString r.port) ];
                  }
                ];
                source_ranges = [ anywhere.ipv4 ];
                target_tags = [ name ];
              };
            }) rules
          );
        })
      ];
    };
}
