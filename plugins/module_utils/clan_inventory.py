# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
"""The clan inventory as plain data: what to evaluate, how to check and read it.

Shared by the inventory plugin (fleet.migration.clan) and the Phase 0 check.
Pure standard library.

:data:`INVENTORY_APPLY` is a ``nix eval --apply`` function over the flake's
whole outputs (``<flake>#.``) that selects only JSON-able data in one
evaluation. It reads any clan-core flake: the clan under the ``clan`` output
(``clan-core.lib.clan`` with ``clan = clan.config``, or clan-core's flake-parts
module) or, failing that, under ``clanInternals.inventoryClass.inventory``
(what every clan-core template exports for the clan CLI). Role membership is
returned as written (machines and tags) and resolved here by
:func:`resolve_roles`, the way clan-core's ``clanLib.inventory.resolveTags``
(lib/inventory/default.nix) does, because clan's resolved service tree holds
modules, which JSON cannot carry.

The ``fleet`` output (ports, public surface, domain, vars generators) and the
``phaseN`` tags are this repository's additions to a clan. They are read when
present and never required: a host whose fleet facts are missing gets the
variable ``fleet_facts_missing`` naming them instead (:data:`FLEET_FACTS`).
"""
from __future__ import annotations

import re

# One evaluation of everything the inventory needs. `or` defaults keep a
# missing optional attribute from aborting the evaluation; the Python side then
# reports what is missing (fail closed).
INVENTORY_APPLY = """
outputs:
let
  names = builtins.attrNames;
  internals = (outputs.clanInternals or { }).inventoryClass or { };
  source =
    if outputs ? clan && outputs.clan ? inventory then "clan"
    else if internals ? inventory then "clanInternals"
    else null;
  inv =
    if source == "clan" then outputs.clan.inventory
    else if source == "clanInternals" then internals.inventory
    else { };
  fleet = outputs.fleet or { };
in {
  clanSource = source;
  outputs = names outputs;
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
    generators = fleet.generators or null;
  };
}
"""

# The fleet-only host variables, each with what provides it. A variable whose
# source is absent is left undefined (so anything using it fails naming it)
# and listed in the host's `fleet_facts_missing`.
FLEET_FACTS = {
    "fleet_ports": "the flake output fleet.ports (service name to port)",
    "fleet_public_surface": "the flake output fleet.publicSurface ({tcp, udp} lists of fleet.ports names)",
    "fleet_domain": "the flake output fleet.domain",
    "fleet_expected_secrets": "the flake output fleet.generators (the clan vars generators with their files)",
    "fleet_phase": "a phaseN tag on the machine in the clan inventory",
}
# fleet.<output> -> (host variable, expected JSON type, what it should be).
_FLEET_OUTPUTS = {
    "ports": ("fleet_ports", dict, "an attribute set of service name to port"),
    "publicSurface": ("fleet_public_surface", dict, "an attribute set {tcp, udp} of fleet.ports names"),
    "domain": ("fleet_domain", str, "a string"),
    "generators": ("fleet_expected_secrets", dict, "an attribute set of vars generators"),
}

# The same data through the clan CLI: `clan select --flake F SELECTOR` prints
# the JSON of SELECTOR (clan-core pkgs/clan-cli/clan_cli/select.py, selector
# syntax clan_lib/flake/flake.py parse_selector). The clan is read where every
# clan-core clan has it and where the CLI itself reads it
# (clanInternals.inventoryClass, clan_lib/persist/inventory_store.py), so a clan
# exported only as clanInternals works as with the nix source. This fleet's
# `fleet` output is selected with maybe selectors (`?name`): clan prints `{}`
# for a missing one instead of failing (flake.py FlakeCacheEntry.select,
# SelectorType.MAYBE), so a plain clan has its fleet facts missing, not an error.
# Role members are selected as attribute sets and reduced to their names by
# :func:`from_clan_select`; fields are selected one by one so per-role settings
# (modules, maybe functions) are never serialised.
CLAN_INVENTORY = "clanInternals.inventoryClass.inventory"
CLAN_SELECTORS = {
    "machines": CLAN_INVENTORY + ".machines.*.{machineClass,tags,description,deploy}",
    "modules": CLAN_INVENTORY + ".instances.*.module",
    "roles": CLAN_INVENTORY + ".instances.*.roles.*.{machines,tags}",
    "fleet": "?fleet.{?ports,?publicSurface,?domain,?generators}",
}

_PHASE_RE = re.compile(r"^phase(\d+)$")
MACHINE_CLASSES = ("nixos", "darwin")
# clan-core's deploy address (clan_lib/ssh/remote.py _parse_ssh_uri):
# [ssh://][user@]host[:port][?Option=value&...]; host may be a [v6] address.
_USER_RE = re.compile(r"^[^@\s:/\[\]?&]+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.%-]+$")
TARGET_FORM = "[user@]host[:port] (IPv6 as [addr]:port or a bare addr, options as ?Option=value)"


class InventoryDataError(ValueError):
    """The evaluated inventory does not have the expected shape."""


def _ipv6(text: str) -> bool:
    import ipaddress  # pylint: disable=import-outside-toplevel  # only for IPv6-looking targets
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def split_target(target: str) -> tuple:
    """``(user, host, port, options)`` of a deploy address, or a reason string.

    Also used by clan_cli_host, so the modules read a target the way this plugin does.
    """
    text = target.strip()
    if text.startswith("ssh://"):
        text = text[len("ssh://"):]
    text, _sep, query = text.partition("?")
    if text.count("@") > 1:
        return "more than one '@'"
    user, _sep, rest = text.rpartition("@")
    if user and not _USER_RE.match(user):
        return "the user %r is not a user name" % user
    port = None
    if rest.startswith("["):
        match = re.match(r"^\[([^\]]+)\](?::(\d+))?$", rest)
        if not match or not _ipv6(match.group(1)):
            return "%r is not a bracketed IPv6 address with an optional :port" % rest
        host, port = match.group(1), match.group(2)
    elif rest.count(":") > 1:
        if not _ipv6(rest):
            return "%r has more than one ':' but is not an IPv6 address (write an address with a port as [addr]:port)" % rest
        host = rest
    else:
        host, _sep, port = rest.partition(":")
        if _sep and not port.isdigit():
            return "the port %r is not a number" % port
    if not host or ("[" not in rest and not _ipv6(host) and not _NAME_RE.match(host)):
        return "no host name" if not host else "%r is not a host name" % host
    if port is not None and port != "" and not 0 < int(port) < 65536:
        return "the port %s is outside 1-65535" % port
    options = []
    for option in (o for o in query.split("&") if o):
        name, eq, value = option.partition("=")
        if not eq or not name:
            return "the option %r has no value (expected Option=value)" % option
        options.append((name, value))
    return user or None, host, int(port) if port else None, options


def parse_target_host(machine: str, target: str) -> dict:
    """Split deploy.targetHost into ansible_host, ansible_user, ansible_port
    (and ansible_ssh_common_args for clan's ``?Option=value`` ssh options)."""
    split = split_target(target) if isinstance(target, str) and target.strip() else "it is empty"
    if isinstance(split, str):
        raise InventoryDataError(
            "machine '%s': deploy.targetHost expected the form %s, found %r (%s); fix "
            "clan.inventory.machines.%s.deploy.targetHost" % (machine, TARGET_FORM, target, split, machine)
        )
    user, host, port, options = split
    result = {"ansible_host": host}
    if user:
        result["ansible_user"] = user
    if port:
        result["ansible_port"] = port
    if options:
        import shlex  # pylint: disable=import-outside-toplevel  # only for targets with ssh options
        result["ansible_ssh_common_args"] = " ".join("-o %s" % shlex.quote("%s=%s" % o) for o in options)
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
    if "clanSource" in data and data["clanSource"] is None:
        raise InventoryDataError(
            "no clan found: expected the flake output clan.inventory (clan-core's lib.clan exported as "
            "`clan = clan.config;`, or clan-core's flakeModules.default) or clanInternals.inventoryClass.inventory, "
            "found the outputs %s; export the clan the way clan-core's templates do (templates/clan/default)"
            % sorted(data.get("outputs") or []))
    machines = data.get("machines")
    if not isinstance(machines, dict):
        raise InventoryDataError(
            "clan.inventory.machines: expected an attribute set of machines, found %s; check "
            "the clan's inventory.machines" % type(machines).__name__
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
    if fleet is None:
        return
    if not isinstance(fleet, dict):
        raise InventoryDataError("flake output fleet: expected an attribute set, found %r; fix the output or "
                                 "remove it (it is optional)" % (fleet,))
    for output, (_var, kind, what) in _FLEET_OUTPUTS.items():
        value = fleet.get(output)
        if value is not None and not isinstance(value, kind):
            raise InventoryDataError(
                "flake output fleet.%s: expected %s, found %r; fix the output or remove it (it is optional, "
                "the fleet-only variables then go to fleet_facts_missing)" % (output, what, value))


def fleet_facts(fleet) -> tuple:
    """``(present, missing)``: the fleet outputs found, and the host variables they cannot provide."""
    fleet = fleet if isinstance(fleet, dict) else {}
    present = {output: fleet.get(output) for output in _FLEET_OUTPUTS if fleet.get(output) is not None}
    missing = [var for output, (var, _kind, _what) in _FLEET_OUTPUTS.items() if output not in present]
    return present, missing


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
    """``{machine: hostvars}`` from validated INVENTORY_APPLY output.

    The clan variables (clan_*, ansible_*) come from the clan inventory alone.
    The fleet variables are set from what the flake provides; the names of
    those it cannot set are listed in ``fleet_facts_missing`` (absent when
    every fleet fact is there), see :data:`FLEET_FACTS`.
    """
    validate(data)
    machines = data["machines"]
    instances = data.get("instances", {})
    roles = resolve_roles(machines, instances)
    fleet, fleet_missing = fleet_facts(data.get("fleet"))
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
        }
        if "ports" in fleet:
            hostvars["fleet_ports"] = fleet["ports"]
        if "publicSurface" in fleet:
            hostvars["fleet_public_surface"] = fleet["publicSurface"]
        if "domain" in fleet:
            hostvars["fleet_domain"] = fleet["domain"]
        if "generators" in fleet:
            hostvars["fleet_expected_secrets"] = expected_secrets(
                fleet["generators"], machine["tags"], [k for k, v in services.items() if v], name)
        try:
            phase = phase_from_tags(machine["tags"])
        except InventoryDataError as exc:
            raise InventoryDataError("machine '%s': %s" % (name, exc)) from exc
        missing = list(fleet_missing)
        if phase is None:
            missing.append("fleet_phase")
        else:
            hostvars["fleet_phase"] = phase
        if missing:
            hostvars["fleet_facts_missing"] = sorted(missing)
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
    for key in ("machines", "modules", "roles"):
        if not isinstance(selected.get(key), dict):
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
    return {"machines": machines, "instances": instances, "fleet": _maybe_fleet(selected.get("fleet"))}


def _maybe_fleet(selected):
    """The fleet output from what its maybe selector printed: ``{}`` without one, else ``{"fleet": {...}}``."""
    if selected is None or selected == {}:
        return None
    if not isinstance(selected, dict) or set(selected) != {"fleet"}:
        raise InventoryDataError(
            "clan select '%s': expected {} (no fleet output) or {\"fleet\": {...}}, found %r; check that clan_bin is "
            "clan-core's CLI" % (CLAN_SELECTORS["fleet"], selected))
    return selected["fleet"]


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
