# Evaluates the terranix aspects (every `flake.modules.terranix.*`) into
# Terraform JSON, one workspace -- one state -- per cloud, offline with
# nixpkgs' lib only:
#
#   .#terranix.hetzner, .#terranix.gcp   the config.tf.json contents
#   .#lib.terranix { cloud; enabled ? {}; modules ? [ ]; }
#                                        the same with toggles changed, e.g.
#                                        enabled = { galena = true; }
#   .#terranixWorkspaces.<cloud>         for the control plane: the attr of the
#                                        JSON, the nodes and their switches, and
#                                        the TF_VAR_* to fill from clan vars
#
# The machines come from the clan inventory and the ports from `flake.fleet`;
# this file is the only place that hands them to terranix.
{
  config,
  lib,
  inputs,
  ...
}:
let
  clouds = [
    "hetzner"
    "gcp"
  ];

  evalWorkspace =
    {
      cloud,
      enabled ? { },
      modules ? [ ],
    }:
    inputs.terranix.lib.evalTerranixConfiguration {
      # terranix needs only `pkgs.lib` unless a module uses pkgs itself (none
      # of ours do); passing lib keeps evaluation offline and system-free.
      pkgs = { inherit lib; };
      modules =
        lib.attrValues config.flake.modules.terranix
        ++ [
          {
            fleet.terranix = {
              inherit cloud;
              machines = config.flake.clan.inventory.machines;
              facts = config.flake.fleet;
              nodes = lib.mapAttrs (_: on: { enabled = on; }) enabled;
            };
          }
        ]
        ++ modules;
    };

  workspaces = lib.genAttrs clouds (cloud: evalWorkspace { inherit cloud; });
in
{
  # Declared here so other files can add their own `flake.lib.<name>` next to
  # `terranix` (an undeclared flake output may only be defined once).
  options.flake.lib = lib.mkOption {
    type = lib.types.lazyAttrsOf lib.types.raw;
    default = { };
    description = "Functions published by the fleet flake.";
  };

  config.flake = {
    terranix = lib.mapAttrs (_: ws: ws.config) workspaces;

    lib.terranix = args: (evalWorkspace args).config;

    terranixWorkspaces = lib.mapAttrs (cloud: ws: {
      attr = "terranix.${cloud}";
      inherit (ws._meta) nodes credentials;
    }) workspaces;
  };
}
