# `fleet.serviceRoles.<machine>.<instance> = [ <role> ... ]`: which clan
# service roles each machine holds, after clan resolved the inventory's tags.
# The Ansible inventory plugin (hostvar `clan_services`) and the tests read it
# via `nix eval .#fleet.serviceRoles`, so nobody re-implements tag resolution.
#
# Source: clan-core's resolved service instances, `clan._services.allServices.
# <module>.instances.<instance>.roles.<role>.machines` (marked internal by
# clan-core; if it moves, only this file changes).
{ config, lib, ... }:
let
  allServices = config.flake.clan._services.allServices;
  machineNames = lib.attrNames config.flake.clan.inventory.machines;
  # [ { machine; instance; role; } ]
  memberships = lib.concatLists (
    lib.mapAttrsToList (
      _moduleId: service:
      lib.concatLists (
        lib.mapAttrsToList (
          instanceName: instance:
          lib.concatLists (
            lib.mapAttrsToList (
              roleName: role:
              map (machine: {
                inherit machine roleName instanceName;
              }) (lib.attrNames role.machines)
            ) instance.roles
          )
        ) service.instances
      )
    ) allServices
  );
  rolesOf =
    machine:
    let
      mine = lib.filter (m: m.machine == machine) memberships;
    in
    lib.mapAttrs (_: ms: lib.sort lib.lessThan (map (m: m.roleName) ms)) (
      lib.groupBy (m: m.instanceName) mine
    );
in
{
  flake.fleet.serviceRoles = lib.genAttrs machineNames rolesOf;
}
