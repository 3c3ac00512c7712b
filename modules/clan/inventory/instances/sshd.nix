# sshd: every machine runs sshd with vars-managed host keys and a host
# certificate signed by the fleet CA (server role), and trusts that CA for
# *.<clan domain> (client role), so no host is trusted on first use.
{
  clan.inventory.instances.sshd = {
    module = {
      name = "@fleet/sshd";
      input = "self";
    };
    roles.server.tags.all = { };
    roles.server.settings.certificate.enable = true;
    roles.client.tags.all = { };
  };
}
