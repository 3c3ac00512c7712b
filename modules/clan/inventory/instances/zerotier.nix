# zerotier: the fleet mesh. The controller is whichever machine carries the
# zerotier-controller tag (cinnabar); every machine (tag all) is a peer and is
# admitted by identity from its vars.
{
  clan.inventory.instances.zerotier = {
    module = {
      name = "@fleet/zerotier";
      input = "self";
    };
    roles.controller.tags.zerotier-controller = { };
    roles.peer.tags.all = { };
  };
}
