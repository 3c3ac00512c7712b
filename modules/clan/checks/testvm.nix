# `checks.x86_64-linux.testvm`: clan's NixOS VM test for the test machine.
#
# Uses clan-core's test framework (flakeModules.testModule ->
# perSystem.clan.nixosTests, lib/clanTest/flake-module.nix), which generates
# the vars of the test clan on the fly (IFD) and boots QEMU VMs. The test clan
# reuses this flake's own clan services and NixOS aspects, with testvm's
# inventory facts (tags) and the real clan domain; the disko/LUKS and initrd
# unlock aspects are left out because the test framework supplies its own
# disks. Needs full nixpkgs and KVM: runs in CI (.github/workflows/nix.yml),
# not in the offline sandbox.
{ config, inputs, lib, ... }:
let
  flakeConfig = config;
  nixos = config.flake.modules.nixos;
  inherit (config.flake.clan.inventory) meta;
  testvm = config.flake.clan.inventory.machines.testvm;
  ports = config.flake.fleet.ports;
in
{
  imports = [ inputs.clan-core.flakeModules.testModule ];

  perSystem.clan.nixosTests.testvm = {
    name = "testvm";
    clan = {
      directory = ../../..;
      test.useContainers = false; # real VMs: the firewall needs its own kernel netfilter
      meta = {
        name = "fleet-test";
        inherit (meta) domain;
      };
      modules = lib.getAttrs [ "@fleet/sshd" "@fleet/users" ] flakeConfig.flake.clan.modules;
      inventory = {
        machines.testvm.tags = testvm.tags;
        instances = lib.getAttrs [ "sshd" "users-root" ] flakeConfig.flake.clan.inventory.instances;
      };
      machines.testvm.imports = [
        nixos.srvos-server
        nixos.firewall
      ];
    };

    nodes.testvm = { };

    testScript =
      { nodes, ... }:
      let
        cfg = nodes.testvm;
        cert = cfg.clan.core.vars.generators.openssh-cert.files."ssh.id_ed25519-cert.pub".path;
      in
      ''
        start_all()
        testvm.wait_for_unit("sshd.service")
        testvm.wait_for_open_port(${toString ports.ssh})

        # The host certificate is signed for testvm.<domain>; the CA is trusted for *.<domain>.
        testvm.succeed("ssh-keygen -L -f ${cert} | grep -q 'testvm.${meta.domain}'")
        testvm.succeed("grep -q '^@cert-authority ssh-ca,\\*.${meta.domain} ' /etc/ssh/ssh_known_hosts")

        # root's password hash comes from vars (users-root), not from a literal.
        testvm.succeed("getent shadow root | cut -d: -f2 | grep -q '^\\$y\\$'")

        # Public surface only: ssh over TCP, ZeroTier over UDP; nothing else.
        rules = testvm.succeed("iptables -S nixos-fw")
        assert "--dport ${toString ports.ssh}" in rules, rules
        assert "-p tcp -m tcp --dport ${toString ports.zerotier}" not in rules, rules
        assert "zt+" in rules, "the mesh interface must be trusted: " + rules
      '';
  };
}
