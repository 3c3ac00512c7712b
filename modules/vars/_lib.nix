# Turns an entry of `fleet.generators` (modules/vars/generators.nix) into a
# `clan.core.vars.generators.<name>` value. A plain function file (the leading
# underscore keeps import-tree from loading it as a flake-parts module); it is
# not put under `flake.fleet` because `nix eval --json .#fleet` must stay
# serialisable for the Ansible side.
{ lib }:
let
  repoRoot = ../..;
in
{
  /**
    toClanGenerator {
      gen       # an entry of fleet.generators
      pkgs      # the machine's pkgs
      packages  # { <runtimeInputs name> = package; } for names nixpkgs lacks
      env       # { NAME = "value"; } exported before the script runs
      dependencies  # concrete names, when gen.dependencies holds templates
    }
  */
  toClanGenerator =
    {
      gen,
      pkgs,
      packages ? { },
      env ? { },
      dependencies ? gen.dependencies,
    }:
    let
      missingEnv = lib.subtractLists (lib.attrNames env) (lib.attrNames gen.env);
      exports = lib.concatStrings (
        lib.mapAttrsToList (name: value: "export ${name}=${lib.escapeShellArg value}\n") env
      );
    in
    assert lib.assertMsg (missingEnv == [ ])
      "fleet generator script ${gen.script} needs ${lib.concatStringsSep ", " missingEnv} (see fleet.generators.*.env); pass them as `env` to toClanGenerator";
    {
      inherit (gen) share;
      inherit dependencies;
      # owner/mode only mean something for secrets: clan-core warns when a public
      # file (copied to the world-readable store) sets them (clanCore/vars/default.nix).
      files = lib.mapAttrs (
        _: f:
        {
          inherit (f) secret deploy neededFor;
        }
        // lib.optionalAttrs f.secret { inherit (f) owner mode; }
      ) gen.files;
      prompts = lib.mapAttrs (_: p: {
        inherit (p) description type persist;
      }) gen.prompts;
      runtimeInputs = map (name: packages.${name} or pkgs.${name}) gen.runtimeInputs;
      script = exports + builtins.readFile (repoRoot + "/${gen.script}");
    };

  # Which fleet generators a machine with `tags` receives from the fleet-vars aspect.
  generatorsForTags =
    generators: tags:
    lib.filterAttrs (_: gen: lib.any (t: lib.elem t tags) (gen.appliesTo.tags or [ ])) generators;
}
