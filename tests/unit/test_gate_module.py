"""fleet.migration.stability_gate as Ansible runs it: read-only evaluation,
check mode, recorded decisions and the failure message."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ansible_collections.fleet.migration.plugins.module_utils import ledger as L  # noqa: E402
from test_ledger_module import run_module  # noqa: E402


def seed(path: Path, minutes: float) -> None:
    now = L.utcnow()
    with L.Ledger(str(path)) as led:
        led.record(
            "deployment",
            "rosegold",
            "darwin_rebuild",
            True,
            phase=3,
            at=now - dt.timedelta(minutes=minutes),
            evidence={"changed": True},
        )
        led.record("health", "rosegold", "regression_verify", True, phase=3, at=now - dt.timedelta(seconds=5))


def args(path: Path, **extra) -> dict:
    return {
        "ledger_path": str(path),
        "phase": 3,
        "subjects": ["rosegold"],
        "stable_hosts": ["rosegold"],
        "min_stable_minutes": 5,
        **extra,
    }


def test_missing_evidence_fails_with_host_criterion_expected_found(tmp_path):
    path = tmp_path / "l.sqlite"
    rc, result = run_module("fleet.migration.stability_gate", args(path), tmp_path)
    assert rc != 0
    assert result["msg"].startswith(
        "phase 3 gate: NO-GO. rosegold: deployed: expected a successful deployment recorded in the ledger; "
        "found no deployment recorded."
    )
    assert result["decision"] == "NO-GO"
    # The NO-GO itself is recorded: a row for the host and one for the phase.
    with L.Ledger(str(path)) as led:
        row, fleet = led.events(kind="gate")
    assert row.host == "rosegold" and not row.ok and row.phase == 3
    assert fleet.host == L.FLEET and fleet.evidence["decision"] == "NO-GO"


def test_go_is_recorded(tmp_path):
    path = tmp_path / "l.sqlite"
    seed(path, 10)
    rc, result = run_module("fleet.migration.stability_gate", args(path), tmp_path)
    assert rc == 0, result.get("msg")
    assert result["decision"] == "GO" and result["changed"] is False and len(result["recorded_ids"]) == 2
    with L.Ledger(str(path)) as led:
        assert L.latest_gate(led, "rosegold", 3).ok


def test_check_mode_evaluates_but_records_nothing(tmp_path):
    path = tmp_path / "l.sqlite"
    seed(path, 10)
    rc, result = run_module("fleet.migration.stability_gate", args(path), tmp_path, "--check")
    assert rc == 0 and result["decision"] == "GO" and result["changed"] is False and result["recorded_ids"] == []
    with L.Ledger(str(path)) as led:
        assert led.events(kind="gate") == []


def test_check_mode_on_a_missing_ledger_creates_nothing(tmp_path):
    path = tmp_path / "absent.sqlite"
    rc, result = run_module("fleet.migration.stability_gate", args(path), tmp_path, "--check")
    assert rc != 0 and result["decision"] == "NO-GO"
    assert not path.exists()


def test_fail_on_nogo_false_returns_the_decision(tmp_path):
    rc, result = run_module(
        "fleet.migration.stability_gate", args(tmp_path / "l.sqlite", fail_on_nogo=False, record=False), tmp_path
    )
    assert rc == 0 and result["passed"] is False
    assert any(m.startswith("rosegold: stable_for:") is False for m in result["failures"])
    assert result["failures"][0].startswith("rosegold: deployed:")


def test_a_zero_threshold_is_refused_naming_the_variable(tmp_path):
    path = tmp_path / "l.sqlite"
    seed(path, 10)
    rc, result = run_module(
        "fleet.migration.stability_gate",
        args(path, min_stable_minutes="0", threshold_vars={"min_stable_minutes": "fleet_gate_host_stable_minutes"}),
        tmp_path,
    )
    assert rc != 0 and result["decision"] == "NO-GO"
    assert result["msg"].startswith(
        "phase 3 gate: fleet_gate_host_stable_minutes: expected a positive number of minutes; found 0.0."
    )
    with L.Ledger(str(path)) as led:
        assert led.events(kind="gate") == []


def test_nan_threshold_is_refused(tmp_path):
    rc, result = run_module("fleet.migration.stability_gate", args(tmp_path / "l.sqlite", min_health_checks="nan"), tmp_path)
    assert rc != 0 and "min_health_checks: expected a positive number of checks; found nan." in result["msg"]


def test_a_sqlite_file_that_is_not_a_ledger_is_refused_and_left_untouched(tmp_path):
    import hashlib
    import sqlite3

    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (t TEXT)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rc, result = run_module("fleet.migration.stability_gate", args(path), tmp_path)
    assert rc != 0
    assert f"refusing {path}: expected a fleet.migration stability ledger" in result["msg"]
    assert "found an SQLite database with application_id 0 and tables ['notes']. The file was left untouched." in result["msg"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("other")) == ["other.sqlite"]
