#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Documentation of the fleet.migration.mesh_probe action (plugins/action/mesh_probe.py)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mesh_probe
short_description: Probe every mesh peer of a host in one run and return its evidence
version_added: "0.2.0"
description:
  - The probe task of the P(fleet.migration.mesh_verify#role) role. Runs the role's port probe on the host
    once, for all of O(peers) (TCP connect to O(port), at most O(max_parallel) at once), and returns the
    evidence RV(summary) and, with O(record), the ledger row RV(event).
  - An accepted or refused connection proves a peer reachable; silence does not. A peer the probe did not
    report, or a probe that printed no result, counts as unreachable with the probe's error.
  - Fails, naming the host, when the probe cannot run on the host (exit other than 0 or 2), for example
    when O(python) is not an interpreter there.
  - Runs as an action plugin; the evidence is built on the controller.
options:
  peers:
    description: "The peers to probe, C({name: mesh address})."
    type: dict
    required: true
  own_address:
    description: This host's mesh address (recorded with the evidence).
    type: str
    default: ""
  scope:
    description: The hosts of the mesh scope (recorded with the evidence).
    type: list
    elements: str
    required: true
  port:
    description: TCP port connected to on each peer.
    type: int
    required: true
  timeout:
    description: Seconds to wait for each peer.
    type: int
    default: 5
  max_parallel:
    description: Peers probed at once.
    type: int
    default: 16
  min_peers:
    description: The peers the role required (recorded with the evidence).
    type: int
    default: 1
  python:
    description: Interpreter on the host that runs the probe (not quoted, so C(/usr/bin/env python3) works).
    type: str
    default: python3
  probe_script:
    description:
      - The probe on the controller.
      - Default, the collection's own, C(roles/firewall_verify/files/port_probe.py).
    type: path
  record:
    description: Return the ledger row RV(event) for this host.
    type: bool
    default: true
  phase:
    description: Phase of the ledger row.
    type: raw
  stand_in:
    description: The host is a stand-in; recorded in the ledger row.
    type: bool
    default: false
  run_id:
    description: Run id of the ledger row.
    type: str
    default: ""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The probe only connects and closes; it runs in check mode too.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
"""

EXAMPLES = r"""
- name: Probe every peer over the mesh
  fleet.migration.mesh_probe:
    peers: {node2: "fd00::2", node3: "fd00::3"}
    scope: [node1, node2, node3]
    port: 22
    timeout: 2
  register: probe
"""

RETURN = r"""
summary:
  description: >-
    The evidence: C(source), C(address), C(port), C(scope), C(min_peers), C(max_parallel), C(probe_seconds),
    C(probe_error), C(peers) (each C(peer), C(address), C(reachable), C(latency_ms), C(error)) and C(unreachable).
  returned: success
  type: dict
event:
  description: This host's ledger row, an element for O(fleet.migration.ledger_record#module:events).
  returned: success and O(record)
  type: dict
probe_rc:
  description: Exit status of the probe (0, or 2 when it reported its own error); null when there was no peer to probe.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleet.migration.plugins.module_utils.mesh import ARGUMENT_SPEC


def main() -> None:
    # Reached only when the module is run without its action plugin (for
    # example with ansible.legacy resolution in another collection path).
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="fleet.migration.mesh_probe: expected to run as its action plugin on the controller; "
                         "found the module run on its own. Call it as fleet.migration.mesh_probe from a playbook.")


if __name__ == "__main__":
    main()
