"""Gate logic: named asserts over recorded evidence; missing evidence fails,
and every failure names the host, the criterion, expected and found."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))
from ansible_collections.fleet.migration.plugins.module_utils import ledger as L  # noqa: E402

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


def gate(led, *, now=NOW, **spec):
    spec.setdefault("phase", 3)
    spec.setdefault("subjects", ["rosegold"])
    return L.evaluate_gate(led, L.GateSpec(**spec), now=now)


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
    assert (
        "found 39 min (39 min) of healthy evidence since the failed check regression_verify at "
        "2026-06-01T11:20:00.000000+00:00. Keep recording health (--tags verify,gate); about 11 min left"
    ) in failure(result, "stable_for")
    assert [a.ok for a in result.asserts if a.criterion == "checks_passing"] == [True]
    assert gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=39).decision == "GO"


def test_a_failed_deployment_restarts_the_stability_clock(ledger):
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", 50)
    deploy(ledger, "rosegold", 40, ok=False)
    deploy(ledger, "rosegold", 30, changed=False)
    healthy(ledger, "rosegold", 1)
    message = failure(gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=50), "stable_for")
    assert "found 39 min (39 min) of healthy evidence since the failed deployment at 2026-06-01T11:20:00" in message


def test_a_check_failing_now_is_named_and_a_later_pass_supersedes_it(ledger):
    deploy(ledger, "cinnabar", 60)
    healthy(ledger, "cinnabar", 30, check="mesh_verify")
    healthy(ledger, "cinnabar", 20, check="mesh_verify", ok=False)
    healthy(ledger, "cinnabar", 1, check="ssh_cert_verify")
    spec = dict(subjects=["cinnabar"], stable_hosts=["cinnabar"], min_stable_minutes=1)
    message = failure(gate(ledger, **spec), "checks_passing")
    assert message.startswith(
        "cinnabar: checks_passing: expected the latest record of every health check to be healthy; "
        "found failing: mesh_verify (failed at 2026-06-01T11:40:00.000000+00:00)."
    )
    ledger.record("health", "cinnabar", "mesh_verify", True, phase=1, at=ago(0))
    assert gate(ledger, **spec).decision == "GO"


def test_redeploy_that_changed_the_host_restarts_the_clock_one_that_did_not_does_not(ledger):
    deploy(ledger, "rosegold", 60)
    deploy(ledger, "rosegold", 30, changed=False)
    healthy(ledger, "rosegold", 25)
    assert gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=35).decision == "GO"
    deploy(ledger, "rosegold", 20, changed=True)
    healthy(ledger, "rosegold", 1)
    assert "found 19 min" in failure(gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=50), "stable_for")


def test_latest_deployment_failed(ledger):
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", 11)
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
        "cinnabar: required_checks: expected a healthy record of each of mesh_verify, ssh_cert_verify since the "
        "stability clock started; found missing mesh_verify."
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
    healthy(ledger, "rosegold", 6)
    ledger.record("problem", "rosegold", "casks", False, details="two casks missing", at=ago(5))
    message = failure(gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=1), "no_open_problems")
    assert message.startswith(
        "rosegold: no_open_problems: expected no open problem recorded on rosegold; found rosegold: casks (since "
    )
    ledger.record("problem", "rosegold", "casks", True, details="fixed", at=ago(2))
    assert gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=1).decision == "GO"


def go_phase2(ledger, minutes_ago=1):
    deploy(ledger, "blackphos", 100)
    healthy(ledger, "blackphos", minutes_ago + 1)
    ledger.record("gate", "blackphos", "gate", True, phase=2, at=ago(minutes_ago))


def test_previous_gate_missing_and_nogo(ledger):
    result = gate(ledger, previous_gate={"phase": 2, "hosts": ["blackphos"]})
    assert failure(result, "phase2_gate") == (
        "blackphos: phase2_gate: expected a standing GO decision of the phase 2 gate; found no gate decision "
        "recorded. Run playbooks/phase2.yml --tags verify,gate until its gate says GO."
    )
    deploy(ledger, "blackphos", 100)
    healthy(ledger, "blackphos", 4)
    ledger.record("gate", "blackphos", "gate", False, phase=2, at=ago(3))
    assert "found NO-GO recorded at " in failure(gate(ledger, previous_gate={"phase": 2, "hosts": ["blackphos"]}), "phase2_gate")
    ledger.record("gate", "blackphos", "gate", True, phase=2, at=ago(1))
    assert gate(ledger, previous_gate={"phase": 2, "hosts": ["blackphos"]}).decision == "GO"


def test_previous_go_does_not_count_while_its_host_fails_now(ledger):
    go_phase2(ledger, minutes_ago=5)
    healthy(ledger, "blackphos", 1, ok=False)
    result = gate(ledger, previous_gate={"phase": 2, "hosts": ["blackphos"]})
    assert result.decision == "NO-GO"
    assert failure(result, "checks_passing").startswith(
        "blackphos: checks_passing: expected the latest record of every health check to be healthy; found failing: "
        "regression_verify (failed at 2026-06-01T11:59:00.000000+00:00)."
    )


def test_previous_go_is_void_once_its_host_is_deployed_again(ledger):
    go_phase2(ledger, minutes_ago=5)
    deploy(ledger, "blackphos", 2)
    healthy(ledger, "blackphos", 1)
    message = failure(gate(ledger, previous_gate={"phase": 2, "hosts": ["blackphos"]}), "phase2_gate")
    assert "but blackphos was deployed again after it (row 4)" in message


def test_previous_go_with_stale_evidence_does_not_count(ledger):
    go_phase2(ledger, minutes_ago=3000)
    message = failure(gate(ledger, previous_gate={"phase": 2, "hosts": ["blackphos"]}), "fresh_evidence")
    assert message.startswith("blackphos: fresh_evidence: expected a healthy check within the last 1 day; found the latest 2 days")


def test_previous_gate_with_no_hosts_fails_closed(ledger):
    result = gate(ledger, previous_gate={"phase": 2, "hosts": []})
    assert failure(result, "previous_gate") == (
        "phase2: previous_gate: expected hosts in phase 2 whose gate passed; found no hosts in that phase. "
        "Check the phaseN tags in the clan inventory."
    )


def test_cumulative_stability_sums_earlier_hosts(ledger):
    for host, minutes in (("blackphos", 50), ("rosegold", 30), ("argentum", 10)):
        deploy(ledger, host, minutes)
    for host in ("blackphos", "rosegold", "argentum"):
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


def test_rollback_plan_checks_each_file_on_its_own(ledger, tmp_path):
    spec = dict(
        subjects=["stibnite"],
        phase=5,
        problem_hosts=["*"],
        rollback_plan=[{"path": "ROLLBACK.md", "mentions": ["stibnite"]}, {"path": "rollback.yml", "mentions": ["darwin_rebuild"]}],
    )
    result = L.evaluate_gate(ledger, L.GateSpec(**spec), now=NOW, root=str(tmp_path))
    assert failure(result, "rollback_plan:ROLLBACK.md") == (
        "stibnite: rollback_plan:ROLLBACK.md: expected ROLLBACK.md to exist and mention stibnite; found ROLLBACK.md "
        "missing. Write the rollback procedure (docs/ROLLBACK.md) and its playbook, covering this host."
    )
    # One file mentioning everything does not stand in for the other.
    (tmp_path / "ROLLBACK.md").write_text("# Rollback\n## stibnite\nuse darwin_rebuild\n")
    (tmp_path / "rollback.yml").write_text("# stibnite\n")
    result = L.evaluate_gate(ledger, L.GateSpec(**spec), now=NOW, root=str(tmp_path))
    assert "found no mention of darwin_rebuild in rollback.yml" in failure(result, "rollback_plan:rollback.yml")
    assert [a.ok for a in result.asserts if a.criterion == "rollback_plan:ROLLBACK.md"] == [True]
    (tmp_path / "rollback.yml").write_text("fleet.migration.darwin_rebuild\n")
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


def test_record_gate_writes_own_asserts_per_host_and_the_decision_once(ledger):
    result = gate(ledger, subjects=["rosegold", "argentum"], stable_hosts=["rosegold", "argentum"])
    ids = L.record_gate(ledger, result, run_id="run-1")
    rows = ledger.events(kind="gate")
    assert [r.id for r in rows] == ids and [r.host for r in rows] == ["rosegold", "argentum", L.FLEET]
    assert all(not r.ok and r.phase == 3 and r.check == "gate" and r.run_id == "run-1" for r in rows)
    assert rows[0].evidence["decision"] == "NO-GO"
    assert rows[0].details.startswith("NO-GO: rosegold: deployed: expected")
    # A host's row holds its own asserts only: O(checks) per host, not O(hosts).
    assert {a["host"] for a in rows[0].evidence["failed"]} == {"rosegold"}
    assert any(a["criterion"] == "deployed" for a in rows[0].evidence["failed"])
    assert rows[2].evidence["subjects"] == ["rosegold", "argentum"] and rows[2].evidence["failed"] > 0
    assert L.latest_gate(ledger, "rosegold", 3).id == ids[0]


@pytest.mark.parametrize("hosts", [10, 40, 160])
def test_gate_records_grow_linearly_with_hosts(tmp_path, hosts):
    """Rows and bytes per host stay constant as the fleet grows."""
    names = [f"h{i:03d}" for i in range(hosts)]
    with L.Ledger(str(tmp_path / f"{hosts}.sqlite")) as led:
        for h in names:
            deploy(led, h, 60)
        for h in names:
            for check in ("mesh_verify", "service_health", "regression_verify"):
                led.record("health", h, check, True, phase=3, at=ago(1))
        result = gate(led, subjects=names, stable_hosts=names, min_stable_minutes=30,
                      required_checks={h: ["mesh_verify", "service_health", "regression_verify"] for h in names})
        before = led.conn.execute("SELECT COALESCE(SUM(length(evidence) + length(details)), 0) FROM events").fetchone()[0]
        ids = L.record_gate(led, result)
        written = led.conn.execute("SELECT SUM(length(evidence) + length(details)) FROM events WHERE id >= ?", (ids[0],)).fetchone()[0]
    assert len(ids) == hosts + 1
    per_host = (written - 0) / hosts
    assert before > 0 and per_host < 4000, per_host


CHECKS = ("mesh_verify", "service_health", "regression_verify")


def seed_daily(led, names, days):
    """One deployment per host, then `days` days of every check on every host (one transaction a day)."""
    led.record_many([{"kind": "deployment", "host": h, "check": "d", "ok": True, "phase": 3, "at": ago(days * 1440 + 60),
                      "evidence": {"changed": True}} for h in names])
    for day in range(days, 0, -1):
        led.record_many([{"kind": "health", "host": h, "check": c, "ok": True, "phase": 3, "at": ago(day * 1440 - 60)}
                         for h in names for c in CHECKS])


def daily_gate(led, names):
    return gate(led, subjects=names, stable_hosts=names, min_stable_minutes=60, problem_hosts=["*"],
                required_checks={h: list(CHECKS) for h in names}, previous_gate={"phase": 2, "hosts": names},
                cumulative={"hosts": names, "min_minutes": 60})


def test_a_gate_runs_the_same_statements_for_5_hosts_as_for_40(tmp_path):
    """Set-based: each criterion is a fixed number of SQL statements over all
    hosts, never a few statements per host (counted, not timed)."""
    counts = {}
    for n in (5, 40):
        names = [f"h{i:03d}" for i in range(n)]
        with L.Ledger(str(tmp_path / f"{n}.sqlite")) as led:
            seed_daily(led, names, 2)
            statements = []
            led.conn.set_trace_callback(statements.append)
            result = daily_gate(led, names)
            led.conn.set_trace_callback(None)
        assert result.decision == "NO-GO"  # no phase 2 GO recorded; every other criterion evaluated
        counts[n] = len(statements)
    assert counts[5] == counts[40], counts
    assert counts[40] <= 12, counts


def sqlite_steps(led, action) -> int:
    """SQLite virtual-machine instructions an action executes, in thousands:
    the work done, on any machine at any load."""
    steps = [0]

    def tick():
        steps[0] += 1
        return 0

    led.conn.set_progress_handler(tick, 1000)
    try:
        action()
    finally:
        led.conn.set_progress_handler(None, 0)
    return steps[0]


def test_a_gate_does_not_grow_with_the_history_it_judges(tmp_path):
    """The same 10 hosts after 20 and after 200 days of daily checks: the
    gate's SQL work stays about the same (no scan of past rows; the healthy
    checks are counted up to a bound)."""
    names = [f"h{i:03d}" for i in range(10)]
    work = {}
    for days in (20, 200):
        with L.Ledger(str(tmp_path / f"{days}.sqlite")) as led:
            seed_daily(led, names, days)
            work[days] = sqlite_steps(led, lambda: daily_gate(led, names))
    assert work[200] < 1.5 * work[20], work


def test_healthy_checks_beyond_the_counted_bound_say_at_least(ledger):
    deploy(ledger, "rosegold", 300)
    ledger.record_many([{"kind": "health", "host": "rosegold", "check": "regression_verify", "ok": True, "phase": 3,
                         "at": ago(200 - i)} for i in range(120)])
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10, min_health_checks=3)
    [health] = [a for a in result.asserts if a.criterion == "health_checks"]
    assert health.ok and health.message == (
        "rosegold: health_checks: expected >= 3 healthy checks since the stability clock started; found at least 100.")
    # A threshold above the bound is counted up to the threshold.
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10, min_health_checks=150)
    [health] = [a for a in result.asserts if a.criterion == "health_checks"]
    assert not health.ok and health.found == "120"


def test_clock_stepped_back_after_a_future_row_opens_a_problem_that_blocks(ledger):
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", -3 * 24 * 60)  # the controller's clock was 3 days ahead
    healthy(ledger, "rosegold", 30, ok=False)  # stepped back: a failure that must not hide
    healthy(ledger, "rosegold", 1)
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10)
    assert result.decision == "NO-GO"
    message = failure(result, "clock")
    assert message.startswith(
        "rosegold: clock: expected every row dated no later than now and no earlier than the rows before it "
        "(tolerance 5 min); found row 2 (health of rosegold) dated 2026-06-04T12:00:00.000000+00:00, after now"
    )
    assert "row 3 (health of rosegold) dated 2026-06-01T11:30:00.000000+00:00, before the earlier row dated 2026-06-04" in message
    assert "playbooks/ledger-problem.yml -e problem_host='(controller)' -e problem=clock -e problem_ok=true" in message
    L.record_gate(ledger, result)
    assert list(L.open_problems(ledger)) == [L.CONTROLLER]
    # A rerun finds the problem open: it is recorded once, and it blocks.
    again = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10)
    L.record_gate(ledger, again)
    assert len(ledger.events(kind="problem")) == 1
    assert failure(again, "no_open_problems").startswith("rosegold: no_open_problems: expected no open problem recorded on rosegold; found (controller): clock")


def test_acknowledged_clock_problem_restarts_stability_from_the_acknowledgement(ledger):
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", 50)
    ledger.record("health", "rosegold", "regression_verify", True, phase=3, at=ago(120))  # stepped back 70 min
    L.record_gate(ledger, gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10))
    ledger.record("problem", L.CONTROLLER, "clock", True, details="ntp fixed", at=ago(20))
    healthy(ledger, "rosegold", 1)
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10)
    assert [a.ok for a in result.asserts if a.criterion == "clock"] == [True]
    longer = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=30)
    assert "since the clock problem acknowledged at 2026-06-01T11:40:00" in failure(longer, "stable_for")
    assert result.decision == "GO"


def test_order_is_when_recorded_not_the_claimed_timestamp(ledger):
    """A row dated in the past but recorded last still decides 'failing now'."""
    deploy(ledger, "rosegold", 60)
    healthy(ledger, "rosegold", 10)
    healthy(ledger, "rosegold", 12, ok=False)  # 2 min earlier than the row before: within tolerance
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=1)
    assert "found failing: regression_verify" in failure(result, "checks_passing")


@pytest.mark.parametrize("name,value", [
    ("min_stable_minutes", 0), ("min_stable_minutes", -5), ("min_stable_minutes", float("nan")),
    ("min_stable_minutes", float("inf")), ("min_stable_minutes", "soon"), ("min_health_checks", 0),
    ("max_health_age_minutes", 0), ("max_health_age_minutes", -1), ("clock_tolerance_minutes", float("nan")),
])
def test_thresholds_must_be_positive_numbers_and_the_message_names_the_variable(ledger, name, value):
    spec = L.GateSpec(phase=3, subjects=["rosegold"], stable_hosts=["rosegold"], **{name: value},
                      names={name: f"fleet_gate_{name}"})
    with pytest.raises(L.GateSpecError) as info:
        L.evaluate_gate(ledger, spec, now=NOW)
    unit = "checks" if name == "min_health_checks" else "minutes"
    assert str(info.value) == (
        f"phase 3 gate: fleet_gate_{name}: expected a positive number of {unit}; found {value!r}. Set fleet_gate_{name} "
        "to a positive value in inventory/group_vars/all.yml or with -e (tests shorten windows, they never turn them off)."
    )


def test_cumulative_threshold_is_validated_too(ledger):
    spec = L.GateSpec(phase=5, subjects=["stibnite"], cumulative={"hosts": ["a"], "min_minutes": -1})
    with pytest.raises(L.GateSpecError, match="cumulative.min_minutes: expected a positive number of minutes; found -1"):
        L.evaluate_gate(ledger, spec, now=NOW)


def test_stand_in_evidence_counts_only_where_accepted(ledger):
    deploy(ledger, "rosegold", 60)
    ledger.record("health", "rosegold", "regression_verify", True, phase=3, at=ago(1), evidence={"stand_in": True})
    result = gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10)
    assert failure(result, "health_checks") == (
        "rosegold: health_checks: expected >= 1 healthy checks since the stability clock started; found 0 (1 rows "
        "from stand-in hosts not counted). Run the phase playbook with --tags verify,gate on rosegold to record health checks."
    )
    assert gate(ledger, stable_hosts=["rosegold"], min_stable_minutes=10, accept_stand_ins=True).decision == "GO"


def phase0(ledger, decision, conditions=(), blocking=()):
    ledger.record("gate", L.FLEET, "gate", decision != "NO-GO", phase=0, at=ago(1),
                  evidence={"decision": decision, "conditions": list(conditions), "blocking": list(blocking)})


def test_phase1_needs_phase0_go_or_accepted_conditions(ledger):
    spec = dict(phase=1, subjects=["cinnabar"], phase0={"accepted_conditions": []})
    assert failure(gate(ledger, **spec), "phase0_decision") == (
        "(fleet): phase0_decision: expected a recorded Phase 0 decision of GO or CONDITIONAL GO; found no Phase 0 "
        "decision recorded. Run playbooks/phase0.yml; it records its decision in the ledger."
    )
    phase0(ledger, "NO-GO", blocking=["clan_inventory"])
    assert "found NO-GO recorded at 2026-06-01T11:59:00.000000+00:00 (blocking: clan_inventory)" in failure(gate(ledger, **spec), "phase0_decision")
    phase0(ledger, "CONDITIONAL GO", conditions=["nixos_offline"])
    assert "found CONDITIONAL GO recorded at 2026-06-01T11:59:00.000000+00:00; conditions not accepted: nixos_offline" in failure(
        gate(ledger, **spec), "phase0_decision")
    spec["phase0"] = {"accepted_conditions": ["nixos_offline"]}
    assert gate(ledger, **spec).decision == "GO"


def test_phase_wide_asserts_are_recorded_once_not_per_host(ledger):
    hosts = [f"w{i}" for i in range(20)]
    ledger.record("problem", "cinnabar", "flaps", False, at=ago(1))
    result = gate(ledger, subjects=hosts, problem_hosts=["*"], cumulative={"hosts": hosts, "min_minutes": 10})
    ids = L.record_gate(ledger, result)
    rows = [e for e in ledger.events(kind="gate") if e.id in ids]
    per_host = [r for r in rows if r.host != L.FLEET]
    assert all("cumulative_stability" not in json.dumps(r.evidence) and "no_open_problems" not in json.dumps(r.evidence)
               for r in per_host)
    [fleet] = [r for r in rows if r.host == L.FLEET]
    shared = {a["criterion"] for a in fleet.evidence["shared"]["failed"]}
    assert shared == {"cumulative_stability", "no_open_problems"}
