# `@fleet/zerotier`: clan-core's zerotier service plus a nix-darwin side, so
# darwin workstations join the mesh declaratively like the NixOS servers.
#
# NixOS behaviour is clan-core's, unchanged: this module *imports* the
# upstream clan.service module and only adds `darwinModule`s (clan.service
# `perInstance`/`perMachine` are deferred modules, so definitions merge).
# The darwin side declares the same vars generators as upstream's NixOS side
# (zerotier-identity-<machine>, zerotier-network-<instance> (shared),
# zerotier-ip-<machine>-<instance> (shared, public)). The controller admits
# every member of the instance whose zerotier-ip var exists, so a darwin peer
# is admitted by identity as soon as `clan vars generate <machine>` ran: no
# manual join, no typed address. The network id comes from the controller's
# vars, never from a literal.
{ config, inputs, lib, ... }:
let
  fleetGenerators = config.flake.fleet.generators;
  varsLib = import ../../vars/_lib.nix { inherit lib; };
  # The official macOS client's home (binaries, identity, networks.d).
  ztHome = "/Library/Application Support/ZeroTier/One";
in
{
  clan.modules."@fleet/zerotier" =
    { lib, ... }:
    {
      imports = [ inputs.clan-core.clan.modules.zerotier ];
      manifest.name = lib.mkForce "@fleet/zerotier";
      manifest.description = lib.mkForce "clan-core's ZeroTier mesh service with a nix-darwin peer (launchd) added";

      # Controllers and moons keep state and public endpoints: servers only.
      roles.controller.perInstance =
        { instanceName, machine, ... }:
        {
          darwinModule.assertions = [
            {
              assertion = false;
              message = "zerotier instance '${instanceName}': darwin machine '${machine.name}' holds the controller role, but @fleet/zerotier only runs controllers on NixOS. Give the zerotier-controller tag to a NixOS server in modules/clan/inventory/machines.nix.";
            }
          ];
        };
      roles.moon.perInstance =
        { instanceName, machine, ... }:
        {
          darwinModule.assertions = [
            {
              assertion = false;
              message = "zerotier instance '${instanceName}': darwin machine '${machine.name}' holds the moon role, but @fleet/zerotier only runs moons on NixOS. Remove it from roles.moon.";
            }
          ];
        };

      perMachine =
        { instances, machine, ... }:
        {
          darwinModule =
            { config, lib, pkgs, ... }:
            let
              gens = config.clan.core.vars.generators;
              # Generator tools exactly as clan-core's zerotier service builds them
              # (clanServices/zerotier/default.nix: pkgs.callPackage ./pkgs/zerotier-tools);
              # `clan.core.clanPkgs` is deprecated. nixpkgs' zerotierone provides
              # zerotier-idtool for `clan vars generate` only: it cannot create the
              # macOS network interface, the official client (Homebrew cask) does.
              packages = {
                zerotier-tools = pkgs.callPackage "${inputs.clan-core}/clanServices/zerotier/pkgs/zerotier-tools" { };
                inherit (pkgs) zerotierone;
              };
              identityGen = "zerotier-identity-${machine.name}";
              networkGen = instanceName: "zerotier-network-${instanceName}";
              controllerOf =
                instanceName: instanceInfo:
                let
                  controllers = builtins.attrNames (instanceInfo.roles.controller.machines or { });
                in
                if controllers == [ ] then
                  throw "zerotier instance '${instanceName}' has no controller; tag one NixOS server zerotier-controller"
                else
                  builtins.head controllers;
              networkIds = lib.mapAttrsToList (
                instanceName: _: gens.${networkGen instanceName}.files.network-id.value
              ) instances;
            in
            {
              clan.core.vars.generators =
                {
                  ${identityGen} = varsLib.toClanGenerator {
                    gen = fleetGenerators.zerotier-identity;
                    inherit pkgs packages;
                  };
                }
                // lib.mapAttrs' (
                  instanceName: instanceInfo:
                  let
                    controllerGen = "zerotier-identity-${controllerOf instanceName instanceInfo}";
                  in
                  lib.nameValuePair (networkGen instanceName) (
                    varsLib.toClanGenerator {
                      gen = fleetGenerators.zerotier-network;
                      inherit pkgs packages;
                      env.CONTROLLER_GENERATOR = controllerGen;
                      dependencies = [ controllerGen ];
                    }
                  )
                ) instances
                // lib.mapAttrs' (
                  instanceName: _:
                  lib.nameValuePair "zerotier-ip-${machine.name}-${instanceName}" (
                    varsLib.toClanGenerator {
                      gen = fleetGenerators.zerotier-ip;
                      inherit pkgs packages;
                      env = {
                        IDENTITY_GENERATOR = identityGen;
                        NETWORK_GENERATOR = networkGen instanceName;
                      };
                      dependencies = [
                        identityGen
                        (networkGen instanceName)
                      ];
                    }
                  )
                ) instances;

              # The official ZeroTier One for macOS (its installer ships the network
              # interface driver and the com.zerotier.one LaunchDaemon).
              homebrew.casks = [ "zerotier-one" ];

              # Seeds the client's identity from vars and joins every instance's
              # network. Runs at boot and at each activation; waits for sops-nix to
              # install the identity (/run/secrets is recreated at boot).
              launchd.daemons.fleet-zerotier = {
                path = [ pkgs.coreutils pkgs.diffutils ];
                script = ''
                  set -eu
                  home=${lib.escapeShellArg ztHome}
                  secret=${lib.escapeShellArg gens.${identityGen}.files.identity-secret.path}
                  for _ in $(seq 120); do [ -s "$secret" ] && break; sleep 1; done
                  if [ ! -s "$secret" ]; then
                    echo "fleet-zerotier on ${machine.name}: expected the identity $secret (vars ${identityGen}), found none; run 'clan vars generate ${machine.name}' and 'clan machines update ${machine.name}'" >&2
                    exit 1
                  fi
                  if [ ! -x "$home/zerotier-one" ]; then
                    echo "fleet-zerotier on ${machine.name}: expected the official client at $home/zerotier-one (Homebrew cask zerotier-one), found none; run darwin-rebuild switch" >&2
                    exit 1
                  fi
                  if ! cmp -s "$secret" "$home/identity.secret"; then
                    /bin/launchctl bootout system/com.zerotier.one 2>/dev/null || true
                    install -m 0600 "$secret" "$home/identity.secret"
                    "$home/zerotier-one" -i getpublic "$home/identity.secret" > "$home/identity.public"
                    /bin/launchctl bootstrap system /Library/LaunchDaemons/com.zerotier.one.plist 2>/dev/null \
                      || /bin/launchctl kickstart -k system/com.zerotier.one
                  fi
                  ${lib.concatMapStrings (id: ''
                    "$home/zerotier-cli" join ${lib.escapeShellArg id} >/dev/null || true
                  '') networkIds}
                '';
                serviceConfig = {
                  RunAtLoad = true;
                  KeepAlive = false;
                  StandardOutPath = "/var/log/fleet-zerotier.log";
                  StandardErrorPath = "/var/log/fleet-zerotier.log";
                };
              };
            };
        };
    };
}
