"""tests/rehearsal/background.py: the full rehearsal runs beside the rest of the suite, its tests last."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "rehearsal"))
import background  # noqa: E402


def _items(*nodeids: str) -> list:
    return [SimpleNamespace(nodeid=n) for n in nodeids]


def test_the_rehearsal_tests_move_to_the_end_in_their_order():
    items = _items("tests/docs/a.py::t", f"{background.TEST_FILE}::first", "tests/unit/b.py::t",
                   f"{background.TEST_FILE}::second", "tests/vm/c.py::t")
    background.order_last(items)
    assert [i.nodeid for i in items] == ["tests/docs/a.py::t", "tests/unit/b.py::t", "tests/vm/c.py::t",
                                         f"{background.TEST_FILE}::first", f"{background.TEST_FILE}::second"]


def test_nothing_moves_and_nothing_is_selected_without_the_rehearsal_tests():
    items = _items("tests/unit/b.py::t", "tests/rehearsal/test_standins.py::t")
    background.order_last(items)
    assert [i.nodeid for i in items] == ["tests/unit/b.py::t", "tests/rehearsal/test_standins.py::t"]
    assert background.selected(items) == []


def test_without_the_opt_in_it_says_how_to_run_it(monkeypatch):
    monkeypatch.delenv("FLEET_REHEARSAL", raising=False)
    assert background.why_not() == ("the full rehearsal runs 6 containers for 15-25 minutes: set FLEET_REHEARSAL=1 "
                                    "to run it")


def test_a_missing_tool_is_named(monkeypatch):
    monkeypatch.setenv("FLEET_REHEARSAL", "1")
    monkeypatch.setattr(background.shutil, "which", lambda tool: None if tool == "faketime" else f"/usr/bin/{tool}")
    assert background.why_not() == ("faketime is not installed (scripts/setup installs podman, runc, debootstrap, "
                                    "openssh-client and faketime)")
