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
  # This host's users: an explicit per-host fact (flake.fleet.hostUsers, machine files).
  hostUsers =
    machine:
    let
      names =
        config.flake.fleet.hostUsers.${machine}
          or (throw "darwin host ${machine}: expected flake.fleet.hostUsers.${machine} (its users) in modules/machines/darwin/${machine}.nix, found none; list the login names that get a home there");
      unknown = lib.filter (n: !(fleetUsers ? ${n})) names;
    in
    if unknown != [ ] then
      throw "darwin host ${machine}: flake.fleet.hostUsers.${machine} names ${toString unknown}, which are not users (modules/users/<name>.nix); add the user or remove the name"
    else
      lib.getAttrs names fleetUsers;
in
{
  flake.modules.darwin.home-manager =
    { config, ... }:
    {
    imports = [ inputs.home-manager.darwinModules.home-manager ];
    home-manager = {
      useGlobalPkgs = true;
      useUserPackages = true;
      backupFileExtension = "before-home-manager";
      # `fleetUser`: this user's facts, for aspects that need name, email, keys.
      users = lib.mapAttrs (_: u: {
        imports = [ hm.default ];
        _module.args.fleetUser = u;
      }) (hostUsers config.clan.core.settings.machine.name);
    };
  };
}
