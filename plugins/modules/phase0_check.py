#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations

DOCUMENTATION = r"""
module: phase0_check
short_description: Evaluate the fleet flake against the Phase 0 criteria
version_added: "0.1.0"
description:
  - Gathers evidence from a flake with C(nix eval) (offline where the offline helper is installed) and judges it
    against the Phase 0 spec, one result per criterion, then decides GO, CONDITIONAL GO or NO-GO.
  - "Criteria: C(flake_structure), C(seed_machines), C(machine_configurations), one per entry of
    O(service_requirements), C(vars_generators), C(darwin_evaluates), C(nixos_evaluates)."
  - Never fails because a criterion fails or evidence cannot be gathered; such a criterion is reported as failed
    with the reason (fail closed), so the caller can always write its report.
  - Read-only; supports check mode.
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
options:
  flake:
    description: Directory of the flake checkout to check.
    type: path
    required: true
  seed:
    description: "The machines the design requires, C({name: {class: nixos|darwin, phase: N}})."
    type: dict
    required: true
  service_requirements:
    description:
      - "Criterion name to requirement: C(modules) (clan service module names that satisfy it), C(instance)
        (optional instance name), C(role) or C(roles), C(count) (exact number of holders), C(holders_tagged) (every
        holder carries this tag), C(members_tagged) (every machine with this tag holds the role; C(all) is every
        machine), C(exact) (and no other machine does), C(description), C(hint)."
    type: dict
    required: true
  generator_requirements:
    description: "Need (e.g. a service) to the list of generator names C(fleet.generators) must declare."
    type: dict
    default: {}
  criteria:
    description:
      - "Criterion name to C({severity: blocking|condition, title: text}). A criterion not listed blocks; a listed
        criterion that nothing checks fails (no evidence)."
      - A C(condition) that fails for any reason other than the documented offline limitation blocks.
    type: dict
    required: true
  nix_bin:
    description: The nix executable.
    type: str
    default: nix
  nix_flags:
    description: Extra flags for every flake evaluation.
    type: list
    elements: str
    default: []
  nix_offline:
    description: Add the offline helper's flags (C(auto) when present, C(always), C(never)).
    type: str
    choices: [auto, always, never]
    default: auto
  offline_flags_command:
    description: A command printing the offline flags, replacing the discovered helper.
    type: list
    elements: str
  timeout:
    description: Seconds each evaluation may take.
    type: int
    default: 120
extends_documentation_fragment:
  - fleet.migration.in_worker
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Read-only (C(nix eval) only); it runs the same in check mode and never reports a change.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: It changes nothing, so there is nothing to diff.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details: Runs where the flake checkout and nix are, usually the controller.
"""

EXAMPLES = r"""
- name: Evaluate the flake against the Phase 0 criteria
  fleet.migration.phase0_check:
    flake: "{{ playbook_dir }}/.."
    seed: "{{ phase0_seed_machines }}"
    service_requirements: "{{ phase0_service_requirements }}"
    generator_requirements: "{{ phase0_generator_requirements }}"
    criteria: "{{ phase0_criteria }}"
  register: phase0_result
"""

RETURN = r"""
report:
  description: Every criterion in the order of O(criteria) (then any other checked), with its title.
  returned: always
  type: list
  elements: dict
criteria:
  description: Criterion name to its result.
  returned: always
  type: dict
  sample:
    seed_machines:
      ok: true
      severity: blocking
      expected: clan inventory has the 10 seed machines with their class and phase tag
      found: all 10 seed machines present
      hint: add or fix the machine in modules/clan/inventory/machines.nix
      details: {}
decision:
  description: GO, CONDITIONAL GO or NO-GO.
  returned: always
  type: str
  sample: CONDITIONAL GO
failed_blocking:
  description: Criteria that failed and block.
  returned: always
  type: list
  elements: str
failed_conditions:
  description: Criteria that failed and are conditions.
  returned: always
  type: list
  elements: str
offline:
  description: Whether the offline flags were used.
  returned: always
  type: bool
nix_flags:
  description: The flags passed to every flake evaluation.
  returned: always
  type: list
  elements: str
machines:
  description: The inventory's machines and classes, as evaluated.
  returned: always
  type: dict
"""

import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleet.migration.plugins.module_utils.module_like import ModuleLike

from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory, nix_eval, phase0


class Evidence:
    """Runs the evaluations; turns each failure into phase0.Missing."""

    def __init__(self, module: ModuleLike) -> None:
        self.module = module
        self.flake = os.path.abspath(module.params["flake"])
        self.nix_bin = module.params["nix_bin"]
        self.timeout = module.params["timeout"]
        self.flags_error = None
        try:
            extra = nix_eval.offline_flags(self.flake, module.params["nix_offline"],
                                           module.params["offline_flags_command"])
        except nix_eval.NixError as exc:
            extra, self.flags_error = [], str(exc)
        self.offline = bool(extra)
        self.flags = extra + list(module.params["nix_flags"])

    def flake_eval(self, attr: str, apply: str):
        if self.flags_error:
            return phase0.Missing(self.flags_error)
        try:
            return nix_eval.eval_json(attr, flake=self.flake, apply=apply, nix_bin=self.nix_bin,
                                      nix_flags=self.flags, offline="never", timeout=self.timeout)
        except nix_eval.NixError as exc:
            return phase0.Missing(str(exc))

    def tracked_files(self):
        """Files nix sees: git's tracked files, or every file when the flake is not in git."""
        try:
            proc = subprocess.run(["git", "-C", self.flake, "ls-files", "-z", "--cached"], capture_output=True,
                                  check=False, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return phase0.Missing("git ls-files could not run in %s: %s" % (self.flake, exc))
        if proc.returncode == 0:
            return sorted(p for p in proc.stdout.decode("utf-8", "replace").split("\0") if p)
        inside = subprocess.run(["git", "-C", self.flake, "rev-parse", "--is-inside-work-tree"],
                                capture_output=True, check=False)
        if inside.returncode == 0:
            return phase0.Missing("git ls-files failed in %s: %s"
                                  % (self.flake, proc.stderr.decode(errors="replace").strip()))
        # Not a git checkout: nix reads it as a path flake and sees every file.
        files = []
        for root, dirs, names in os.walk(self.flake):
            dirs[:] = [d for d in dirs if d != ".git"]
            files.extend(os.path.relpath(os.path.join(root, name), self.flake) for name in names)
        return sorted(files)

    def module_files(self, tracked):
        """{relpath under modules/: kind}; see phase0.check_flake_structure."""
        if isinstance(tracked, phase0.Missing):
            return tracked
        root = os.path.join(self.flake, "modules")
        if not os.path.isdir(root):
            return phase0.Missing("%s does not exist" % root)
        kinds, to_import = {}, []
        tracked_set = set(tracked)
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                rel = os.path.relpath(os.path.join(dirpath, name), self.flake)
                if not name.endswith(".nix"):
                    kinds[rel] = "not-nix"
                elif "/_" in "/" + rel:  # import-tree skips paths with a `/_` infix
                    kinds[rel] = "ignored"
                elif rel not in tracked_set:
                    kinds[rel] = "untracked"
                else:
                    to_import.append(rel)
        if to_import:
            files = " ".join('"%s"' % rel for rel in sorted(to_import))
            expr = ('builtins.listToAttrs (map (rel: let v = import (/. + "%s/${rel}"); in { name = rel; '
                    'value = if builtins.isFunction v then "function" else if builtins.isAttrs v then "set" '
                    'else builtins.typeOf v; }) [ %s ])' % (self.flake, files))
            try:
                kinds.update(nix_eval.eval_expr_json(expr, nix_bin=self.nix_bin, timeout=self.timeout))
            except nix_eval.NixError as exc:
                return phase0.Missing(str(exc))
        return kinds


def run_checks(module: ModuleLike) -> dict:
    params = module.params
    ev = Evidence(module)
    flake_nix_path = os.path.join(ev.flake, "flake.nix")
    try:
        with open(flake_nix_path, encoding="utf-8") as handle:
            flake_nix = handle.read()
    except OSError as exc:
        flake_nix = phase0.Missing("cannot read %s: %s" % (flake_nix_path, exc))
    tracked = ev.tracked_files()
    # Batched: the flake's outputs in at most two nix evaluations (phase0.gather_flake_evidence).
    gathered = phase0.gather_flake_evidence(ev.flake_eval, ev.offline)
    data = gathered["inventory"]
    machines = data if isinstance(data, phase0.Missing) else data["machines"]
    resolved = {} if isinstance(data, phase0.Missing) else clan_inventory.resolve_roles(data["machines"],
                                                                                        data["instances"])
    configurations = gathered["configurations"]
    machine_files = tracked if isinstance(tracked, phase0.Missing) else [
        p for p in tracked if p.startswith("modules/machines/")]
    generators = gathered["generators"]

    criteria = {
        "flake_structure": phase0.check_flake_structure(flake_nix, ev.module_files(tracked)),
        "seed_machines": phase0.check_seed_machines(params["seed"], machines),
        "machine_configurations": phase0.check_machine_configurations(machines, configurations, machine_files),
        "phase_playbooks": phase0.check_phase_playbooks(machines, os.path.join(ev.flake, "playbooks")),
    }
    for name, requirement in params["service_requirements"].items():
        criteria[name] = phase0.check_service_requirement(name, requirement, data, resolved)
    criteria["vars_generators"] = phase0.check_generators(
        params["generator_requirements"], generators, machines,
        set() if isinstance(tracked, phase0.Missing) else set(tracked))
    criteria["darwin_evaluates"] = phase0.check_configurations_evaluate(
        "darwin", machines, gathered["darwin"], ev.offline)
    criteria["nixos_evaluates"] = phase0.check_configurations_evaluate(
        "nixos", machines, gathered["nixos"], ev.offline)

    spec = params["criteria"]
    severities = {name: (value or {}).get("severity") for name, value in spec.items()}
    verdict = phase0.decide(criteria, severities)
    order = list(spec) + [name for name in criteria if name not in spec]
    report = []
    for name in order:
        unchecked = phase0.result(False, "a result", "not checked: no such criterion",
                                  "remove it from phase0_criteria or implement it")
        res = criteria.get(name) or dict(unchecked, severity=phase0.BLOCKING)
        report.append(dict(id=name, title=(spec.get(name) or {}).get("title", name), **res))
    return dict(
        report=report,
        criteria=criteria,
        offline=ev.offline,
        nix_flags=ev.flags,
        machines={} if isinstance(machines, phase0.Missing) else {
            n: m["machineClass"] for n, m in sorted(machines.items())},
        **verdict,
    )


ARGUMENT_SPEC = dict(
    flake=dict(type="path", required=True),
    seed=dict(type="dict", required=True),
    service_requirements=dict(type="dict", required=True),
    generator_requirements=dict(type="dict", default={}),
    criteria=dict(type="dict", required=True),
    nix_bin=dict(type="str", default="nix"),
    nix_flags=dict(type="list", elements="str", default=[]),
    nix_offline=dict(type="str", default="auto", choices=["auto", "always", "never"]),
    offline_flags_command=dict(type="list", elements="str"),
    timeout=dict(type="int", default=120),
)


def execute(module: ModuleLike) -> None:
    """The module's work; ``module`` is an AnsibleModule, or the action plugin's stand-in
    (plugins/plugin_utils/in_worker.py), which runs this in Ansible's worker on the controller."""
    if not os.path.isfile(os.path.join(module.params["flake"], "flake.nix")):
        module.fail_json(msg="phase0_check: expected a flake checkout at %s (with flake.nix), found none; set flake "
                             "to the repository root" % module.params["flake"])
    module.exit_json(changed=False, **run_checks(module))


def main() -> None:
    execute(AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
