# users-root: root on every server, password from vars (mkpasswd), keys of the
# workstation admin (fleet.users, modules/users/*.nix: the one with admin = true).
{ config, lib, ... }:
let
  admins = lib.filter (u: u.admin) (lib.attrValues config.flake.fleet.users);
in
{
  clan.inventory.instances.users-root = {
    module = {
      name = "@fleet/users";
      input = "self";
    };
    roles.default.tags.server = { };
    roles.default.settings = {
      user = "root";
      prompt = false; # console/emergency use only: generate it, read it with `clan vars get`
      openssh.authorizedKeys.keys = lib.concatMap (u: u.sshKeys) admins;
    };
  };
}
