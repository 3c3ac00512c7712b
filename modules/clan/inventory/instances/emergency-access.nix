# emergency-access: a root password for the initrd/systemd emergency shell,
# generated into vars (clan-core's own service, NixOS only).
# Scope: the servers. Workstations are Macs: they have no initrd emergency
# shell and recover through macOS Recovery, so they are not members.
{
  clan.inventory.instances.emergency-access = {
    module = {
      name = "emergency-access";
      input = null; # clan-core's built-in service
    };
    roles.default.tags.server = { };
  };
}
