# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Filter fleet.migration.phase_selection: the host pattern of a phase, or an
error when the phase group, narrowed by --limit, selects no host.

Why a filter in the play's `hosts:`: play patterns are templated before any
task runs and whatever --tags or --skip-tags say, so this guard cannot be
skipped. A phase that selects nothing must fail, not exit 0 having done nothing.
"""

from __future__ import annotations

import fnmatch
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: phase_selection
short_description: The host pattern of a phase; fails when the selection is empty
version_added: "0.2.0"
description:
  - Returns O(_input) unchanged (a host pattern such as C(phase3)) when the pattern,
    narrowed by the run's C(--limit), selects at least one host; fails otherwise,
    naming the pattern, the limit and what to do.
  - Supports the limit syntax of C(ansible-playbook --limit) that names hosts and
    groups, C(&) intersections, C(!) exclusions, wildcards, C(~regex) and C(@file).
options:
  _input:
    description: The host pattern (group names joined with C(:), C(:&) and C(:!)).
    type: str
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  limit:
    description: The C(ansible_limit) magic variable (the run's C(--limit)), or none.
    type: raw
"""

EXAMPLES = r"""
- name: Deploy phase 3
  hosts: "{{ 'phase3' | fleet.migration.phase_selection(groups, ansible_limit | default(none)) }}"
  tasks: []
"""

RETURN = r"""
_value:
  description: The pattern, unchanged.
  type: str
"""


def _split(pattern: str) -> list[str]:
    # ansible.inventory.manager.split_host_pattern, without its IPv6 handling:
    # clan machine names never contain colons.
    return [p.strip() for p in re.split(r"[,:](?=[&!~@]?[\w*\[.~@-])", pattern) if p.strip()]


def _expand(term: str, groups: dict) -> set[str]:
    every = set(groups.get("all", [])) | set(groups.get("ungrouped", []))
    if term.startswith("@"):
        with open(term[1:], encoding="utf-8") as handle:
            names = [line.strip() for line in handle if line.strip()]
        return set().union(*(_expand(n, groups) for n in names)) if names else set()
    if term.startswith("~"):
        rx = re.compile(term[1:])
        found = {h for h in every if rx.search(h)}
        found |= set().union(*(set(m) for g, m in groups.items() if rx.search(g)))
        return found
    if term in groups:
        return set(groups[term])
    if term in every:
        return {term}
    found = {h for h in every if fnmatch.fnmatchcase(h, term)}
    for group, members in groups.items():
        if fnmatch.fnmatchcase(group, term):
            found |= set(members)
    return found


def select(pattern: str, groups: dict) -> set[str]:
    chosen: set[str] = set()
    terms = _split(pattern)
    plain = [t for t in terms if t[0] not in "&!"]
    for term in plain:
        chosen |= _expand(term, groups)
    for term in terms:
        if term.startswith("&"):
            chosen &= _expand(term[1:], groups)
        elif term.startswith("!"):
            chosen -= _expand(term[1:], groups)
    return chosen


def phase_selection(pattern, groups, limit=None):
    pattern = str(pattern)
    selected = select(pattern, groups or {})
    if limit:
        limits = limit if isinstance(limit, (list, tuple)) else [limit]
        for item in limits:
            selected &= select(str(item), groups or {})
    if not selected:
        narrowed = f" narrowed by --limit {','.join(map(str, limit)) if isinstance(limit, (list, tuple)) else limit}" if limit else ""
        raise AnsibleFilterError(
            f"{pattern}: hosts: expected at least one host in {pattern}{narrowed}; found none. A run that selects no "
            f"host does nothing, so it is refused. Check the phase's tags in modules/clan/inventory/machines.nix "
            f"(ansible-inventory --graph {pattern.split(':', maxsplit=1)[0]}) and the --limit given."
        )
    return pattern


class FilterModule:
    def filters(self):
        return {"phase_selection": phase_selection}
