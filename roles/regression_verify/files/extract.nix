# Reads option values out of an evaluated nix-darwin configuration for the
# zero-regression review (roles/regression_verify, tests/nix/test_darwin_*.py).
#
#   nix eval --impure --json <flake>#darwinConfigurations.<host> \
#     --apply 'import ./extract.nix { queriesFile = "/tmp/q.json"; }'
#
# queriesFile: JSON list of { key, kind, path } where `path` is an option path
# from the configuration root and `kind` is
#   "value"    - the value, with packages shown as { __pkg__ = <pname or name>; }
#                and functions as "<function>", so that any value serialises;
#   "packages" - a list of packages as their names (pname, else name without version);
#   "names"    - the attribute names of an attrset (e.g. home-manager.users).
# Result: { <key> = { ok = true; value = ...; } or { ok = false; error = "..."; } }.
# stubPkgs (tests only): path of a stand-in pkgs, injected with extendModules.
# extraModules (tests only): modules added to the configuration before reading,
# e.g. to prove that the review notices a removed item.
{
  queriesFile,
  stubPkgs ? null,
  extraModules ? [ ],
}:
configuration:
let
  stubModule =
    { lib, ... }:
    {
      nixpkgs.pkgs = import stubPkgs { inherit lib; };
    };
  added = (if stubPkgs == null then [ ] else [ stubModule ]) ++ extraModules;
  evaluated = if added == [ ] then configuration else configuration.extendModules { modules = added; };
  inherit (evaluated) config;
  queries = builtins.fromJSON (builtins.readFile queriesFile);

  missing = { __missing__ = true; };
  isPkg = v: builtins.isAttrs v && (v.type or null) == "derivation";
  # nixpkgs names tmux plugins "tmuxplugin-<name>" (mkTmuxPlugin); the baseline
  # lists them by attribute path (tmuxPlugins.<name>), so map them back.
  tmuxPrefix = "tmuxplugin-";
  tmuxPrefixLen = builtins.stringLength tmuxPrefix;
  fromTmux =
    n:
    if builtins.substring 0 tmuxPrefixLen n == tmuxPrefix then
      "tmuxPlugins." + builtins.substring tmuxPrefixLen (builtins.stringLength n) n
    else
      n;
  pkgName = p: fromTmux (p.pname or (builtins.parseDrvName (p.name or "unnamed")).name);

  # Depth-limited so a query that points at a huge attrset cannot run away.
  sanitize =
    depth: v:
    if builtins.isFunction v then
      "<function>"
    else if isPkg v then
      { __pkg__ = pkgName v; }
    else if builtins.isPath v then
      toString v
    else if builtins.isAttrs v then
      (if depth <= 0 then "<truncated>" else builtins.mapAttrs (_: sanitize (depth - 1)) (removeAttrs v [ "_module" ]))
    else if builtins.isList v then
      map (sanitize (depth - 1)) v
    else
      v;

  lookup =
    path:
    builtins.foldl' (acc: seg: if builtins.isAttrs acc && builtins.hasAttr seg acc then acc.${seg} else missing) config path;

  run =
    q:
    let
      raw = lookup q.path;
      value =
        if builtins.isAttrs raw && raw ? __missing__ then
          missing
        else if q.kind == "packages" then
          map pkgName raw
        else if q.kind == "names" then
          builtins.attrNames raw
        else
          sanitize 12 raw;
      attempt = builtins.tryEval (builtins.deepSeq value value);
    in
    if attempt.success then
      {
        ok = true;
        value = attempt.value;
      }
    else
      {
        ok = false;
        error = "evaluation failed (throw or assertion) at ${builtins.concatStringsSep "." q.path}";
      };
in
builtins.listToAttrs (
  map (q: {
    name = q.key;
    value = run q;
  }) queries
)
