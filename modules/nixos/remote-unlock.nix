# Aspect `remote-unlock`: an SSH server in the systemd initrd so the LUKS root
# can be unlocked remotely: `ssh root@<machine>.<domain>` (initrd host key from
# vars generator `initrd-ssh`), then the passphrase prompt
# (systemd-tty-ask-password-agent) asks for vars `luks-root/key`.
# Port: fleet.firewall.initrdSshPort (= fleet.ports.ssh). Keys: the admins'.
{ config, lib, ... }:
let
  inherit (config.flake.fleet) firewall users;
  adminKeys = lib.concatMap (u: u.sshKeys) (lib.filter (u: u.admin) (lib.attrValues users));
in
{
  flake.modules.nixos.remote-unlock =
    { config, ... }:
    {
      boot.initrd.systemd.enable = true;
      boot.initrd.systemd.network.enable = true;
      boot.initrd.network = {
        enable = true;
        ssh = {
          enable = true;
          port = firewall.initrdSshPort;
          authorizedKeys = adminKeys;
          hostKeys = [ config.clan.core.vars.generators.initrd-ssh.files.id_ed25519.path ];
        };
      };
      # DHCP on the uplink inside the initrd (both clouds and QEMU hand out
      # addresses by DHCP; no address is written down anywhere).
      boot.initrd.systemd.network.networks."10-uplink" = {
        matchConfig.Name = "en* eth*";
        networkConfig.DHCP = "yes";
      };
      # Logging in drops straight into the passphrase prompt.
      boot.initrd.systemd.users.root.shell = "/bin/systemd-tty-ask-password-agent";
    };
}
