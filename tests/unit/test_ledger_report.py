"""scripts/ledger-report: the phase report, readable without Ansible."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "ledger-report"
sys.path.insert(0, str(REPO / ".collections"))
from ansible_collections.fleet.migration.plugins.module_utils import ledger as L  # noqa: E402


def seed(path: Path) -> None:
    now = L.utcnow()
    with L.Ledger(str(path)) as led:
        led.record(
            "deployment",
            "rosegold",
            "darwin_rebuild",
            True,
            phase=3,
            at=now - dt.timedelta(hours=3),
            evidence={"changed": True, "generation_before": 6, "generation_after": 7},
        )
        led.record("health", "rosegold", "regression_verify", True, phase=3, at=now - dt.timedelta(hours=2))
        led.record("health", "rosegold", "regression_verify", True, phase=3, at=now - dt.timedelta(hours=1))
        led.record("problem", "rosegold", "casks", False, details="two casks | missing")
        led.record("gate", "rosegold", "gate", False, phase=3, details="NO-GO: rosegold: no_open_problems: ...")
        led.record("gate", L.FLEET, "gate", False, phase=3, details="NO-GO: rosegold: no_open_problems: ...",
                   evidence={"decision": "NO-GO"})


def test_report_has_a_row_per_host_a_plot_and_the_decisions(tmp_path):
    ledger = tmp_path / "l.sqlite"
    seed(ledger)
    out = tmp_path / "reports" / "phase3"
    res = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--ledger",
            str(ledger),
            "--phase",
            "3",
            "--out",
            str(out),
            "--hosts",
            "rosegold,blackphos",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    md = (out / "index.md").read_text()
    rosegold = next(line for line in md.splitlines() if line.startswith("| rosegold |"))
    cells = [c.strip() for c in rosegold.strip("|").split(" | ")]
    assert cells[2] == "7" and cells[3] == "2" and cells[8] == "2 h"
    assert "two casks \\| missing" in rosegold  # a pipe in evidence does not break the table
    assert "| blackphos | none recorded |" in md
    assert "![Health over time](health.svg)" in md
    assert "`gate` (fleet): NO-GO: rosegold: no_open_problems" in md
    # The decision is stated plainly, first.
    assert "**Decision: NO-GO (gate, " in md
    html = (out / "index.html").read_text()
    assert '<img src="health.svg"' in html and "two casks | missing" in html
    svg = (out / "health.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "rosegold" in svg
    data = json.loads((out / "evidence.json").read_text())
    assert data["integrity"] == "hash chain verified, 6 rows" and [h["host"] for h in data["hosts"]] == ["rosegold", "blackphos"]


def test_host_query_gives_the_generation_to_roll_back_to(tmp_path):
    ledger = tmp_path / "l.sqlite"
    seed(ledger)
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--ledger", str(ledger), "--host", "rosegold"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(res.stdout)
    assert summary["rollback_generation"] == 6 and summary["generation"] == 7
    assert summary["open_problems"][0].startswith("casks (since ")


def test_empty_ledger_report_says_so_and_creates_no_ledger(tmp_path):
    out = tmp_path / "r"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--ledger", str(tmp_path / "none.sqlite"), "--phase", "1", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert "No evidence recorded yet." in (out / "index.md").read_text()
    assert not (tmp_path / "none.sqlite").exists()


def test_the_report_needs_no_ansible(tmp_path):
    ledger = tmp_path / "l.sqlite"
    seed(ledger)
    probe = (
        f"import sys; from importlib.machinery import SourceFileLoader; "
        f"m = SourceFileLoader('r', {str(SCRIPT)!r}).load_module(); "
        f"m.main(['--ledger', {str(ledger)!r}, '--phase', '3', '--out', {str(tmp_path / 'o')!r}]); "
        f"print(sorted(n for n in sys.modules if n == 'ansible' or n.startswith('ansible.')))"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_a_ledger_on_read_only_media_is_read_and_reported(tmp_path):
    import shutil

    ledger = tmp_path / "ro" / "l.sqlite"
    ledger.parent.mkdir()
    seed(ledger)
    mount = tmp_path / "mnt"
    mount.mkdir()
    bind = subprocess.run(["mount", "--bind", "-o", "ro", str(ledger.parent), str(mount)], capture_output=True, check=False)
    if bind.returncode != 0:
        remount = None
        pytest.skip(f"cannot make a read-only bind mount here: {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=False, capture_output=True)
        with pytest.raises(OSError):
            (mount / "probe").write_text("x")
        out = tmp_path / "report"
        res = subprocess.run([sys.executable, str(SCRIPT), "--ledger", str(mount / "l.sqlite"), "--phase", "3", "--out", str(out)],
                             capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr
        assert "| rosegold |" in (out / "index.md").read_text()
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    shutil.rmtree(ledger.parent)


def test_ledger_verify_checks_the_whole_chain(tmp_path):
    import sqlite3

    ledger = tmp_path / "l.sqlite"
    seed(ledger)
    verify = SCRIPT.with_name("ledger-verify")
    ok = subprocess.run([sys.executable, str(verify), "--ledger", str(ledger)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stdout.strip() == f"ledger-verify: {ledger}: schema and hash chain hold, 6 rows"
    # A rewrite deep in history, with the trigger put back exactly as it was
    # and the schema cookie forged back: only the whole chain can tell.
    from ansible_collections.fleet.migration.plugins.module_utils import ledger_store

    conn = sqlite3.connect(ledger)
    cookie = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.executescript("DROP TRIGGER events_no_update; UPDATE events SET ok = 1 WHERE id = 4;"
                       + ledger_store._EXPECTED_SQL["events_no_update"] + f"; PRAGMA schema_version = {cookie};")
    conn.close()
    bad = subprocess.run([sys.executable, str(verify), "--ledger", str(ledger)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"ledger-verify: refusing {ledger}: the hash chain breaks at row 4")
