# The offline tier's "first build" check: every module assertion and warning of
# a nix-darwin configuration and of each of its home-manager users.
#
#   nix eval --impure --json <flake>#darwinConfigurations.<host> \
#     --apply 'import tests/nix/assertions.nix { stubPkgs = ./tests/nix/stub-pkgs; varsStore = ./tests/nix/vars-fixture/store; }'
#
# nix-darwin fails a build with `Failed assertions:` from config.assertions
# (modules/system/checks.nix via lib.showWarnings/throw) and prints
# config.warnings; home-manager's nix-darwin integration prefixes each user's
# assertions and warnings with "<user> profile: " and adds them to the
# system's. Both lists are returned, the users' also on their own.
#
# stubPkgs: the test-only stand-in pkgs, given as the module argument `pkgs`
# (not `nixpkgs.pkgs`, which would itself trip nix-darwin's "externally created
# instance" assertion and hide the real `nixpkgs.config`).
# varsStore: a clan vars store (the CI fixture), as clan.core.settings.directory.
# extraModules: tests add a failing module to prove the tier notices it.
{
  stubPkgs,
  varsStore,
  extraModules ? [ ],
}:
configuration:
let
  harness =
    { lib, ... }:
    {
      _module.args.pkgs = lib.mkForce (import stubPkgs { inherit lib; });
      clan.core.settings.directory = lib.mkForce varsStore;
    };
  inherit (configuration.extendModules { modules = [ harness ] ++ extraModules; }) config;
  failed = xs: map (a: a.message) (builtins.filter (a: !a.assertion) xs);
in
{
  failedAssertions = failed config.assertions;
  inherit (config) warnings;
  homeManager = builtins.mapAttrs (_: user: {
    failedAssertions = failed user.assertions;
    inherit (user) warnings;
  }) (config.home-manager.users or { });
}
