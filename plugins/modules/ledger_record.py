#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ledger_record
short_description: Append evidence to the stability ledger, one event or a batch
version_added: "0.1.0"
description:
  - Appends a deployment, health check, problem or gate decision, with its
    timestamp and evidence, to the SQLite stability ledger on the controller.
  - The ledger is append-only and hash-chained; SQLite triggers refuse every
    UPDATE, DELETE and out-of-chain INSERT, and readers refuse a ledger whose
    chain or schema was altered. Each write is one transaction.
  - "O(events) records a batch (for example one row per host of a play) in one
    transaction, all of it or none, from one controller task: a role that
    checks n hosts runs one module instead of n (C(run_once: true))."
  - "It runs on the controller, where the ledger lives: its action plugin writes
    the row in Ansible's worker process, without starting a module process, so
    C(delegate_to: localhost) is not needed (and changes nothing)."
  - O(ledger_path) and E(FLEET_LEDGER_PATH) are read on the controller; the
    task's C(environment) does not apply.
  - The module always reports C(changed=false); RV(recorded) says whether a row
    was written. Recording evidence changes the controller's ledger, not the
    host, and the verify and gate steps append evidence on every run by design
    (that is how stability accumulates), so counting it as a change would keep
    every host's C(changed) count above zero and hide real changes, while a
    second converge must change nothing. Deciding this here rather than with
    C(changed_when) at each caller keeps it in one place.
  - In check mode nothing is written (RV(recorded=false)).
options:
  ledger_path:
    description:
      - Path of the ledger file on the controller. Created with its schema if absent.
      - Defaults to E(FLEET_LEDGER_PATH), else C(.cache/ledger.sqlite) under the
        working directory. Playbooks set the group var C(fleet_ledger_path) once per play, with
        C(module_defaults) for the action group C(fleet.migration.ledger).
      - An existing file that is not a fleet.migration ledger is refused and left untouched.
    type: path
  kind:
    description:
      - What is recorded. A C(problem) with O(ok=false) opens a problem; a later
        C(problem) with the same O(host) and O(check) and O(ok=true) closes it.
      - C(provision) and C(toggle) record cloud provisioning and a node switched
        on or off (evidence C(enabled)); C(ci) records a CI result.
      - Required, with O(host), O(check) and O(ok), unless O(events) is given.
    type: str
    choices: [deployment, health, gate, problem, provision, toggle, ci]
  host:
    description: Inventory name of the host the evidence is about.
    type: str
  phase:
    description: Migration phase the evidence belongs to (the host's C(fleet_phase)).
    type: int
  check:
    description: Name of the check, deployment step or gate, for example C(ssh_cert_verify).
    type: str
  ok:
    description: Whether the check passed, the deployment succeeded or the gate said GO.
    type: bool
  evidence:
    description:
      - What the decision rests on, stored as JSON. Pass facts and file paths,
        never secret values.
    type: dict
    default: {}
  details:
    description: A human-readable summary.
    type: str
    default: ""
  run_id:
    description: Identifier tying rows of one playbook run together.
    type: str
    default: ""
  measured_on:
    description:
      - Where the evidence was measured. C(host) for probes that ran on the host
        itself, C(controller) for what the controller evaluated or probed from outside.
      - Stored in the evidence as C(measured_on).
    type: str
    choices: [host, controller]
    default: host
  stand_in:
    description:
      - Whether the host is a stand-in (a VM, container or the local machine) rather
        than the real machine. Stored as evidence C(stand_in); gates ignore such
        rows unless they accept stand-ins (the rehearsal and tests do).
    type: bool
    default: false
  events:
    description:
      - A batch of events, recorded in one transaction in this order; all of
        them or, if any is refused, none. Each takes the options of a single
        event. Mutually exclusive with O(kind), O(host), O(check) and O(ok).
      - An empty list records nothing and leaves the ledger as it is.
    type: list
    elements: dict
    suboptions:
      kind:
        description: What is recorded, as O(kind).
        type: str
        required: true
        choices: [deployment, health, gate, problem, provision, toggle, ci]
      host:
        description: Inventory name of the host the evidence is about.
        type: str
        required: true
      phase:
        description: Migration phase the evidence belongs to.
        type: int
      check:
        description: Name of the check, deployment step or gate.
        type: str
        required: true
      ok:
        description: Whether the check passed.
        type: bool
        required: true
      evidence:
        description: What the decision rests on, as O(evidence).
        type: dict
        default: {}
      details:
        description: A human-readable summary of this event, as O(details).
        type: str
        default: ""
      run_id:
        description: As O(run_id); rows of one run share it.
        type: str
        default: ""
      measured_on:
        description: Where the evidence was measured, as O(measured_on).
        type: str
        choices: [host, controller]
        default: host
      stand_in:
        description: Whether the host is a stand-in, as O(stand_in).
        type: bool
        default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing is written in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: The action plugin does all of it; the module does the same when run as a module.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
    details: Runs on the controller, where the ledger lives.
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
"""

EXAMPLES = r"""
- name: Record that sshd presents a CA-signed host certificate
  fleet.migration.ledger_record:
    ledger_path: "{{ fleet_ledger_path }}"
    kind: health
    host: "{{ inventory_hostname }}"
    phase: "{{ fleet_phase }}"
    check: ssh_cert_verify
    ok: true
    evidence:
      principals: ["cinnabar.fleet"]
  delegate_to: localhost

- name: Open a problem that blocks the next phase until it is closed
  fleet.migration.ledger_record:
    kind: problem
    host: rosegold
    check: homebrew-casks-missing
    ok: false
    details: Two casks failed to install after switch
  delegate_to: localhost

- name: Record every host's result in one controller task, in one transaction
  fleet.migration.ledger_record:
    ledger_path: "{{ fleet_ledger_path }}"
    # Typically built from each host's registered result, e.g.
    # ansible_play_hosts | map('extract', hostvars, 'my_check_event') | list
    events:
      - kind: health
        host: cinnabar
        phase: 1
        check: my_check
        ok: true
        evidence: {answered: true}
      - kind: health
        host: orb-nixos
        phase: 1
        check: my_check
        ok: false
        details: did not answer within 30 s
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
recorded:
  description: Whether the event (or every event of O(events)) was appended to the ledger; false in check mode.
  returned: always
  type: bool
  sample: true
id:
  description: Row id of the appended event; absent in check mode.
  returned: success of a single event and not check mode
  type: int
  sample: 42
ids:
  description: Row ids of the appended events, in the order of O(events); absent in check mode.
  returned: success of O(events) and not check mode
  type: list
  elements: int
  sample: [42, 43]
ledger_path:
  description: Absolute path of the ledger written to.
  returned: always
  type: str
  sample: /work/main/.cache/ledger.sqlite
event:
  description: The event as recorded (or as it would have been, in check mode).
  returned: a single event
  type: dict
  sample: {"kind": "health", "host": "cinnabar", "check": "mesh_verify", "ok": true, "phase": 1}
events:
  description: The events of O(events) as recorded (or as they would have been, in check mode).
  returned: O(events) given
  type: list
  elements: dict
  sample: [{"kind": "health", "host": "cinnabar", "check": "mesh_verify", "ok": true, "phase": 1}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleet.migration.plugins.module_utils.ledger_events import ARGUMENT_SPEC, CONSTRAINTS, record


def main() -> None:
    # The action plugin of the same name (plugins/action/ledger_record.py) runs
    # instead in playbooks; this is the same write, for a run as a module.
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **CONSTRAINTS)
    result, error = record(module.params, module.check_mode)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
