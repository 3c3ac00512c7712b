# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
"""The clan inventory as plain data: what to evaluate, how to check and read it.

Shared by the inventory plugin (fleet.migration.clan) and the Phase 0 check.
Pure standard library.

:data:`INVENTORY_APPLY` is a ``nix eval --apply`` function over the flake's
whole outputs (``<flake>#.``) that selects only JSON-able data in one
evaluation. Role membership is returned as written (machines and tags) and
resolved here by :func:`resolve_roles`, the way clan-core's
``clanLib.inventory.resolveTags`` (lib/inventory/default.nix) does, because
clan's resolved service tree holds modules, which JSON cannot carry.
"""
from __future__ import annotations

import re

# One evaluation of everything the inventory needs. `or` defaults keep a
# missing optional attribute from aborting the evaluation; the Python side then
# reports what is missing (fail closed).
INVENTORY_APPLY = """
outputs:
let
  inv = outputs.clan.inventory;
  names = builtins.attrNames;
  fleet = outputs.fleet or { };
in {
  machines = builtins.mapAttrs (name: m: {
    machineClass = m.machineClass or "nixos";
    tags = m.tags or [ ];
    description = m.description or null;
    deploy = {
      targetHost = m.deploy.targetHost or null;
      buildHost = m.deploy.buildHost or null;
    };
  }) (inv.machines or { });
  instances = builtins.mapAttrs (name: i: {
    module = {
      name = i.module.name or name;
      input = i.module.input or null;
    };
    roles = builtins.mapAttrs (role: r: {
      machines = names (r.machines or { });
      tags = names (r.tags or { });
    }) (i.roles or { });
  }) (inv.instances or { });
  fleet = {
    ports = fleet.ports or null;
    publicSurface = fleet.publicSurface or null;
    domain = fleet.domain or null;
    generators = fleet.generators or { };
  };
}
"""

# The same data through the clan CLI: `clan select --flake F SELECTOR` prints
# the JSON of SELECTOR (clan-core pkgs/clan-cli/clan_cli/select.py, selector
# syntax clan_lib/flake/flake.py parse_selector). Role members are selected as
# attribute sets and reduced to their names by :func:`from_clan_select`; fields
# are selected one by one so per-role settings (modules, maybe functions) are
# never serialised.
CLAN_SELECTORS = {
    "machines": "clan.inventory.machines.*.{machineClass,tags,description,deploy}",
    "modules": "clan.inventory.instances.*.module",
    "roles": "clan.inventory.instances.*.roles.*.{machines,tags}",
    "fleet": "fleet.{ports,publicSurface,domain,generators}",
}

# user@host:port, user and port optional; host may be [v6] bracketed.
_TARGET_RE = re.compile(r"^(?:(?P<user>[^@\s:/]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@\s:/\[\]]+)(?::(?P<port>\d+))?$")
_PHASE_RE = re.compile(r"^phase(\d+)$")
MACHINE_CLASSES = ("nixos", "darwin")


class InventoryDataError(ValueError):
    """The evaluated inventory does not have the expected shape."""


def parse_target_host(machine: str, target: str) -> dict:
    """Split deploy.targetHost ``user@host:port`` into ansible_* variables."""
    match = _TARGET_RE.match(target.strip()) if isinstance(target, str) else None
    if not match:
        raise InventoryDataError(
            "machine '%s': deploy.targetHost expected the form [user@]host[:port], found %r; fix "
            "clan.inventory.machines.%s.deploy.targetHost" % (machine, target, machine)
        )
    result = {"ansible_host": match.group("host").strip("[]")}
    if match.group("user"):
        result["ansible_user"] = match.group("user")
    if match.group("port"):
        result["ansible_port"] = int(match.group("port"))
    return result


def phase_from_tags(tags: list[str]) -> int | None:
    """The migration phase N of the single ``phaseN`` tag, None without one."""
    phases = sorted({int(m.group(1)) for m in (_PHASE_RE.match(t) for t in tags) if m})
    if len(phases) > 1:
        raise InventoryDataError("expected at most one phaseN tag, found %s" % ["phase%d" % p for p in phases])
    return phases[0] if phases else None


def generator_applies(generator: dict, tags: list, services: list) -> bool:
    """Whether a vars generator (an entry of `.#fleet.generators`) applies to a
    machine: through one of its inventory tags, or through a clan service
    instance it holds a role in ("@fleet/sshd (...)" -> instance sshd,
    "@fleet/users" -> instances users-<name>)."""
    applies = generator.get("appliesTo") or {}
    if set(applies.get("tags") or []) & set(tags):
        return True
    match = re.match(r"@[\w-]+/([\w-]+)", applies.get("service") or "")
    return bool(match) and any(s == match.group(1) or s.startswith(match.group(1) + "-") for s in services)


def expected_secrets(generators: dict, tags: list, services: list, host: str) -> list:
    """The secret files clan deploys for services on a machine, as
    ``[{path, owner, mode}]`` with paths relative to /run/secrets: what the
    secrets_verify role expects. Generators shared across an instance or
    named after the controller are not host-local files and are left out."""
    users = [s.split("-", 1)[1] for s in services if s.startswith("users-")]
    secrets = []
    for name, generator in sorted(generators.items()):
        if not generator_applies(generator, tags, services):
            continue
        template = generator.get("nameTemplate") or name
        if "<controller>" in template or "<instance>" in template:
            continue
        if "<user>" in template:
            names = [template.replace("<machine>", host).replace("<user>", user) for user in (users or [""])]
        else:
            names = [template.replace("<machine>", host)]
        for generator_name in names:
            for file_name, spec in sorted((generator.get("files") or {}).items()):
                if spec.get("deploy") and spec.get("secret") and spec.get("neededFor") == "services":
                    secrets.append({"path": "vars/%s/%s" % (generator_name, file_name),
                                    "owner": spec["owner"], "mode": spec["mode"]})
    return secrets


def validate(data) -> None:
    """Raise InventoryDataError naming what is malformed in INVENTORY_APPLY's result."""
    if not isinstance(data, dict):
        raise InventoryDataError("expected the evaluation to return an attribute set, found %s"
                                 % type(data).__name__)
    machines = data.get("machines")
    if not isinstance(machines, dict):
        raise InventoryDataError(
            "clan.inventory.machines: expected an attribute set of machines, found %s; check "
            "modules/clan/inventory/machines.nix" % type(machines).__name__
        )
    for name, machine in machines.items():
        if not isinstance(machine, dict):
            raise InventoryDataError("machine '%s': expected an attribute set, found %s"
                                     % (name, type(machine).__name__))
        if machine.get("machineClass") not in MACHINE_CLASSES:
            raise InventoryDataError("machine '%s': machineClass expected one of %s, found %r"
                                     % (name, list(MACHINE_CLASSES), machine.get("machineClass")))
        tags = machine.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InventoryDataError("machine '%s': tags expected a list of strings, found %r" % (name, tags))
    instances = data.get("instances", {})
    if not isinstance(instances, dict):
        raise InventoryDataError("clan.inventory.instances: expected an attribute set, found %s"
                                 % type(instances).__name__)
    for name, instance in instances.items():
        roles = instance.get("roles") if isinstance(instance, dict) else None
        if not isinstance(roles, dict):
            raise InventoryDataError("instance '%s': roles expected an attribute set, found %r" % (name, roles))
        module = instance.get("module")
        if not isinstance(module, dict) or not isinstance(module.get("name"), str):
            raise InventoryDataError("instance '%s': module expected {name, input}, found %r" % (name, module))
        for role_name, role in roles.items():
            if not isinstance(role, dict) or not all(
                    isinstance(role.get(key, []), list) for key in ("machines", "tags")):
                raise InventoryDataError("instance '%s': role '%s' expected lists of machines and tags, found %r"
                                         % (name, role_name, role))
    fleet = data.get("fleet")
    if not isinstance(fleet, dict) or not isinstance(fleet.get("ports"), dict) \
            or not isinstance(fleet.get("publicSurface"), dict):
        raise InventoryDataError(
            "flake output fleet: expected fleet.ports and fleet.publicSurface attribute sets, found %r; "
            "they are declared in modules/fleet/ports.nix" % (fleet,)
        )


def resolve_roles(machines: dict, instances: dict) -> dict:
    """``{instance: {role: [machine, ...]}}`` with tags resolved to machines.

    Members are the role's explicit machines plus every machine carrying one of
    its tags (clan's computed tags all/nixos/darwin are already in ``tags``).
    """
    resolved = {}
    for instance_name, instance in instances.items():
        resolved[instance_name] = {}
        for role_name, role in instance["roles"].items():
            members = set(role.get("machines", []))
            for tag in role.get("tags", []):
                members.update(name for name, m in machines.items() if tag in m["tags"])
            resolved[instance_name][role_name] = sorted(members)
    return resolved


def build_hosts(data: dict) -> dict:
    """``{machine: hostvars}`` from validated INVENTORY_APPLY output."""
    validate(data)
    machines = data["machines"]
    instances = data.get("instances", {})
    roles = resolve_roles(machines, instances)
    hosts = {}
    for name in sorted(machines):
        machine = machines[name]
        services = {
            instance: sorted(role for role, members in instance_roles.items() if name in members)
            for instance, instance_roles in roles.items()
        }
        target = (machine.get("deploy") or {}).get("targetHost")
        hostvars = {
            "clan_machine_name": name,
            "clan_machine_class": machine["machineClass"],
            "clan_tags": list(machine["tags"]),
            "clan_description": machine.get("description"),
            "clan_services": {k: v for k, v in sorted(services.items()) if v},
            "clan_service_modules": {k: instances[k]["module"]["name"] for k in sorted(services) if services[k]},
            "fleet_ports": data["fleet"]["ports"],
            "fleet_public_surface": data["fleet"]["publicSurface"],
            "fleet_domain": data["fleet"].get("domain"),
            "fleet_expected_secrets": expected_secrets(
                data["fleet"].get("generators") or {}, machine["tags"], [k for k, v in services.items() if v], name),
        }
        try:
            hostvars["fleet_phase"] = phase_from_tags(machine["tags"])
        except InventoryDataError as exc:
            raise InventoryDataError("machine '%s': %s" % (name, exc)) from exc
        if target:
            hostvars.update(parse_target_host(name, target))
        hosts[name] = hostvars
    return hosts


def from_clan_select(selected: dict) -> dict:
    """INVENTORY_APPLY-shaped data from the ``clan select`` results of CLAN_SELECTORS.

    ``selected`` maps each CLAN_SELECTORS key to the JSON its selector printed.
    The result goes through :func:`build_hosts` (and so :func:`validate`) like
    the nix source's, so both sources give the same hosts.
    """
    for key, expected in (("machines", dict), ("modules", dict), ("roles", dict), ("fleet", dict)):
        if not isinstance(selected.get(key), expected):
            raise InventoryDataError(
                "clan select '%s': expected an attribute set, found %r; check that clan_bin is clan-core's CLI"
                % (CLAN_SELECTORS[key], selected.get(key)))
    machines = {}
    for name, machine in selected["machines"].items():
        if not isinstance(machine, dict):
            raise InventoryDataError("machine '%s': expected an attribute set, found %r" % (name, machine))
        deploy = machine.get("deploy") if isinstance(machine.get("deploy"), dict) else {}
        machines[name] = {
            "machineClass": machine.get("machineClass"),
            "tags": machine.get("tags"),
            "description": machine.get("description"),
            "deploy": {"targetHost": deploy.get("targetHost"), "buildHost": deploy.get("buildHost")},
        }
    instances = {}
    for name, roles in selected["roles"].items():
        if not isinstance(roles, dict):
            raise InventoryDataError("instance '%s': roles expected an attribute set, found %r" % (name, roles))
        module = selected["modules"].get(name)
        instances[name] = {
            "module": {"name": module.get("name", name), "input": module.get("input")}
            if isinstance(module, dict) else module,
            "roles": {role: _member_names(name, role, members) for role, members in roles.items()},
        }
    return {"machines": machines, "instances": instances, "fleet": selected["fleet"]}


def _member_names(instance: str, role: str, members) -> dict:
    """``{machines: [names], tags: [names]}`` from a role's selected attribute sets."""
    if not isinstance(members, dict):
        raise InventoryDataError("instance '%s': role '%s' expected {machines, tags}, found %r"
                                 % (instance, role, members))
    result = {}
    for key in ("machines", "tags"):
        value = members.get(key, {})
        if not isinstance(value, dict):
            raise InventoryDataError("instance '%s': role '%s' expected %s as an attribute set, found %r"
                                     % (instance, role, key, value))
        result[key] = sorted(value)
    return result
