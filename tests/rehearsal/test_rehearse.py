"""scripts/rehearse end to end on podman stand-ins, asserted on the ledger it leaves.

For every phase 1-5: a GO for each of its hosts, recorded after health rows
that the verification roles themselves wrote (check names of the class's
fleet_verify_roles, no `seed`/`verify` stand-ins) since the host's latest
deployment; for each injected fault a NO-GO before the GO that follows.
Then a second run on the same ledger, whose phase 1 window has not passed
when it stops waiting, ends NO-GO saying how long is left. Opt-in with
FLEET_REHEARSAL=1 (.ci/run sets it; 15-25 minutes, six containers);
otherwise skipped, saying why. The run starts when collection ends and goes
on beside the rest of the suite; these tests run last and read it
(tests/rehearsal/background.py).
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import background  # noqa: E402
import standins  # noqa: E402

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.nix]


@pytest.fixture(scope="module")
def rehearsal(rehearsal_run):
    """The run tests/conftest.py started when collection ended (tests/rehearsal/background.py)."""
    why = background.why_not()
    if why:
        pytest.skip(why)
    if rehearsal_run is None:
        pytest.skip("nix is not on PATH: run scripts/setup")
    res = rehearsal_run.wait()
    return {"state": rehearsal_run.state, "ledger": rehearsal_run.ledger, "run": res}


def rows(ledger: Path) -> list[dict]:
    conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM events ORDER BY id")]
    finally:
        conn.close()


def verify_roles(klass: str) -> list[str]:
    return yaml.safe_load((REPO / "inventory" / "group_vars" / f"{klass}.yml").read_text())["fleet_verify_roles"]


def test_rehearsal_exits_0_and_says_where_the_migration_stands(rehearsal):
    res = rehearsal["run"]
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    assert "Where the migration stands:" in res.stdout
    assert "every container this run started is removed" in res.stdout
    assert "Expectations that did not hold" not in res.stdout
    assert (rehearsal["state"] / "timeline.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_every_phase_has_a_go_per_host_after_role_written_health_in_its_window(rehearsal):
    events = rows(rehearsal["ledger"])
    for machine in standins.plan(range(1, 6)):
        host, phase = machine["name"], machine["phase"]
        gos = [e for e in events if e["kind"] == "gate" and e["check_name"] == "gate" and e["phase"] == phase
               and e["host"] == host and e["ok"]]
        assert gos, f"{host}: no GO of the phase {phase} gate in the ledger"
        go = gos[-1]
        deploy = [e for e in events if e["kind"] == "deployment" and e["host"] == host and e["id"] < go["id"]][-1]
        health = {e["check_name"] for e in events if e["kind"] == "health" and e["host"] == host and e["ok"]
                  and deploy["id"] < e["id"] < go["id"]}
        assert set(verify_roles(machine["class"])) <= health, (host, health)


def test_each_fault_has_a_no_go_before_the_go_that_follows(rehearsal):
    events = rows(rehearsal["ledger"])
    darwin = [m for m in standins.plan(range(1, 6)) if m["class"] == "darwin"]
    for machine, needle in zip(darwin, ["service_health", None, "clock"]):
        host, phase = machine["name"], machine["phase"]
        # The phase's gate, or for the clock its preflight (which judges the clock first).
        gates = [e for e in events if e["kind"] == "gate" and e["phase"] == phase]
        last_go = max(e["id"] for e in gates if e["ok"] and e["check_name"] == "gate")
        nogo = [e for e in gates if not e["ok"] and e["id"] < last_go and (needle or host) in e["details"]]
        assert nogo, f"phase {phase} ({host}): no NO-GO naming {needle or host} before its GO"


def test_no_row_is_seeded_every_health_row_is_a_role_check_on_a_stand_in(rehearsal):
    events = rows(rehearsal["ledger"])
    known = set(verify_roles("nixos")) | set(verify_roles("darwin")) | {"reachable"}
    health = [e for e in events if e["kind"] == "health"]
    assert health and {e["check_name"] for e in health} <= known, {e["check_name"] for e in health} - known
    # Recorded by the roles as measured on a stand-in; the gates count them only because the layer says so.
    assert all(e["stand_in"] == 1 for e in health)
    assert all(e["run_id"] for e in events if e["kind"] in ("health", "deployment", "gate"))


def test_the_clock_jump_opened_a_problem_that_was_acknowledged(rehearsal):
    events = rows(rehearsal["ledger"])
    opened = [e for e in events if e["kind"] == "problem" and e["check_name"] == "clock" and not e["ok"]]
    assert opened, "no clock problem was opened by the controller's clock jump"
    closed = [e for e in events if e["kind"] == "problem" and e["check_name"] == "clock" and e["ok"]
              and e["id"] > opened[-1]["id"]]
    assert closed, "the clock problem was never acknowledged (playbooks/ledger-problem.yml)"


def test_a_second_run_whose_window_has_not_passed_ends_nogo_saying_how_long_is_left(rehearsal, tmp_path):
    before = max(e["id"] for e in rows(rehearsal["ledger"]))
    env = dict(os.environ, FLEET_LEDGER_PATH=str(rehearsal["ledger"]))
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "rehearse"), "--state-dir", str(tmp_path),
                          "--phases", "1", "--no-faults", "--max-wait", "0"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert res.returncode == 3, res.stdout[-6000:] + res.stderr[-3000:]
    window = standins.WINDOWS["fleet_gate_host_stable_minutes"]
    for machine in standins.plan(range(1, 2)):
        assert f"{machine['name']}: stable_for: expected stable >= {window} min" in res.stdout
        assert f"{machine['name']}: " in res.stdout and f"of {window:g} minutes left" in res.stdout
    # The gate's decisions (check gate); the preflight's rows (check preflight) say GO: phase 0 has decided.
    nogo = [e for e in rows(rehearsal["ledger"]) if e["id"] > before and e["kind"] == "gate" and e["phase"] == 1
            and e["check_name"] == "gate"]
    assert nogo and not any(e["ok"] for e in nogo)
