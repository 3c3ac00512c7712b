# `@fleet/sshd`: clan-core's sshd service plus a nix-darwin side.
#
# NixOS behaviour is clan-core's (imported, unchanged): persistent host keys,
# a shared SSH CA (`openssh-ca`), a CA-signed host certificate for
# <machine>.<domain> and the CA in known_hosts. The darwin side declares the
# same generators from `fleet.generators` (same names, files and
# dependencies, so clan sees one definition of the shared `openssh-ca`) and
# configures Apple's sshd and /etc/ssh/ssh_known_hosts through nix-darwin.
{ config, inputs, lib, ... }:
let
  fleetGenerators = config.flake.fleet.generators;
  varsLib = import ../../vars/_lib.nix { inherit lib; };

  # The CA as a @cert-authority known_hosts entry for *.<domain> (+ extra domains).
  knownHostsCa =
    { config, searchDomains }:
    {
      certAuthority = true;
      extraHostNames = map (domain: "*.${domain}") searchDomains;
      publicKey = config.clan.core.vars.generators.openssh-ca.files."id_ed25519.pub".value;
    };
  caGenerator = pkgs: varsLib.toClanGenerator {
    gen = fleetGenerators.openssh-ca;
    inherit pkgs;
  };
in
{
  clan.modules."@fleet/sshd" =
    { lib, ... }:
    {
      imports = [ inputs.clan-core.clan.modules.sshd ];
      manifest.name = lib.mkForce "@fleet/sshd";
      manifest.description = lib.mkForce "clan-core's sshd service (host keys, SSH CA, host certificates) with a nix-darwin side added";

      roles.client.perInstance =
        { settings, roles, ... }:
        {
          darwinModule =
            { config, lib, pkgs, ... }:
            let
              servers = builtins.attrValues (roles.server.machines or { });
              anyCertificateEnabled = lib.any (m: m.settings.certificate.enable or true) servers;
              serverSearchDomains = lib.concatMap (m: m.settings.certificate.searchDomains or [ ]) servers;
              searchDomains = [
                config.clan.core.settings.domain
              ]
              ++ lib.uniqueStrings (settings.certificate.searchDomains ++ serverSearchDomains);
            in
            lib.mkIf anyCertificateEnabled {
              clan.core.vars.generators.openssh-ca = caGenerator pkgs;
              programs.ssh.knownHosts.ssh-ca = knownHostsCa { inherit config searchDomains; };
            };
        };

      roles.server.perInstance =
        { settings, machine, ... }:
        {
          darwinModule =
            { config, lib, pkgs, ... }:
            let
              gens = config.clan.core.vars.generators;
              domains = lib.uniqueStrings ([ config.clan.core.settings.domain ] ++ settings.certificate.searchDomains);
              hostKey = gens.openssh.files."ssh.id_ed25519";
              cert = gens.openssh-cert.files."ssh.id_ed25519-cert.pub";
            in
            {
              assertions = [
                {
                  assertion = !settings.generateRootKey && !settings.hostKeys.rsa.enable;
                  message = "sshd on darwin machine '${machine.name}': generateRootKey and hostKeys.rsa are NixOS-only in @fleet/sshd; unset them for darwin machines.";
                }
              ];
              clan.core.vars.generators = {
                openssh = lib.recursiveUpdate (varsLib.toClanGenerator {
                  gen = fleetGenerators.openssh;
                  inherit pkgs;
                }) {
                  # Not a /run/secrets file on darwin: nix-darwin's `openssh` activation
                  # phase generates any missing host key (modules/services/openssh.nix
                  # keygenScript) before sops-nix installs /run/secrets in postActivation
                  # (sops-nix modules/nix-darwin/default.nix), and /run is emptied at boot.
                  # clan uploads "activation" secrets to the persistent
                  # /var/lib/sops-nix/activation/ before it activates, so the key exists
                  # first and nix-darwin never generates a different one.
                  files."ssh.id_ed25519".neededFor = "activation";
                };
              }
              // lib.optionalAttrs settings.certificate.enable {
                openssh-ca = caGenerator pkgs;
                openssh-cert = varsLib.toClanGenerator {
                  gen = fleetGenerators.openssh-cert;
                  inherit pkgs;
                  env = {
                    MACHINE = machine.name;
                    PRINCIPALS = lib.concatMapStringsSep "," (d: "${machine.name}.${d}") domains;
                  };
                };
              };

              services.openssh = {
                enable = true;
                hostKeys = [
                  {
                    type = "ed25519";
                    inherit (hostKey) path;
                  }
                ];
                extraConfig = lib.concatStringsSep "\n" (
                  [
                    "PasswordAuthentication no"
                    "KbdInteractiveAuthentication no"
                  ]
                  ++ lib.optional (settings.certificate.enable && cert.exists) "HostCertificate ${cert.path}"
                );
              };

              users.users.root.openssh.authorizedKeys.keys = lib.mkIf (settings.authorizedKeys != { }) (
                builtins.attrValues settings.authorizedKeys
              );

              programs.ssh.knownHosts = {
                ssh-ca = lib.mkIf settings.certificate.enable (knownHostsCa {
                  inherit config;
                  searchDomains = domains;
                });
                clan-sshd-self-ed25519 = {
                  hostNames = [
                    "localhost"
                    config.networking.hostName
                  ];
                  publicKey = gens.openssh.files."ssh.id_ed25519.pub".value;
                };
              };
            };
        };
    };
}
