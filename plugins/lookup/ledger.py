# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
from __future__ import annotations

DOCUMENTATION = r"""
name: ledger
short_description: Read the stability ledger (read-only)
version_added: "0.2.0"
description:
  - Reads the append-only stability ledger on the controller, read-only, so that
    playbooks never parse a report's output to learn what was recorded.
  - A missing ledger reads as no evidence. A ledger whose hash chain or schema was
    altered, or a file that is not a ledger, fails the lookup.
options:
  _terms:
    description:
      - C(path) returns the ledger path (E(FLEET_LEDGER_PATH), else C(.cache/ledger.sqlite)
        under the repository). It is the one place the default is written.
      - C(deployed_hosts) returns the hosts with a successful deployment that are not switched off.
      - C(latest) returns the latest event matching O(kind), O(host), O(phase) and O(check), or C({}).
      - C(problems) returns host -> list of open problems.
      - C(deployment) returns the deployment of O(host) that started its current stability clock
        (keys id, recorded_at, check, generation_before, generation_after, changed, running_system), or C({}).
        Its C(generation_before) is the generation a rollback returns to.
    required: true
    type: list
    elements: str
    choices: [path, deployed_hosts, latest, problems, deployment]
  ledger_path:
    description: Ledger to read; empty or unset means the C(path) answer.
    type: str
  kind:
    description: Event kind for C(latest).
    type: str
  host:
    description: Host for C(latest) and C(problems).
    type: str
  phase:
    description: Phase for C(latest).
    type: int
  check:
    description: Check name for C(latest).
    type: str
  root:
    description: Directory the default path is relative to (the repository).
    type: path
  verify_chain:
    description:
      - Check the whole hash chain before answering. The gates always do; the lookup
        checks the schema only by default, because it is asked once per host.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Show the hosts the mesh is expected to reach
  ansible.builtin.debug:
    msg: "{{ lookup('fleet.migration.ledger', 'deployed_hosts', ledger_path=fleet_ledger_path) }}"

- name: Read the latest decision of the phase 2 gate for blackphos
  ansible.builtin.debug:
    msg: "{{ lookup('fleet.migration.ledger', 'latest', kind='gate', host='blackphos', phase=2, check='gate') }}"
"""

RETURN = r"""
_raw:
  description: One answer per term (a path, a list of hosts, an event dict or a problems dict).
  type: list
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.fleet.migration.plugins.module_utils.ledger_store import (
    DEFAULT_LEDGER_PATH,
    Ledger,
    LedgerError,
)
from ansible_collections.fleet.migration.plugins.module_utils.stability import deployed_hosts, host_stability, open_problems

# plugins/lookup/ledger.py -> the collection root, which is the repository.
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def ledger_path(root: str | None = None) -> str:
    return os.environ.get("FLEET_LEDGER_PATH") or os.path.join(root or _REPO, DEFAULT_LEDGER_PATH)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        path = os.path.abspath(os.path.expanduser(self.get_option("ledger_path") or ledger_path(self.get_option("root"))))
        answers = []
        for term in terms:
            if term == "path":
                answers.append(path)
                continue
            if term == "deployed_hosts" and not os.path.exists(path):
                continue
            try:
                with Ledger(path, create=False, verify=self.get_option("verify_chain")) as ledger:
                    if term == "deployed_hosts":
                        # A list of hosts, flat, as inventory_hostnames gives them.
                        answers.extend(deployed_hosts(ledger))
                    elif term == "problems":
                        answers.append(open_problems(ledger, self.get_option("host")))
                    elif term == "deployment":
                        answers.append(host_stability(ledger, self.get_option("host")).deployment)
                    elif term == "latest":
                        filters = {k: self.get_option(k) for k in ("kind", "host", "phase", "check")}
                        event = ledger.latest(**filters)
                        answers.append(event.as_dict() if event else {})
                    else:
                        raise AnsibleLookupError(
                            f"fleet.migration.ledger: expected one of path, deployed_hosts, latest, problems, deployment; found {term!r}."
                        )
            except LedgerError as exc:
                raise AnsibleLookupError(f"fleet.migration.ledger: {exc}") from exc
        return answers
