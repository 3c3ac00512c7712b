# home-manager through nix-darwin: every user in `flake.fleet.users` gets the
# shared home aspects; per-user differences come from that user's facts.
{
  config,
  inputs,
  lib,
  ...
}:
let
  fleetUsers = config.flake.fleet.users;
  hm = config.flake.modules.homeManager;
in
{
  flake.modules.darwin.home-manager = {
    imports = [ inputs.home-manager.darwinModules.home-manager ];
    home-manager = {
      useGlobalPkgs = true;
      useUserPackages = true;
      backupFileExtension = "before-home-manager";
      # `fleetUser`: this user's facts, for aspects that need name, email, keys.
      users = lib.mapAttrs (_: u: {
        imports = [ hm.default ];
        _module.args.fleetUser = u;
      }) fleetUsers;
    };
  };
}
