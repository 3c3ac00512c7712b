# Workstation accounts. The admin (the one user in modules/users/*.nix with
# admin = true) must be declared in the clan inventory by a `@fleet/users`
# instance on the workstations (modules/clan/inventory/instances/users-<name>.nix),
# which gives it its home and SSH keys; this aspect makes it the nix-darwin
# primary user, lets root accept its keys, and declares the other users' homes
# (home-manager needs users.users.<name>.home).
{ config, lib, ... }:
let
  inherit (config.flake.fleet) users;
  # The one user with admin = true (modules/users/admin.nix).
  adminName = config.flake.fleet.admin;
  # The inventory instance declaring the admin (convention: users-<name>).
  # Its settings are a deferred module, so only the instance itself is read here.
  adminInstance = (config.flake.clan.inventory.instances or { })."users-${adminName}" or null;
  admin =
    if adminInstance != null && adminInstance.roles.default.tags ? workstation then
      users.${adminName}
    else
      throw "clan inventory: the workstation admin '${adminName}' has no @fleet/users instance tagged workstation; add modules/clan/inventory/instances/users-${adminName}.nix (see users-crs58.nix)";
in
{
  # `args.config`, not a `config` argument: tests call this module with pkgs only.
  flake.modules.darwin.users =
    args@{ pkgs, ... }:
    let
      machine = args.config.clan.core.settings.machine.name;
      # This host's users (flake.fleet.hostUsers; home-manager.nix checks the names).
      hostUsers = lib.getAttrs (config.flake.fleet.hostUsers.${machine} or [ ]) users;
    in
    {
      system.primaryUser = admin.name;
      users.users =
        lib.mapAttrs (_: u: {
          home = "/Users/${u.name}";
          shell = pkgs.zsh;
        }) hostUsers
        // {
          root.openssh.authorizedKeys.keys = admin.sshKeys;
        };
    };
}
