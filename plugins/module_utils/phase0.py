# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
"""Phase 0 criteria: judge evidence gathered from the flake against the spec.

:func:`gather_flake_evidence` plans the evaluations: everything Phase 0 needs
from the flake's outputs in one ``nix eval`` (inventory, configuration names,
generators, darwin facts) and the NixOS facts in a second, so that with the
module-file check a run costs three ``nix eval`` processes, not one per
machine. Only when a batch fails does it fall back to one evaluation per
item, so that the failure is pinned on the machine (or part) that caused it.

Each ``check_*`` function takes evidence (plain data evaluated from the flake)
and the spec (playbooks/vars/seed.yml, playbooks/vars/phase0.yml) and returns
a :func:`result`: ``ok``, ``expected``, ``found``, ``hint`` (what to do) and
``details``. Evidence that could not be gathered is passed as a
:class:`Missing`, and every check fails on it (fail closed).

:func:`decide` turns the results and their severities into GO,
CONDITIONAL GO or NO-GO.
"""
from __future__ import annotations

import re

from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory, phase_tags

BLOCKING = "blocking"
CONDITION = "condition"
GO = "GO"
CONDITIONAL_GO = "CONDITIONAL GO"
NO_GO = "NO-GO"

# `outputs = inputs: inputs.flake-parts.lib.mkFlake { inherit inputs; } (inputs.import-tree ./modules);`
# with any argument name and any whitespace.
_OUTPUTS_RE = re.compile(
    r"outputs\s*=\s*(?P<arg>[A-Za-z_][\w'-]*)\s*:\s*(?P=arg)\.flake-parts\.lib\.mkFlake\s*"
    r"\{\s*inherit\s*\(?\s*(?P=arg)?\s*\)?\s*inputs\s*;\s*\}\s*"
    r"\(\s*(?P=arg)\.import-tree\s+\./modules\s*\)\s*;"
)
# The innermost error line of an offline NixOS evaluation: nixpkgs.lib has no nixosSystem.
OFFLINE_NIXOS_MARKER = "attribute 'nixosSystem' missing"


class Missing:
    """Evidence that could not be gathered, with the reason (nix's error)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return "Missing(%r)" % self.reason


def result(ok: bool, expected: str, found, hint: str, details=None) -> dict:
    return {"ok": bool(ok), "expected": expected, "found": found, "hint": hint, "details": details or {}}


def _missing(expected: str, evidence: Missing, hint: str) -> dict:
    return result(False, expected, "no evidence: %s" % evidence.reason, hint)


# ------------------------------------------------------------------ phase playbooks


def check_phase_playbooks(machines, playbooks_dir: str) -> dict:
    """Every machine has exactly one phase tag, and that phase has a playbook."""
    expected = "every machine tagged with exactly one phaseN that has playbooks/phaseN.yml"
    if isinstance(machines, Missing):
        return _missing(expected, machines, "fix the clan inventory first (seed_machines)")
    found = phase_tags.problems(machines, playbooks_dir)
    return result(not found, expected, "; ".join(found) if found else "all %d machines" % len(machines),
                  "tag each machine with one phase that has a playbook (modules/clan/inventory/machines.nix)",
                  {"problems": found})


# ------------------------------------------------------------------ flake structure


def check_flake_structure(flake_nix_text, module_files) -> dict:
    """flake.nix only wires import-tree; every file under modules/ is a flake-parts module.

    ``module_files``: ``{relpath: kind}`` where kind is ``function``/``set``
    (imported and acceptable), ``ignored`` (under a ``_`` path: import-tree
    skips it by design), ``untracked`` (git does not know it, so nix does not
    see it), ``not-nix``, or another Nix type name.
    """
    expected = ("flake.nix outputs = inputs: inputs.flake-parts.lib.mkFlake { inherit inputs; } "
                "(inputs.import-tree ./modules); every .nix file under modules/ tracked by git and a module "
                "(function or attribute set)")
    hint = ("keep logic out of flake.nix; put each aspect in its own file under modules/; git add new files "
            "(git add -N is enough); prefix helper files that are not modules with _")
    if isinstance(flake_nix_text, Missing):
        return _missing(expected, flake_nix_text, hint)
    if isinstance(module_files, Missing):
        return _missing(expected, module_files, hint)
    problems = []
    # Comments may mention other things; the wiring itself must be exactly this.
    code = re.sub(r"#[^\n]*", "", flake_nix_text)
    outputs = re.findall(r"\boutputs\s*=", code)
    if len(outputs) != 1 or not _OUTPUTS_RE.search(code):
        problems.append("flake.nix: outputs is not only mkFlake over import-tree ./modules")
    bad = {path: kind for path, kind in sorted(module_files.items()) if kind not in ("function", "set", "ignored")}
    problems.extend("%s: %s" % (path, kind) for path, kind in bad.items())
    modules = sorted(p for p, k in module_files.items() if k in ("function", "set"))
    if not modules:
        problems.append("modules/: no module found")
    found = "; ".join(problems) if problems else "flake.nix wires import-tree only; %d modules" % len(modules)
    return result(not problems, expected, found, hint,
                  {"modules": len(modules), "ignored": sorted(p for p, k in module_files.items() if k == "ignored"),
                   "problems": problems})


# ------------------------------------------------------------------ machines


def check_seed_machines(seed: dict, machines) -> dict:
    """Every machine the design requires is in the inventory, with its class and phase."""
    expected = "clan inventory has the %d seed machines with their class and phase tag" % len(seed)
    hint = "add or fix the machine in modules/clan/inventory/machines.nix (machineClass, tags phaseN)"
    if isinstance(machines, Missing):
        return _missing(expected, machines, hint)
    problems = []
    for name, want in sorted(seed.items()):
        have = machines.get(name)
        if have is None:
            problems.append("%s: missing from clan.inventory.machines" % name)
            continue
        if have.get("machineClass") != want.get("class"):
            problems.append("%s: class %s, expected %s" % (name, have.get("machineClass"), want.get("class")))
        if "phase" in want and "phase%s" % want["phase"] not in have.get("tags", []):
            problems.append("%s: tags %s lack phase%s" % (name, have.get("tags"), want["phase"]))
    extra = sorted(set(machines) - set(seed))
    found = "; ".join(problems) if problems else "all %d seed machines present" % len(seed)
    return result(not problems, expected, found, hint, {"problems": problems, "not_in_seed": extra})


def check_machine_configurations(machines, configurations, machine_files) -> dict:
    """Each machine has a machine module and a configuration of its class, and only that one.

    ``configurations``: ``{"clan_machines": [...], "nixos": [...], "darwin": [...]}``
    (attrNames of clan.machines, nixosConfigurations, darwinConfigurations).
    ``machine_files``: relpaths of files under modules/machines/.
    """
    expected = ("every inventory machine <m> of class <c>: modules/machines/<c>/<m>.nix defines clan.machines.<m>, "
                "<m> in <c>Configurations and not in the other class's")
    hint = "create modules/machines/<class>/<machine>.nix setting clan.machines.<machine> (and git add it)"
    for evidence in (machines, configurations, machine_files):
        if isinstance(evidence, Missing):
            return _missing(expected, evidence, hint)
    problems = []
    other = {"nixos": "darwin", "darwin": "nixos"}
    for name, machine in sorted(machines.items()):
        cls = machine.get("machineClass")
        path = "modules/machines/%s/%s.nix" % (cls, name)
        if path not in machine_files:
            misplaced = [p for p in machine_files if p.endswith("/%s.nix" % name)]
            problems.append("%s: no %s%s" % (name, path, " (found %s)" % misplaced if misplaced else ""))
        if name not in configurations.get("clan_machines", []):
            problems.append("%s: clan.machines.%s is not defined" % (name, name))
        if name not in configurations.get(cls, []):
            problems.append("%s: not in %sConfigurations" % (name, cls))
        if cls in other and name in configurations.get(other[cls], []):
            problems.append("%s: class %s but also in %sConfigurations" % (name, cls, other[cls]))
    found = "; ".join(problems) if problems else "all %d machines have a configuration of their class" % len(machines)
    return result(not problems, expected, found, hint, {"problems": problems})


# ------------------------------------------------------------------ services


def role_holders(data: dict, resolved: dict, requirement: dict, role: str) -> tuple[list[str], list[str]]:
    """(instances matching the requirement, sorted machines holding ``role`` in them)."""
    modules = requirement.get("modules", [])
    instances = [
        name for name, inst in sorted(data.get("instances", {}).items())
        if inst.get("module", {}).get("name") in modules
        and (requirement.get("instance") in (None, name))
    ]
    holders = sorted({m for name in instances for m in resolved.get(name, {}).get(role, [])})
    return instances, holders


def check_service_requirement(criterion: str, requirement: dict, data, resolved) -> dict:
    """One entry of phase0_service_requirements (see playbooks/vars/phase0.yml for the fields)."""
    roles = requirement.get("roles") or [requirement.get("role")]
    expected = requirement.get("description") or criterion
    hint = requirement.get("hint", "fix modules/clan/inventory/instances/")
    if isinstance(data, Missing):
        return _missing(expected, data, hint)
    machines = data["machines"]
    problems = []
    details = {}
    for role in roles:
        instances, holders = role_holders(data, resolved, requirement, role)
        details[role] = {"instances": instances, "holders": holders}
        if not instances:
            problems.append("no instance of %s%s" % (
                "/".join(requirement.get("modules", [])),
                " named %s" % requirement["instance"] if requirement.get("instance") else ""))
            continue
        if "count" in requirement and len(holders) != requirement["count"]:
            problems.append("%s: %d holders %s, expected exactly %d"
                            % (role, len(holders), holders, requirement["count"]))
        tag = requirement.get("holders_tagged")
        if tag:
            untagged = [m for m in holders if tag not in machines.get(m, {}).get("tags", [])]
            if untagged:
                problems.append("%s: %s not tagged %s" % (role, untagged, tag))
        tag = requirement.get("members_tagged")
        if tag:
            wanted = sorted(m for m, v in machines.items() if tag in v.get("tags", []))
            absent = sorted(set(wanted) - set(holders))
            if absent:
                problems.append("%s: %s (tagged %s) lack the role" % (role, absent, tag))
            if requirement.get("exact"):
                surplus = sorted(set(holders) - set(wanted))
                if surplus:
                    problems.append("%s: %s hold the role but are not tagged %s" % (role, surplus, tag))
    found = "; ".join(problems) if problems else "; ".join(
        "%s: %s" % (role, d["holders"]) for role, d in details.items())
    return result(not problems, expected, found, hint, details)


# ------------------------------------------------------------------ generators


def check_generators(required: dict, generators, machines, flake_files) -> dict:
    """The generators the services' secrets need are declared in fleet.generators, with their scripts."""
    wanted = sorted({g for names in required.values() for g in names})
    expected = "fleet.generators declares %s, each with files and a script in the repository" % wanted
    hint = "declare the generator in modules/vars/generators.nix and add its script under vars/generators/"
    if isinstance(generators, Missing):
        return _missing(expected, generators, hint)
    if isinstance(machines, Missing):
        return _missing(expected, machines, hint)
    if not isinstance(generators, dict):
        return result(False, expected, "fleet.generators is %r" % (generators,), hint)
    all_tags = {t for m in machines.values() for t in m.get("tags", [])}
    problems = []
    for need, names in sorted(required.items()):
        for name in names:
            gen = generators.get(name)
            if not isinstance(gen, dict):
                problems.append("%s (for %s): not declared" % (name, need))
                continue
            if not gen.get("files"):
                problems.append("%s: declares no files" % name)
            script = gen.get("script")
            if not script or script not in flake_files:
                problems.append("%s: script %r not in the repository" % (name, script))
            tags = (gen.get("appliesTo") or {}).get("tags") or []
            if tags and not set(tags) & all_tags:
                problems.append("%s: applies to tags %s that no machine carries" % (name, tags))
    found = "; ".join(problems) if problems else "%d generators declared with scripts" % len(wanted)
    return result(not problems, expected, found, hint, {"declared": sorted(generators), "problems": problems})


# ------------------------------------------------------------------ configurations evaluate


def check_configurations_evaluate(cls: str, machines, evaluated: dict, offline: bool) -> dict:
    """``evaluated``: ``{machine: {"hostName": .., "stateVersion": ..} or Missing}`` for machines of ``cls``.

    The hostName must be the machine's name. For NixOS offline, a failure whose
    cause is the missing full nixpkgs is marked ``offline_limited``.
    """
    expected = "%sConfigurations.<m>.config evaluates for every %s machine (networking.hostName == <m>, " \
               "system.stateVersion set)" % (cls, cls)
    hint = ("run `nix eval .#%sConfigurations.<m>.config.networking.hostName --show-trace` and fix the "
            "module it names" % cls)
    if isinstance(machines, Missing):
        return _missing(expected, machines, hint)
    names = sorted(n for n, m in machines.items() if m.get("machineClass") == cls)
    problems, offline_limited = [], []
    for name in names:
        value = evaluated.get(name, Missing("not evaluated"))
        if isinstance(value, Missing):
            if offline and OFFLINE_NIXOS_MARKER in value.reason:
                offline_limited.append(name)
            else:
                problems.append("%s: %s" % (name, value.reason.splitlines()[-1] if value.reason else "failed"))
            continue
        if value.get("hostName") != name:
            problems.append("%s: networking.hostName is %r" % (name, value.get("hostName")))
        if value.get("stateVersion") in (None, ""):
            problems.append("%s: system.stateVersion is not set" % name)
    if offline_limited:
        problems_text = "; ".join(problems + ["%s: not evaluable offline (full nixpkgs unavailable)"
                                              % ", ".join(offline_limited)])
    else:
        problems_text = "; ".join(problems)
    ok = not problems and not offline_limited
    found = problems_text if not ok else "%d %s configurations evaluate" % (len(names), cls)
    return result(ok, expected, found, hint,
                  {"machines": names, "offline_limited": offline_limited, "errors": problems})


# ------------------------------------------------------------------ decision


def severity_of(criterion: str, res: dict, severities: dict) -> str:
    """The criterion's severity; unknown criteria block (fail closed).

    A condition that failed for any reason other than the documented offline
    limitation blocks: only "cannot evaluate here" may be deferred.
    """
    severity = severities.get(criterion, BLOCKING)
    if severity == CONDITION and not res["ok"] and res.get("details", {}).get("errors"):
        return BLOCKING
    return severity if severity in (BLOCKING, CONDITION) else BLOCKING


def decide(results: dict, severities: dict) -> dict:
    """GO when every criterion holds; CONDITIONAL GO when only conditions fail; NO-GO otherwise."""
    failed_blocking, failed_conditions = [], []
    for criterion, res in results.items():
        res["severity"] = severity_of(criterion, res, severities)
        if not res["ok"]:
            (failed_blocking if res["severity"] == BLOCKING else failed_conditions).append(criterion)
    missing = sorted(set(severities) - set(results))
    failed_blocking.extend(missing)  # a criterion the spec names but nothing checked: no evidence
    if failed_blocking:
        decision = NO_GO
    elif failed_conditions:
        decision = CONDITIONAL_GO
    else:
        decision = GO
    return {"decision": decision, "failed_blocking": sorted(failed_blocking),
            "failed_conditions": sorted(failed_conditions), "unchecked": missing}


# ------------------------------------------------------------------ evaluation plan

# attrNames of the machine modules and of both configuration sets.
CONFIGURATIONS_APPLY = """
outputs: {
  clan_machines = builtins.attrNames (outputs.clan.machines or { });
  nixos = builtins.attrNames (outputs.nixosConfigurations or { });
  darwin = builtins.attrNames (outputs.darwinConfigurations or { });
}
"""
SYSTEM_FACTS_APPLY = "c: { hostName = c.networking.hostName; stateVersion = c.system.stateVersion; }"
GENERATORS_APPLY = "f: f.generators or null"


def facts_apply(cls: str) -> str:
    """``outputs -> {machine: facts or null}`` for the inventory's machines of ``cls``.

    null: the machine has no ``<cls>Configurations`` entry (judged by check_configurations_evaluate).
    """
    return """
outputs:
let
  machines = outputs.clan.inventory.machines or { };
  configs = outputs.%(cls)sConfigurations or { };
  facts = %(facts)s;
  names = builtins.filter (n: (machines.${n}.machineClass or "nixos") == "%(cls)s") (builtins.attrNames machines);
in builtins.listToAttrs (map (n: {
  name = n;
  value = if configs ? ${n} then facts configs.${n}.config else null;
}) names)
""" % {"cls": cls, "facts": SYSTEM_FACTS_APPLY}


def batch_apply() -> str:
    """One evaluation of everything but the NixOS facts (which cannot evaluate offline)."""
    return """
outputs: {
  inventory = (%s) outputs;
  configurations = (%s) outputs;
  generators = (%s) (outputs.fleet or { });
  darwin = (%s) outputs;
}
""" % (clan_inventory.INVENTORY_APPLY, CONFIGURATIONS_APPLY, GENERATORS_APPLY, facts_apply("darwin"))


def _validated_inventory(data):
    if isinstance(data, Missing):
        return data
    try:
        clan_inventory.validate(data)
    except clan_inventory.InventoryDataError as exc:
        return Missing(str(exc))
    return data


def _facts(cls: str, value) -> dict:
    """{machine: facts or Missing} from a batched ``facts_apply`` result."""
    return {name: facts if isinstance(facts, dict) else Missing("%sConfigurations has no %s" % (cls, name))
            for name, facts in value.items()}


def _facts_one_by_one(flake_eval, cls: str, machines) -> dict:
    """The fallback: one evaluation per machine, so each failure names its machine."""
    if isinstance(machines, Missing):
        return {}
    return {name: flake_eval('%sConfigurations."%s".config' % (cls, name), SYSTEM_FACTS_APPLY)
            for name in sorted(n for n, m in machines.items() if m.get("machineClass") == cls)}


def gather_flake_evidence(flake_eval, offline: bool) -> dict:
    """Evaluate what the criteria need; ``flake_eval(attr, apply)`` returns the value or a Missing.

    Returns ``inventory`` (validated data or Missing), ``configurations``,
    ``generators``, ``darwin`` and ``nixos`` (``{machine: facts or Missing}``)
    and ``evaluations`` (how many flake evaluations ran). Two evaluations when
    both batches succeed, and when offline NixOS fails for the documented
    reason (nixpkgs.lib has no nixosSystem, which every NixOS configuration
    needs before any machine module is read, so the one error stands for each
    machine).
    """
    count = [0]

    def run(attr, apply):
        count[0] += 1
        return flake_eval(attr, apply)

    batch = run(".", batch_apply())
    if not isinstance(batch, Missing):
        inventory = _validated_inventory(batch.get("inventory"))
        configurations, generators = batch.get("configurations"), batch.get("generators")
        darwin = _facts("darwin", batch.get("darwin") or {})
    else:
        inventory = _validated_inventory(run(".", clan_inventory.INVENTORY_APPLY))
        configurations = run(".", CONFIGURATIONS_APPLY)
        generators = run("fleet", GENERATORS_APPLY)
        darwin = _facts_one_by_one(run, "darwin",
                                   inventory if isinstance(inventory, Missing) else inventory["machines"])
    machines = inventory if isinstance(inventory, Missing) else inventory["machines"]
    nixos = {}
    if not isinstance(machines, Missing) and any(m.get("machineClass") == "nixos" for m in machines.values()):
        value = run(".", facts_apply("nixos"))
        if not isinstance(value, Missing):
            nixos = _facts("nixos", value)
        elif offline and OFFLINE_NIXOS_MARKER in value.reason:
            nixos = {name: value for name, m in machines.items() if m.get("machineClass") == "nixos"}
        else:
            nixos = _facts_one_by_one(run, "nixos", machines)
    return {"inventory": inventory, "configurations": configurations, "generators": generators,
            "darwin": darwin, "nixos": nixos, "evaluations": count[0]}
