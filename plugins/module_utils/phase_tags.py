# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
"""Every machine belongs to exactly one phase, and every phase a machine is tagged with has a playbook.

For Phase 0 and the inventory plugin: a `phaseN` tag without `playbooks/phaseN.yml` would leave that machine
with no migration path at all, so it is an error naming the machine. Standard library only.
"""
from __future__ import annotations

import os
import re

PHASE_TAG = re.compile(r"^phase(\d+)$")


class PhaseTagError(ValueError):
    """A machine whose phase tags do not name exactly one phase with a playbook."""


def phases_of(tags: list[str]) -> list[int]:
    return sorted(int(m.group(1)) for m in (PHASE_TAG.match(t) for t in tags or []) if m)


def problems(machines: dict, playbooks_dir: str) -> list[str]:
    """One message per machine whose phase is missing, ambiguous or has no playbook (empty when all is well).

    `machines` is the clan inventory's machines (`nix eval .#clan.inventory.machines`): name -> {tags: [...]}.
    """
    found = []
    for name in sorted(machines):
        tags = (machines[name] or {}).get("tags") or []
        phases = phases_of(tags)
        if len(phases) != 1:
            found.append("%s: phase tag: expected exactly one tag phaseN; found %s. Give the machine one phase tag in "
                         "modules/clan/inventory/machines.nix (docs/PHASES.md lists the phases)"
                         % (name, ", ".join("phase%d" % p for p in phases) or "none"))
            continue
        playbook = os.path.join(playbooks_dir, "phase%d.yml" % phases[0])
        if not os.path.isfile(playbook):
            found.append("%s: phase tag: expected playbooks/phase%d.yml for its tag phase%d; found no such playbook. "
                         "Move the machine to a phase that has a playbook (modules/clan/inventory/machines.nix) or "
                         "add the playbook" % (name, phases[0], phases[0]))
    return found


def check(machines: dict, playbooks_dir: str) -> None:
    """Raise PhaseTagError with every problem, one per line."""
    found = problems(machines, playbooks_dir)
    if found:
        raise PhaseTagError("\n".join(found))
