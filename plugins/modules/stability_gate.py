#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
from __future__ import annotations

DOCUMENTATION = r"""
---
module: stability_gate
short_description: Decide GO or NO-GO for a migration phase from the stability ledger
version_added: "0.1.0"
description:
  - Evaluates a set of named asserts against recorded evidence in the stability
    ledger and decides GO (every assert holds) or NO-GO.
  - Missing evidence fails an assert. Each failure message names the host, the
    criterion, what was expected, what was found and what to do.
  - Evaluation only reads the ledger and runs in check mode. Outside check mode,
    with O(record=true), the decision is appended to the ledger, one row per
    subject host holding that host's own asserts, and one phase-wide row for the
    pseudo-host C((fleet)) holding the decision and its failed asserts.
  - The module always reports C(changed=false); RV(recorded_ids) lists the rows
    written. A decision is evidence on the controller, not a change to a host
    (see M(fleet.migration.ledger_record) for why).
  - "Run it on the controller (C(delegate_to: localhost), C(run_once: true))."
  - "A host's stability is measured from evidence ordered by when it was
    recorded: from the later of its latest changing deployment, its latest
    failed deployment or check, and the latest acknowledged clock problem, to
    its latest healthy check. See docs/PHASES.md, What counts as evidence."
options:
  ledger_path:
    description:
      - Ledger to read. A missing ledger is not created; it counts as no evidence.
      - Defaults to E(FLEET_LEDGER_PATH), else C(.cache/ledger.sqlite).
    type: path
  phase:
    description: The phase the decision belongs to.
    type: int
    required: true
  gate_name:
    description:
      - Name the decision is recorded under. C(gate) is the phase gate the next
        phase's preflight requires; C(preflight) and C(readiness) are the
        checks run before deploying.
    type: str
    default: gate
  subjects:
    description: Hosts the decision is about; one decision row is recorded for each.
    type: list
    elements: str
    required: true
  stable_hosts:
    description: Hosts that must each be deployed, healthy and stable for O(min_stable_minutes).
    type: list
    elements: str
    default: []
  min_stable_minutes:
    description:
      - Minutes of healthy evidence each of O(stable_hosts) needs (the seed asks 1-2 weeks).
      - Every threshold must be a positive, finite number; zero, negative, NaN or text
        fails the task with a message naming the variable (see O(threshold_vars)).
    type: raw
    default: 10080
  min_health_checks:
    description: Healthy checks each of O(stable_hosts) needs since its stability clock started; a positive whole number.
    type: raw
    default: 1
  max_health_age_minutes:
    description: The latest healthy check of a judged host must be at most this old; positive.
    type: raw
    default: 1440
  clock_tolerance_minutes:
    description:
      - How far a row may be dated before an earlier row, or after now, before it
        counts as clock trouble. Clock trouble is an assert of every gate and opens
        a problem on the pseudo-host C((controller)).
    type: raw
    default: 5
  threshold_vars:
    description: Option name -> the variable it came from, so that a message about a bad threshold names the variable.
    type: dict
    default: {}
  required_checks:
    description: Host -> names of checks that must each have a healthy record since the stability clock started.
    type: dict
    default: {}
  accept_stand_ins:
    description:
      - Count health rows recorded against stand-in hosts (evidence C(stand_in=true)),
        as the rehearsal and the tests do. Off in production, so a stand-in's evidence
        never passes a real host's gate.
    type: bool
    default: false
  previous_gate:
    description:
      - Require, for each host of an earlier phase, a GO of that phase's gate that
        still stands (no deployment of the host since) and the host healthy now
        (latest deployment succeeded, every check's latest record healthy, evidence fresh).
    type: dict
    suboptions:
      phase:
        description: The earlier phase.
        type: int
        required: true
      hosts:
        description: Hosts of that phase.
        type: list
        elements: str
        required: true
      gate_name:
        description: Name its decision was recorded under.
        type: str
        default: gate
  phase0:
    description:
      - Require Phase 0's recorded decision (host C((fleet)), phase 0) to be GO, or
        CONDITIONAL GO with every condition named in O(phase0.accepted_conditions).
    type: dict
    suboptions:
      accepted_conditions:
        description: Names of the Phase 0 conditions the operator has accepted.
        type: list
        elements: str
        default: []
  cumulative:
    description: Require stability summed over several hosts.
    type: dict
    suboptions:
      hosts:
        description: Hosts whose stable minutes are summed.
        type: list
        elements: str
        required: true
      min_minutes:
        description: Minutes the sum must reach (the seed asks 4-6 weeks); positive.
        type: raw
        required: true
  problem_hosts:
    description:
      - Hosts that must have no open problem. V(*) alone means every host in the
        ledger. Default is O(subjects) plus O(stable_hosts). Problems of the
        controller (the clock) block every gate.
    type: list
    elements: str
  rollback_plan:
    description: Files of the rollback plan; each must exist (relative to O(root)) and mention its own list of names.
    type: list
    elements: dict
  root:
    description: Directory O(rollback_plan) paths are relative to.
    type: path
    default: .
  record:
    description: Append the decision to the ledger (never in check mode).
    type: bool
    default: true
  fail_on_nogo:
    description: Fail the task with every failed assert when the decision is NO-GO.
    type: bool
    default: true
  run_id:
    description: Identifier tying the decision to its playbook run.
    type: str
    default: ""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Evaluates and returns the decision; records nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
    details: Runs on the controller, where the ledger lives.
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
"""

EXAMPLES = r"""
- name: Gate phase 3 on each of its hosts having been stable for a week
  fleet.migration.stability_gate:
    ledger_path: "{{ fleet_ledger_path }}"
    phase: 3
    subjects: "{{ groups['phase3'] }}"
    stable_hosts: "{{ groups['phase3'] }}"
    min_stable_minutes: "{{ fleet_gate_host_stable_minutes }}"
  delegate_to: localhost
  run_once: true

- name: Require the phase 2 gate before phase 3 deploys (read-only)
  fleet.migration.stability_gate:
    phase: 3
    gate_name: preflight
    subjects: "{{ groups['phase3'] }}"
    previous_gate:
      phase: 2
      hosts: "{{ groups['phase2'] }}"
    record: false
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
decision:
  description: C(GO) or C(NO-GO).
  returned: always
  type: str
  sample: NO-GO
passed:
  description: Whether every assert held.
  returned: always
  type: bool
asserts:
  description: Every assert with host, criterion, ok, expected, found, remedy and message.
  returned: always
  type: list
  elements: dict
failures:
  description: Messages of the failed asserts.
  returned: always
  type: list
  elements: str
  sample: ["rosegold: stable_for: expected stable >= 1 week (10080 min); found 2 days (2880 min) ..."]
recorded_ids:
  description: Ledger row ids of the recorded decision; empty in check mode or with O(record=false).
  returned: always
  type: list
  elements: int
"""

import os
import sqlite3

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleet.migration.plugins.module_utils.gate_record import record_gate
from ansible_collections.fleet.migration.plugins.module_utils.gate_rules import GateSpec, GateSpecError, evaluate_gate
from ansible_collections.fleet.migration.plugins.module_utils.ledger_store import Ledger, LedgerError, default_path

_LIST = dict(type="list", elements="str")


def argument_spec() -> dict:
    return dict(
        ledger_path=dict(type="path"),
        phase=dict(type="int", required=True),
        gate_name=dict(type="str", default="gate"),
        subjects=dict(**_LIST, required=True),
        stable_hosts=dict(**_LIST, default=[]),
        min_stable_minutes=dict(type="raw", default=10080),
        min_health_checks=dict(type="raw", default=1),
        max_health_age_minutes=dict(type="raw", default=1440),
        clock_tolerance_minutes=dict(type="raw", default=5),
        threshold_vars=dict(type="dict", default={}),
        required_checks=dict(type="dict", default={}),
        accept_stand_ins=dict(type="bool", default=False),
        previous_gate=dict(
            type="dict",
            options=dict(phase=dict(type="int", required=True), hosts=dict(**_LIST, required=True),
                         gate_name=dict(type="str", default="gate")),
        ),
        phase0=dict(type="dict", options=dict(accepted_conditions=dict(**_LIST, default=[]))),
        cumulative=dict(type="dict", options=dict(hosts=dict(**_LIST, required=True), min_minutes=dict(type="raw", required=True))),
        problem_hosts=dict(**_LIST),
        rollback_plan=dict(type="list", elements="dict"),
        root=dict(type="path", default="."),
        record=dict(type="bool", default=True),
        fail_on_nogo=dict(type="bool", default=True),
        run_id=dict(type="str", default=""),
    )


def _number(value):
    """Thresholds arrive as text from templates; anything not a number stays as
    it is so that validation can name it."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def build_spec(p: dict) -> GateSpec:
    cumulative = p["cumulative"]
    if cumulative:
        cumulative = dict(cumulative, min_minutes=_number(cumulative["min_minutes"]))
    return GateSpec(
        phase=p["phase"],
        subjects=p["subjects"],
        gate_name=p["gate_name"],
        stable_hosts=p["stable_hosts"],
        min_stable_minutes=_number(p["min_stable_minutes"]),
        min_health_checks=_number(p["min_health_checks"]),
        max_health_age_minutes=_number(p["max_health_age_minutes"]),
        clock_tolerance_minutes=_number(p["clock_tolerance_minutes"]),
        names={str(k): str(v) for k, v in (p["threshold_vars"] or {}).items()},
        required_checks={h: list(c or []) for h, c in (p["required_checks"] or {}).items()},
        accept_stand_ins=p["accept_stand_ins"],
        previous_gate=p["previous_gate"],
        phase0=p["phase0"],
        cumulative=cumulative,
        problem_hosts=p["problem_hosts"],
        rollback_plan=p["rollback_plan"],
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    path = os.path.abspath(p["ledger_path"] or default_path())
    label = f"phase {p['phase']} {p['gate_name']}"
    spec = build_spec(p)
    try:
        spec.validate()
    except GateSpecError as exc:
        module.fail_json(msg=str(exc), decision="NO-GO", passed=False, recorded_ids=[])
    try:
        with Ledger(path, create=False) as ledger:
            result = evaluate_gate(ledger, spec, root=p["root"])
        out = dict(result.as_dict(), ledger_path=path, recorded_ids=[], changed=False)
        if p["record"] and not module.check_mode:
            with Ledger(path) as ledger:
                out["recorded_ids"] = record_gate(ledger, result, run_id=p["run_id"])
    except (LedgerError, OSError, sqlite3.Error) as exc:
        module.fail_json(msg=f"{label}: NO-GO: could not read the ledger {path}: {exc}", decision="NO-GO", passed=False)
    if not result.passed and p["fail_on_nogo"]:
        # Only the failed asserts: the full list would bury the message.
        module.fail_json(
            msg=f"{label}: NO-GO. " + " ".join(result.failures),
            decision=out["decision"],
            passed=False,
            asserts=out["asserts"],
            failures=out["failures"],
            recorded_ids=out["recorded_ids"],
            changed=False,
            ledger_path=path,
        )
    module.exit_json(**out)


if __name__ == "__main__":
    main()
