# Publishes `flake.fleet.admin`: the login name of the workstation admin, the
# one user in modules/users/*.nix with admin = true. The clan inventory deploys
# the workstations as this user (modules/clan/inventory/machines.nix) and the
# darwin `users` aspect makes it the primary user; neither repeats the name.
{ config, lib, ... }:
let
  admins = lib.attrNames (lib.filterAttrs (_: u: u.admin) config.flake.fleet.users);
in
{
  flake.fleet.admin =
    if lib.length admins == 1 then
      lib.head admins
    else
      throw "modules/users: expected exactly one user with admin = true, found ${toString (lib.length admins)} (${toString admins}); mark the workstation admin in modules/users/<name>.nix";
}
