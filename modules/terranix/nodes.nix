# Aspect `flake.modules.terranix.nodes`: which cloud nodes a terranix workspace
# provisions. The nodes are exactly the clan inventory's machines tagged `cloud`
# (never a second list); each node's cloud is its `hetzner` or `gcp` tag, and
# each has an `enabled` switch that defaults to off for machines tagged
# `toggleable` (galena, scheelite) and on for everything else.
#
# outputs.nix fills `fleet.terranix.machines` from
# `config.flake.clan.inventory.machines` and `fleet.terranix.facts` from
# `config.flake.fleet`; the other terranix aspects only read the options below.
{
  flake.modules.terranix.nodes =
    { config, lib, ... }:
    let
      inherit (lib) mkOption types;
      cfg = config.fleet.terranix;
      clouds = [ "hetzner" "gcp" ];

      # A machine tagged `cloud` must name exactly one provider; anything else
      # is an inventory mistake we refuse to guess about.
      cloudOf =
        name: machine:
        let
          found = lib.filter (c: lib.elem c machine.tags) clouds;
        in
        if lib.length found == 1 then
          lib.head found
        else
          throw (
            "terranix: machine ${name} is tagged `cloud`, so it needs exactly one of the tags "
            + "${lib.concatStringsSep ", " clouds}, but it has "
            + (if found == [ ] then "none" else lib.concatStringsSep " and " found)
            + "; fix its tags in modules/clan/inventory/machines.nix"
          );

      cloudMachines = lib.filterAttrs (_: m: lib.elem "cloud" (m.tags or [ ])) cfg.machines;
    in
    {
      options.fleet.terranix = {
        cloud = mkOption {
          type = types.enum clouds;
          description = "The cloud this workspace provisions. Each cloud is its own workspace with its own state.";
        };
        machines = mkOption {
          type = types.attrsOf types.raw;
          description = "The clan inventory's machines (`config.flake.clan.inventory.machines`), set by outputs.nix.";
        };
        facts = mkOption {
          type = types.raw;
          description = "Fleet-wide facts (`config.flake.fleet`: ports, publicSurface), set by outputs.nix.";
        };
        nodes = mkOption {
          description = "One entry per inventory machine tagged `cloud`; only `enabled` nodes get resources.";
          default = { };
          type = types.attrsOf (
            types.submodule {
              options = {
                enabled = mkOption {
                  type = types.bool;
                  description = "Whether the node exists. A disabled node has no compute, disk or address resource.";
                };
                cloud = mkOption {
                  type = types.enum clouds;
                  readOnly = true;
                  description = "The node's cloud, from its inventory tag.";
                };
                tags = mkOption {
                  type = types.listOf types.str;
                  readOnly = true;
                  description = "The node's inventory tags.";
                };
              };
            }
          );
        };
        enabledNodes = mkOption {
          type = types.attrsOf types.raw;
          readOnly = true;
          description = "The enabled nodes of this workspace's cloud (what the cloud aspects create resources for).";
        };
      };

      # Which nodes of this workspace exist, for the control plane
      # (`.#terranixWorkspaces.<cloud>.nodes`); never rendered to Terraform JSON.
      config._meta.nodes = lib.mapAttrs (_: node: { inherit (node) enabled; }) (
        lib.filterAttrs (_: node: node.cloud == cfg.cloud) cfg.nodes
      );

      config.fleet.terranix = {
        nodes = lib.mapAttrs (name: machine: {
          cloud = cloudOf name machine;
          inherit (machine) tags;
          enabled = lib.mkDefault (!lib.elem "toggleable" machine.tags);
        }) cloudMachines;

        # Every aspect goes through this, so a toggle for a machine that is not
        # a cloud machine of the inventory fails the whole evaluation.
        enabledNodes =
          let
            unknown = lib.attrNames (lib.removeAttrs cfg.nodes (lib.attrNames cloudMachines));
          in
          if unknown != [ ] then
            throw (
              "terranix: node(s) ${lib.concatStringsSep ", " unknown} are set in fleet.terranix.nodes "
              + "but are not machines tagged `cloud` in the clan inventory (cloud machines: "
              + "${lib.concatStringsSep ", " (lib.attrNames cloudMachines)}); add the machine to "
              + "modules/clan/inventory/machines.nix with the `cloud` tag or fix the name"
            )
          else
            lib.filterAttrs (_: node: node.enabled && node.cloud == cfg.cloud) cfg.nodes;
      };
    };
}
