"""The filter fleet.migration.phase_selection: a phase or --limit that selects
no host fails before any task runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))
from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.fleet.migration.plugins.filter.phase_selection import phase_selection, select  # noqa: E402

GROUPS = {
    "all": ["cinnabar", "orb-nixos", "blackphos", "rosegold"],
    "ungrouped": [],
    "phase1": ["cinnabar", "orb-nixos"],
    "phase3": ["rosegold"],
    "darwin": ["blackphos", "rosegold"],
    "zerotier_controllers": ["cinnabar"],
}


@pytest.mark.parametrize("pattern,expected", [
    ("phase1", {"cinnabar", "orb-nixos"}),
    ("phase1:!zerotier_controllers", {"orb-nixos"}),
    ("phase1:&zerotier_controllers", {"cinnabar"}),
    ("rose*", {"rosegold"}),
    ("~^orb", {"orb-nixos"}),
    ("cinnabar,rosegold", {"cinnabar", "rosegold"}),
    ("darwin:&phase3", {"rosegold"}),
])
def test_patterns(pattern, expected):
    assert select(pattern, GROUPS) == expected


def test_a_limit_that_leaves_the_phase_empty_fails_naming_both():
    with pytest.raises(AnsibleFilterError) as info:
        phase_selection("phase3", GROUPS, "cinnabar")
    assert str(info.value) == (
        "phase3: hosts: expected at least one host in phase3 narrowed by --limit cinnabar; found none. A run that "
        "selects no host does nothing, so it is refused. Check the phase's tags in modules/clan/inventory/machines.nix "
        "(ansible-inventory --graph phase3) and the --limit given."
    )


def test_an_empty_phase_fails_without_a_limit():
    with pytest.raises(AnsibleFilterError, match="expected at least one host in phase9; found none"):
        phase_selection("phase9", GROUPS, None)


def test_a_limit_inside_the_phase_passes_the_pattern_through():
    assert phase_selection("phase1", GROUPS, "orb-nixos") == "phase1"
    assert phase_selection("phase1", GROUPS, ["orb*"]) == "phase1"
