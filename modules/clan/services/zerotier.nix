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
  # Where zerotier-one keeps its state on darwin (the daemon is told so
  # explicitly; the macOS app default lives under /Library and is not used).
  darwinHome = "/var/lib/zerotier-one";
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
              ztPkgs = config.clan.core.clanPkgs;
              packages = {
                zerotier-tools = ztPkgs.zerotier-members;
                zerotierone = ztPkgs.zerotierone;
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

              environment.systemPackages = [ ztPkgs.zerotierone ];

              # Seeds the identity from vars, declares the networks to join
              # (zerotier-one joins every networks.d/<id>.conf) and runs the daemon.
              launchd.daemons.zerotierone = {
                path = [
                  ztPkgs.zerotierone
                  pkgs.coreutils
                  pkgs.diffutils # cmp
                  pkgs.findutils
                ];
                script = ''
                  set -eu
                  home=${lib.escapeShellArg darwinHome}
                  mkdir -p "$home/networks.d"
                  if ! cmp -s ${gens.${identityGen}.files.identity-secret.path} "$home/identity.secret"; then
                    install -m 0600 ${gens.${identityGen}.files.identity-secret.path} "$home/identity.secret"
                    zerotier-idtool getpublic "$home/identity.secret" > "$home/identity.public"
                  fi
                  find "$home/networks.d" -name '*.conf' -type f ${
                    lib.concatMapStrings (id: "-not -name ${lib.escapeShellArg "${id}.conf"} ") networkIds
                  }-delete
                  ${lib.concatMapStrings (id: ''
                    touch "$home/networks.d/${id}.conf"
                  '') networkIds}
                  exec zerotier-one "$home"
                '';
                serviceConfig = {
                  KeepAlive = true;
                  RunAtLoad = true;
                  StandardOutPath = "/var/log/zerotier-one.log";
                  StandardErrorPath = "/var/log/zerotier-one.log";
                };
              };
            };
        };
    };
}
