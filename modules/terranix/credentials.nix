# Aspect `flake.modules.terranix.credentials`: every secret or site-specific
# input a workspace needs is a Terraform variable, filled at run time from clan
# vars -- never from the repository. Other aspects register what they need in
# `fleet.terranix.credentials`; this aspect turns that table into `variable`
# blocks and publishes it (with the `clan vars get` source of each value) as
# out-of-band metadata, which outputs.nix exposes as
# `.#terranixWorkspaces.<cloud>.credentials` for the wrapper that runs tofu.
{
  flake.modules.terranix.credentials =
    { config, lib, ... }:
    let
      inherit (lib) mkOption types;
      cfg = config.fleet.terranix;

      # `clan vars get MACHINE GENERATOR/FILE` needs a machine that declares the
      # (shared) generator. Prefer a node that is always on, so the lookup does
      # not depend on a toggle; fall back to any node of the cloud.
      cloudNodes = lib.attrNames (lib.filterAttrs (_: n: n.cloud == cfg.cloud) cfg.nodes);
      steadyNodes = lib.filter (n: !lib.elem "toggleable" cfg.nodes.${n}.tags) cloudNodes;
      varsMachine =
        if steadyNodes != [ ] then
          lib.head steadyNodes
        else if cloudNodes != [ ] then
          lib.head cloudNodes
        else
          null;
    in
    {
      options.fleet.terranix.credentials = mkOption {
        description = "Terraform variables filled from clan vars at run time (TF_VAR_<name>).";
        default = { };
        type = types.attrsOf (
          types.submodule {
            options = {
              generator = mkOption {
                type = types.str;
                description = "clan vars generator holding the value (a shared generator).";
              };
              file = mkOption {
                type = types.str;
                description = "File of that generator.";
              };
              sensitive = mkOption {
                type = types.bool;
                default = true;
                description = "Whether tofu must redact the value.";
              };
              description = mkOption {
                type = types.str;
                description = "What the value is.";
              };
            };
          }
        );
      };

      config = {
        # Both clouds bootstrap their servers with the operator's key; clan's
        # `machines install` then takes over over ssh.
        fleet.terranix.credentials.admin_ssh_public_key = {
          generator = "terraform-bootstrap-ssh";
          file = "id_ed25519.pub";
          sensitive = false;
          description = "OpenSSH public key allowed to log in to freshly created servers (for clan machines install).";
        };

        # No defaults: a missing TF_VAR_* makes tofu stop instead of guessing.
        variable = lib.mapAttrs (_: c: {
          type = "string";
          inherit (c) sensitive description;
        }) cfg.credentials;

        _meta.credentials = lib.mapAttrs (name: c: {
          env = "TF_VAR_${name}";
          machine = varsMachine;
          var_id = "${c.generator}/${c.file}";
          # Whether modules/vars/generators.nix (`fleet.generators`) declares
          # that generator file; the wrapper must refuse to run tofu if not.
          declared = cfg.facts ? generators.${c.generator}.files.${c.file};
          inherit (c)
            generator
            file
            sensitive
            description
            ;
        }) cfg.credentials;
      };
    };
}
