"""The phases as their user runs them, one after the other, with the real
verification roles against local stand-in hosts (tests/integration/local_fleet.py).

What is real: ansible-playbook, every playbook and task file, the group_vars
(windows shortened to minutes with -e, never turned off), the ledger, the
gates, the verification roles and what they probe: an sshd presenting a
CA-signed host certificate per host, secrets on disk, listening ports, the
flake's darwin configurations evaluated against the legacy baseline. What is
not: the machines (this machine under one loopback address per host, over
the local connection), the deploy CLIs (the contract fakes of clan and
darwin-rebuild) and the service managers (labelled stand-ins of systemctl and
launchctl). No row of evidence is written by the test: phase 0 records its
decision, deploy records deployments, the roles record their checks, the
gates record their decisions.

The flow: phase 0 -> phase 1 (NO-GO while the window runs, then GO) ->
phase 2 -> phase 3 (GO), then a check that fails on the phase 3 host turns its
gate NO-GO, naming the check.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phase_helpers as H  # noqa: E402
from local_fleet import LocalFleet  # noqa: E402
from support import nix as nixsupport  # noqa: E402

pytestmark = [pytest.mark.nix, pytest.mark.slow]

WINDOW_MINUTES = 2
BASELINE = H.REPO.parent / "shared" / "baseline" / "legacy-workstations.json"
PHASES = (1, 2, 3)


def phase0_conditions() -> list[str]:
    import yaml

    criteria = yaml.safe_load((H.REPO / "playbooks" / "vars" / "phase0.yml").read_text())["phase0_criteria"]
    return sorted(name for name, c in criteria.items() if c["severity"] == "condition")


class Flow:
    """One migration rehearsed on local stand-ins, shared by the tests below in order."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.ledger = tmp / "ledger.sqlite"
        listing = H.plugin_inventory()["_meta"]["hostvars"]
        self.hosts = [h for n in PHASES for h in H.hosts_in_phase(n)]
        self.fleet = LocalFleet(tmp / "standins", {h: listing[h] for h in self.hosts}).start()
        extra = {h: self.fleet.hostvars(h) | self._deploy_vars(h) for h in self.hosts}
        self.inventory = H.write_inventory(tmp / "inventory", extra_hostvars=extra)
        # Every machine has vars (a Mac needs its mesh address): the fake clan knows them all.
        H.fake_clan_state(tmp / "clan-state", self.hosts)
        self._darwin_state()

    def _deploy_vars(self, host: str) -> dict:
        if H.machines()[host].get("machineClass", "nixos") != "darwin":
            return {}
        state = self.tmp / "darwin" / host
        return {
            "fleet_deploy_environment": {"FAKE_DARWIN_STATE": str(state)},
            "fleet_system_profile": str(state / "profiles" / "system"),
            "fleet_current_system": str(state / "run" / "current-system"),
        }

    def _darwin_state(self) -> None:
        for i, host in enumerate(h for h in self.hosts if H.machines()[h].get("machineClass") == "darwin"):
            state = self.tmp / "darwin" / host
            state.mkdir(parents=True, exist_ok=True)
            system = {"system": f"/nix/store/{str(i + 1) * 32}-darwin-system-{host}", "build_error": None}
            (state / "config.json").write_text(json.dumps({"hosts": {host: system}}))

    def run(self, playbook: str, *extra: str):
        args = [
            "-e", f"fleet_gate_host_stable_minutes={WINDOW_MINUTES}",
            "-e", "fleet_gate_cumulative_stable_minutes=3",
            "-e", "fleet_darwin_become=false",
            "-e", "fleet_gate_accept_stand_ins=true",
            "-e", json.dumps({"fleet_phase0_accepted_conditions": phase0_conditions()}),
            "-e", "service_health_launchd_sample_seconds=1",
            "-e", json.dumps({
                "regression_verify_baseline_file": str(BASELINE),
                "regression_verify_stub_pkgs": str(H.REPO / "tests" / "nix" / "stub-pkgs"),
                "regression_verify_nix_flags": list(nixsupport.offline_flags()),
                "regression_verify_flake": str(H.REPO),
            }),
            *extra,
        ]
        res = H.run_playbook(playbook, self.inventory, self.ledger, self.tmp, *args, fakes=["clan", "darwin-rebuild", "ssh"])
        res.text = " ".join((res.stdout + res.stderr).split())
        return res

    def wait_for_window(self, phase: int) -> None:
        """Let the stability window pass in real time, counted as the gate counts it: from the
        phase's last recorded deployment (not from the test's start: under load a run takes
        longer to reach its deploy step than the next run takes to record health)."""
        deployed = [r.recorded_at.timestamp() for r in self.rows(kind="deployment", phase=phase) if r.ok]
        assert deployed, f"phase {phase}: expected a recorded deployment to count the window from; found none"
        left = max(deployed) + WINDOW_MINUTES * 60 + 2 - time.time()
        if left > 0:
            time.sleep(left)

    def rows(self, **filters):
        with H.ledger_mod.Ledger(str(self.ledger), create=False) as led:
            return led.events(**filters)


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    if not BASELINE.exists():
        pytest.skip(f"the legacy baseline {BASELINE} is not here")
    f = Flow(tmp_path_factory.mktemp("flow"))
    yield f
    f.fleet.stop()


def test_phase1_refuses_before_phase0_has_decided(flow):
    res = flow.run("phase1.yml")
    assert res.returncode != 0
    assert (
        "(fleet): phase0_decision: expected a recorded Phase 0 decision of GO or CONDITIONAL GO; found no Phase 0 "
        "decision recorded. Run playbooks/phase0.yml; it records its decision in the ledger."
    ) in res.text
    assert flow.rows(kind="deployment") == []


def test_phase0_records_its_decision(flow):
    res = flow.run("phase0.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    [row] = flow.rows(kind="gate", phase=0)
    assert row.host == H.ledger_mod.FLEET and row.evidence["decision"] in ("GO", "CONDITIONAL GO")


def test_check_mode_on_fresh_hosts_reports_and_changes_nothing(flow):
    before = len(flow.rows())
    res = flow.run("phase1.yml", "--check")
    assert res.returncode == 0, res.stdout[-4000:]
    assert len(flow.rows()) == before
    assert not (flow.tmp / "clan-state" / "hosts").exists() or not any((flow.tmp / "clan-state" / "hosts").rglob("system-*-link"))


def test_phase1_while_its_window_runs_is_nogo_and_says_how_long_is_left(flow):
    res = flow.run("phase1.yml")
    assert res.returncode != 0
    for host in H.hosts_in_phase(1):
        assert f"{host}: stable_for: expected stable >= 2 min (2 min); found " in res.text
        assert "left before the window has passed" in res.text
    # Every role recorded its own check, on the host it judged, as a stand-in.
    health = flow.rows(kind="health", phase=1)
    required = H.required_checks(H.hosts_in_phase(1)[0])
    for host in H.hosts_in_phase(1):
        mine = {r.check for r in health if r.host == host and r.ok}
        assert set(required) | {"reachable"} <= mine, (host, mine, [r.details for r in health if not r.ok])
    assert all(r.evidence["stand_in"] for r in health)
    assert "Phase 1 gate: NO-GO" in res.stdout


def test_phase1_reaches_go_once_the_window_has_passed(flow):
    flow.wait_for_window(1)
    res = flow.run("phase1.yml", "--tags", "verify,gate")
    assert res.returncode == 0, res.text[-4000:]
    assert "Phase 1 gate: GO" in res.stdout
    gates = [r for r in flow.rows(kind="gate", phase=1) if r.check == "gate"]
    assert gates[-1].ok and gates[-1].host == H.ledger_mod.FLEET
    report = (flow.tmp / "reports" / "phase1" / "index.md").read_text()
    assert "**Decision: GO (gate," in report


def test_the_collector_keeps_collecting_a_phase_that_holds_its_go(flow):
    # Phase 2's preflight wants fresh healthy checks of phase 1's hosts, so a
    # schedule must keep verifying phase 1 after its GO, not stop at it.
    import subprocess
    import sys

    res = subprocess.run([sys.executable, str(H.REPO / "scripts" / "collect-evidence"), "--ledger", str(flow.ledger),
                          "--list"], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert f"1 {' '.join(sorted(H.hosts_in_phase(1)))} (holds its GO)" in res.stdout.splitlines()


@pytest.mark.parametrize("phase", [2, 3])
def test_each_workstation_phase_deploys_then_reaches_go(flow, phase):
    first = flow.run(f"phase{phase}.yml")
    assert first.returncode != 0 and "stable_for: expected stable >= 2 min" in first.text, first.text[-4000:]
    host = H.hosts_in_phase(phase)[0]
    # The mesh is checked across every deployed host, so a one-host phase works.
    [mesh] = [r for r in flow.rows(kind="health", host=host) if r.check == "mesh_verify"][-1:]
    assert mesh.ok and {p["peer"] for p in mesh.evidence["peers"]} >= set(H.hosts_in_phase(1)), mesh.evidence
    flow.wait_for_window(phase)
    res = flow.run(f"phase{phase}.yml", "--tags", "verify,gate")
    assert res.returncode == 0, res.text[-4000:]
    assert f"Phase {phase} gate: GO" in res.stdout


def test_a_failing_unit_turns_the_gate_nogo_naming_the_check(flow):
    host = H.hosts_in_phase(3)[0]
    flow.fleet.units(host, {"org.nixos.zerotierone": "exit 78"})
    res = flow.run("phase3.yml", "--tags", "verify,gate")
    assert res.returncode != 0
    assert f"{host}: checks_passing: expected the latest record of every health check to be healthy; found failing: service_health" in res.text
    assert "Phase 3 gate: NO-GO" in res.stdout
    # Every host of the phase failed verify, and the gate and report still ran.
    assert "NO-GO" in (flow.tmp / "reports" / "phase3" / "index.md").read_text()
    # The failure is recorded under the check's own name, and a pass supersedes it.
    flow.fleet.units(host, {})
    again = flow.run("phase3.yml", "--tags", "verify")
    assert again.returncode == 0, again.text[-3000:]
    latest = [r for r in flow.rows(kind="health", host=host) if r.check == "service_health"]
    assert [r.ok for r in latest[-2:]] == [False, True]


def test_a_limit_that_selects_no_host_of_the_phase_fails(flow):
    before = len(flow.rows())
    res = flow.run("phase3.yml", "--limit", H.hosts_in_phase(1)[0])
    assert res.returncode != 0
    assert f"phase3: hosts: expected at least one host in phase3 narrowed by --limit {H.hosts_in_phase(1)[0]}; found none." in res.text
    assert len(flow.rows()) == before
