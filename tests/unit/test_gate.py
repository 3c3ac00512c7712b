"""Gate logic: named asserts over recorded evidence; missing evidence fails,
and every failure names the host, the criterion, expected and found."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "plugins" / "module_utils"))
import ledger as L  # noqa: E402

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def ago(minutes: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes)


@pytest.fixture
def ledger(tmp_path):
    with L.Ledger(str(tmp_path / "ledger.sqlite")) as led:
        yield led


def deploy(led, host, minutes_ago, *, changed=True, ok=True):
    led.record("deployment", host, "darwin_rebuild", ok, phase=3, at=ago(minutes_ago), evidence={"changed": changed})


def healthy(led, host, minutes_ago, check="regression_verify", ok=True):
    led.record("health", host, check, ok, phase=3, at=ago(minutes_ago))


def gate(led, **spec):
    spec.setdefault("phase", 3)
    spec.setdefault("subjects", ["rosegold"])
    return L.evaluate_gate(led, L.GateSpec(**spec), now=NOW)


def failure(result, criterion):
    found = [a for a in result.asserts if a.criterion == criterion and not a.ok]
    assert found, f"no failed {criterion} in {result.failures}"
    return found[0].message


def test_empty_ledger_fails_closed_naming_host_criterion_expected_found(ledger):
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10)
    assert result.decision == "NO-GO"
    assert failure(result, "deployed") == (
        "rosegold: deployed: expected a successful deployment recorded in the ledger; found no deployment recorded. "
        "Deploy rosegold with its phase playbook, then record health with its verify step."
    )


def test_stable_long_enough_says_go(ledger):
    deploy(ledger, "rosegold", 30)
    healthy(ledger, "rosegold", 20)
    healthy(ledger, "rosegold", 1)
    result = gate(
        ledger, stable_hosts=["rosegold"], min_stable_minutes=25, required_checks={"rosegold": ["regression_verify"]}
    )
    assert result.decision == "GO", result.failures
    assert {a.criterion for a in result.asserts} >= {
        "deployed",
        "health_checks",
        "checks_passing",
        "required_checks",
        "stable_for",
        "no_open_problems",
    }


def test_not_stable_long_enough_reports_expected_and_found_minutes(ledger):
    deploy(ledger, "rosegold", 30)
    healthy(ledger, "rosegold", 10)
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10080)
    message = failure(result, "stable_for")
    assert message.startswith(
        "rosegold: stable_for: expected stable >= 1 week (10080 min); found 20 min (20 min) "
        "of healthy evidence since the deployment at 2026-06-01T11:30:00.000000+00:00."
    )


def test_wall_clock_is_not_evidence_the_latest_healthy_check_is(ledger):
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", 55)
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=30)
    assert "found 5 min" in failure(result, "stable_for")


def test_a_failed_check_restarts_the_stability_clock(ledger):
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", 40, ok=False)
    healthy(ledger, "rosegold", 1)
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=50)
    assert "found 39 min (39 min) of healthy evidence since the failed check at " in failure(result, "stable_for")
    assert [a.ok for a in result.asserts if a.criterion == "checks_passing"] == [True]
    assert gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=39).decision == "GO"


def test_a_check_failing_now_is_named(ledger):
    deploy(ledger, "cinnabar", 60)
    healthy(ledger, "cinnabar", 30, check="mesh_verify")
    healthy(ledger, "cinnabar", 20, check="mesh_verify", ok=False)
    healthy(ledger, "cinnabar", 1, check="ssh_cert_verify")
    message = failure(
        gate(ledger, subjects=["cinnabar"], stable_hosts=["cinnabar"], min_stable_minutes=1), "checks_passing"
    )
    assert message.startswith(
        "cinnabar: checks_passing: expected the latest record of every health check to be healthy; "
        "found failing: mesh_verify (failed at 2026-06-01T11:40:00.000000+00:00)."
    )


def test_redeploy_that_changed_the_host_restarts_the_clock_one_that_did_not_does_not(ledger):
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", 1)
    deploy(ledger, "rosegold", 30, changed=False)
    assert gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=50).decision == "GO"
    deploy(ledger, "rosegold", 20, changed=True)
    assert "found 19 min" in failure(gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=50), "stable_for")


def test_latest_deployment_failed(ledger):
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", 1)
    deploy(ledger, "rosegold", 10, ok=False)
    assert failure(gate(ledger, stable_hosts=["rosegold"]), "deployed") == (
        "rosegold: deployed: expected the latest deployment to have succeeded; found the latest deployment failed. "
        "Deploy rosegold with its phase playbook, then record health with its verify step."
    )


def test_required_check_missing_is_named(ledger):
    deploy(ledger, "cinnabar", 60)
    healthy(ledger, "cinnabar", 1, check="ssh_cert_verify")
    result = gate(
        ledger,
        subjects=["cinnabar"],
        stable_hosts=["cinnabar"],
        min_stable_minutes=1,
        required_checks={"cinnabar": ["ssh_cert_verify", "mesh_verify"]},
    )
    assert failure(result, "required_checks").startswith(
        "cinnabar: required_checks: expected a healthy record of each of mesh_verify, ssh_cert_verify; "
        "found missing mesh_verify."
    )


def test_stale_evidence_fails_freshness(ledger):
    deploy(ledger, "rosegold", 3000)
    healthy(ledger, "rosegold", 2000)
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10, max_health_age_minutes=1440)
    assert failure(result, "fresh_evidence").startswith(
        "rosegold: fresh_evidence: expected a healthy check within the last 1 day; "
        "found the latest 1 day 9 h 20 min ago."
    )


def test_open_problem_blocks_until_closed(ledger):
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", 1)
    ledger.record("problem", "rosegold", "casks", False, details="two casks missing", at=ago(5))
    message = failure(gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=1), "no_open_problems")
    assert message.startswith(
        "rosegold: no_open_problems: expected no open problem recorded on rosegold; found rosegold: casks (since "
    )
    ledger.record("problem", "rosegold", "casks", True, details="fixed", at=ago(2))
    assert gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=1).decision == "GO"


def test_previous_gate_missing_and_nogo(ledger):
    result = gate(ledger, previous_gate={"phase": 2, "hosts": ["blackphos"]})
    assert failure(result, "phase2_gate") == (
        "blackphos: phase2_gate: expected a recorded GO decision of the phase 2 gate; found no gate decision recorded. "
        "Run playbooks/phase2.yml --tags gate until its gate says GO."
    )
    ledger.record("gate", "blackphos", "gate", False, phase=2, at=ago(3))
    assert "found NO-GO recorded at " in failure(
        gate(ledger, previous_gate={"phase": 2, "hosts": ["blackphos"]}), "phase2_gate"
    )
    ledger.record("gate", "blackphos", "gate", True, phase=2, at=ago(1))
    assert gate(ledger, previous_gate={"phase": 2, "hosts": ["blackphos"]}).decision == "GO"


def test_previous_gate_with_no_hosts_fails_closed(ledger):
    result = gate(ledger, previous_gate={"phase": 2, "hosts": []})
    assert failure(result, "previous_gate") == (
        "phase2: previous_gate: expected hosts in phase 2 whose gate passed; found no hosts in that phase. "
        "Check the phaseN tags in the clan inventory."
    )


def test_cumulative_stability_sums_earlier_hosts(ledger):
    for host, minutes in (("blackphos", 50), ("rosegold", 30), ("argentum", 10)):
        deploy(ledger, host, minutes)
        healthy(ledger, host, 0)
    spec = dict(
        subjects=["stibnite"], phase=5, cumulative={"hosts": ["blackphos", "rosegold", "argentum"], "min_minutes": 100}
    )
    message = failure(gate(ledger, **spec), "cumulative_stability")
    assert message.startswith(
        "stibnite: cumulative_stability: expected >= 1 h 40 min (100 min) of stability summed over "
        "blackphos, rosegold, "
        "argentum; found 1 h 30 min (90 min): blackphos 50 min, rosegold 30 min, argentum 10 min."
    )
    spec["cumulative"]["min_minutes"] = 90
    assert gate(ledger, **spec).decision == "GO"


def test_rollback_plan_must_exist_and_mention_the_host(ledger, tmp_path):
    spec = dict(
        subjects=["stibnite"],
        phase=5,
        problem_hosts=["*"],
        rollback_plan={"paths": ["ROLLBACK.md"], "mentions": ["stibnite"]},
    )
    result = L.evaluate_gate(ledger, L.GateSpec(**spec), now=NOW, root=str(tmp_path))
    assert failure(result, "rollback_plan") == (
        "stibnite: rollback_plan: expected a rollback plan in ROLLBACK.md covering stibnite; "
        "found missing ROLLBACK.md. "
        "Write the rollback procedure (docs/ROLLBACK.md) and its playbook."
    )
    (tmp_path / "ROLLBACK.md").write_text("# Rollback\nrosegold only\n")
    result = L.evaluate_gate(ledger, L.GateSpec(**spec), now=NOW, root=str(tmp_path))
    assert "found no mention of stibnite" in failure(result, "rollback_plan")
    (tmp_path / "ROLLBACK.md").write_text("# Rollback\n## stibnite\n")
    assert L.evaluate_gate(ledger, L.GateSpec(**spec), now=NOW, root=str(tmp_path)).decision == "GO"


def test_fleet_wide_problem_scope_sees_any_host(ledger):
    ledger.record("problem", "cinnabar", "zerotier-flaps", False, at=ago(1))
    message = failure(gate(ledger, subjects=["stibnite"], phase=5, problem_hosts=["*"]), "no_open_problems")
    assert message.startswith(
        "stibnite: no_open_problems: expected no open problem recorded on any host; "
        "found cinnabar: zerotier-flaps (since "
    )


def test_a_gate_that_asserts_nothing_is_nogo(ledger):
    result = L.evaluate_gate(ledger, L.GateSpec(phase=3, subjects=[], problem_hosts=None), now=NOW)
    assert result.decision == "NO-GO"
    assert result.failures[0].startswith("phase3: subjects: expected at least one host in the phase group; found none.")


def test_record_gate_appends_one_decision_per_subject_with_asserts(ledger):
    result = gate(ledger, subjects=["rosegold", "argentum"], stable_hosts=["rosegold", "argentum"])
    ids = L.record_gate(ledger, result, run_id="run-1")
    rows = ledger.events(kind="gate")
    assert [r.id for r in rows] == ids and [r.host for r in rows] == ["rosegold", "argentum"]
    assert all(not r.ok and r.phase == 3 and r.check == "gate" and r.run_id == "run-1" for r in rows)
    assert rows[0].evidence["decision"] == "NO-GO"
    assert rows[0].details.startswith("NO-GO: rosegold: deployed: expected")
    assert any(a["criterion"] == "deployed" and a["host"] == "rosegold" for a in rows[0].evidence["asserts"])
    assert L.latest_gate(ledger, "rosegold", 3).id == ids[0]
