# users-crs58: the workstation owner, declared through the inventory on every
# workstation (darwin: home and SSH keys; NixOS would also get a password).
# The user's facts (keys) live in modules/users/crs58.nix.
{ config, ... }:
{
  clan.inventory.instances.users-crs58 = {
    module = {
      name = "@fleet/users";
      input = "self";
    };
    roles.default.tags.workstation = { };
    roles.default.settings = {
      user = "crs58";
      groups = [ "wheel" ];
      openssh.authorizedKeys.keys = config.flake.fleet.users.crs58.sshKeys;
    };
  };
}
