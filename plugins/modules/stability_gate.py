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
    subject host, with every assert as evidence.
  - The module always reports C(changed=false); RV(recorded_ids) lists the rows
    written. A decision is evidence on the controller, not a change to a host
    (see M(fleet.migration.ledger_record) for why).
  - "Run it on the controller (C(delegate_to: localhost), C(run_once: true))."
  - "A host's stability is measured from evidence: from the deployment that
    started its current generation to its latest healthy check, and zero once
    any health check since that deployment failed."
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
    description: Minutes of healthy evidence each of O(stable_hosts) needs (the seed asks 1-2 weeks).
    type: float
    default: 10080
  min_health_checks:
    description: Healthy checks each of O(stable_hosts) needs since its deployment.
    type: int
    default: 1
  max_health_age_minutes:
    description: The latest healthy check must be at most this old; C(0) turns the assert off.
    type: float
    default: 0
  required_checks:
    description: Host -> names of checks that must each have a healthy record since the deployment.
    type: dict
    default: {}
  previous_gate:
    description: Require a recorded GO of an earlier phase's gate for each of its hosts.
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
        description: Minutes the sum must reach (the seed asks 4-6 weeks).
        type: float
        required: true
  problem_hosts:
    description:
      - Hosts that must have no open problem. V(*) alone means every host in the
        ledger. Default is O(subjects) plus O(stable_hosts).
    type: list
    elements: str
  rollback_plan:
    description: Files that must exist (relative to O(root)) and names they must mention.
    type: dict
    suboptions:
      paths:
        description: Files of the rollback plan.
        type: list
        elements: str
        required: true
      mentions:
        description: Strings (host names) the files must contain.
        type: list
        elements: str
        default: []
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
from ansible_collections.fleet.migration.plugins.module_utils.ledger import (
    GateSpec,
    Ledger,
    LedgerError,
    default_path,
    evaluate_gate,
    record_gate,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            ledger_path=dict(type="path"),
            phase=dict(type="int", required=True),
            gate_name=dict(type="str", default="gate"),
            subjects=dict(type="list", elements="str", required=True),
            stable_hosts=dict(type="list", elements="str", default=[]),
            min_stable_minutes=dict(type="float", default=10080),
            min_health_checks=dict(type="int", default=1),
            max_health_age_minutes=dict(type="float", default=0),
            required_checks=dict(type="dict", default={}),
            previous_gate=dict(
                type="dict",
                options=dict(
                    phase=dict(type="int", required=True),
                    hosts=dict(type="list", elements="str", required=True),
                    gate_name=dict(type="str", default="gate"),
                ),
            ),
            cumulative=dict(
                type="dict",
                options=dict(
                    hosts=dict(type="list", elements="str", required=True),
                    min_minutes=dict(type="float", required=True),
                ),
            ),
            problem_hosts=dict(type="list", elements="str"),
            rollback_plan=dict(
                type="dict",
                options=dict(
                    paths=dict(type="list", elements="str", required=True),
                    mentions=dict(type="list", elements="str", default=[]),
                ),
            ),
            root=dict(type="path", default="."),
            record=dict(type="bool", default=True),
            fail_on_nogo=dict(type="bool", default=True),
            run_id=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    p = module.params
    path = os.path.abspath(p["ledger_path"] or default_path())
    spec = GateSpec(
        phase=p["phase"],
        subjects=p["subjects"],
        gate_name=p["gate_name"],
        stable_hosts=p["stable_hosts"],
        min_stable_minutes=p["min_stable_minutes"],
        min_health_checks=p["min_health_checks"],
        max_health_age_minutes=p["max_health_age_minutes"],
        required_checks={h: list(c or []) for h, c in (p["required_checks"] or {}).items()},
        previous_gate=p["previous_gate"],
        cumulative=p["cumulative"],
        problem_hosts=p["problem_hosts"],
        rollback_plan=p["rollback_plan"],
    )
    try:
        with Ledger(path, create=False) as ledger:
            result = evaluate_gate(ledger, spec, root=p["root"])
        out = dict(result.as_dict(), ledger_path=path, recorded_ids=[], changed=False)
        if p["record"] and spec.subjects and not module.check_mode:
            with Ledger(path) as ledger:
                out["recorded_ids"] = record_gate(ledger, result, run_id=p["run_id"])
    except (LedgerError, OSError, sqlite3.Error) as exc:
        module.fail_json(msg=f"phase {p['phase']} {p['gate_name']}: could not read the ledger {path}: {exc}")
    if not result.passed and p["fail_on_nogo"]:
        # Only the failed asserts: the full list would bury the message.
        module.fail_json(
            msg=f"phase {p['phase']} {p['gate_name']}: NO-GO. " + " ".join(result.failures),
            decision=out["decision"],
            passed=False,
            failures=out["failures"],
            recorded_ids=out["recorded_ids"],
            changed=out["changed"],
            ledger_path=path,
        )
    module.exit_json(**out)


if __name__ == "__main__":
    main()
