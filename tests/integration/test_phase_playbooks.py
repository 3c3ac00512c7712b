"""The phase playbooks end to end against a test inventory derived from the
clan inventory (every host on the local connection), a scratch ledger, and
the contract fakes of clan and darwin-rebuild on PATH.

What is real here: ansible-playbook, the playbooks and task files, the
group_vars thresholds (overridden with -e in minutes), the ledger modules,
the deploy modules. What is not: the hosts (local connection) and the CLIs
(fakes). The verification roles are skipped (--skip-tags verify) and their
evidence is seeded instead; they are tested by their own engineers.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phase_helpers as H  # noqa: E402

pytestmark = [pytest.mark.nix, pytest.mark.slow]

# Thresholds in minutes, and no sudo: the tests already run as root locally.
TEST_VARS = [
    "-e",
    "fleet_gate_host_stable_minutes=10",
    "-e",
    "fleet_gate_cumulative_stable_minutes=60",
    "-e",
    "fleet_darwin_become=false",
]


@pytest.fixture
def env(tmp_path):
    inventory = H.write_inventory(tmp_path / "inventory")
    (tmp_path / "flake").mkdir()
    return {"inv": inventory, "ledger": tmp_path / "ledger.sqlite", "tmp": tmp_path}


def run(env, playbook, *extra):
    return H.run_playbook(playbook, env["inv"], env["ledger"], env["tmp"], *TEST_VARS, *extra)


def required_checks(host: str) -> list[str]:
    import yaml

    klass = H.machines()[host].get("machineClass", "nixos")
    return yaml.safe_load((H.REPO / "inventory" / "group_vars" / f"{klass}.yml").read_text())["fleet_verify_roles"]


def phase_of_host(host: str) -> int:
    return H.phase_of(H.machines()[host])


def seed(env, hosts, minutes_ago, gate_go=False):
    H.seed_stable(
        env["ledger"],
        hosts,
        minutes_ago=minutes_ago,
        checks_for=required_checks,
        phase_of_host=phase_of_host,
        gate_go=gate_go,
    )


def recap_changed(stdout: str) -> dict[str, int]:
    """changed=N per host from ansible-playbook's PLAY RECAP."""
    recap = stdout.rsplit("PLAY RECAP", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+:\s.*?\bchanged=(\d+)", recap, re.M)}


def gate_rows(env, phase, name="gate"):
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        return [e for e in led.events(kind="gate", phase=phase) if e.check == name]


def test_the_shared_steps_alone_refuse_without_a_phase(env):
    res = run(env, "phase-steps.yml")
    assert res.returncode != 0
    assert (
        "localhost: phase: expected fleet_phase_number set to a phase number (run playbooks/phaseN.yml, "
        "which sets it); found undefined."
    ) in res.stdout
    assert not env["ledger"].exists()


def test_phase3_refuses_without_the_phase2_gate_and_deploys_nothing(env):
    res = run(env, "phase3.yml")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    for host in H.hosts_in_phase(2):
        assert (
            f"{host}: phase2_gate: expected a recorded GO decision of the phase 2 gate; "
            "found no gate decision recorded. Run playbooks/phase2.yml --tags gate until its gate says GO."
        ) in out
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        assert led.events(kind="deployment") == []
        # The refusal itself is evidence: a NO-GO preflight per phase 3 host.
        assert {e.host for e in led.events(kind="gate") if not e.ok} == set(H.hosts_in_phase(3))
    assert not (env["tmp"] / "darwin-state" / "calls.jsonl").exists()


def test_phase3_gate_says_go_on_seeded_evidence_and_records_it(env):
    seed(env, H.hosts_in_phase(2), 40, gate_go=True)
    seed(env, H.hosts_in_phase(3), 30)
    res = run(env, "phase3.yml", "--tags", "gate")
    assert res.returncode == 0, res.stdout[-3000:]
    # Recording the decision and writing the report change no host.
    assert recap_changed(res.stdout) == {h: 0 for h in H.hosts_in_phase(3)}
    rows = gate_rows(env, 3)
    assert {r.host for r in rows} == set(H.hosts_in_phase(3)) and all(r.ok for r in rows)
    assert rows[0].evidence["decision"] == "GO"
    report = (env["tmp"] / "reports" / "phase3" / "index.md").read_text()
    for host in H.hosts_in_phase(3):
        assert f"| {host} |" in report
    assert (env["tmp"] / "reports" / "phase3" / "health.svg").read_text().lstrip().startswith("<?xml")


def test_phase3_gate_not_yet_stable_names_host_criterion_expected_found(env):
    seed(env, H.hosts_in_phase(2), 40, gate_go=True)
    seed(env, H.hosts_in_phase(3), 4)
    res = run(env, "phase3.yml", "--tags", "gate")
    assert res.returncode != 0
    host = H.hosts_in_phase(3)[0]
    assert (
        f"{host}: stable_for: expected stable >= 10 min (10 min); found 3 min (3 min) of healthy evidence since"
        in res.stdout
    )
    assert [r.ok for r in gate_rows(env, 3)] == [False]
    # The report is written on NO-GO too.
    assert "NO-GO" in (env["tmp"] / "reports" / "phase3" / "index.md").read_text()


def test_phase1_deploys_through_clan_records_the_deployment_and_gates_on_missing_health(env):
    hosts = H.hosts_in_phase(1)
    H.fake_clan_state(env["tmp"] / "clan-state", hosts)
    res = run(env, "phase1.yml", "--skip-tags", "verify")
    assert res.returncode != 0
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        deployments = led.events(kind="deployment")
    assert sorted(d.host for d in deployments) == sorted(hosts)
    assert all(d.ok and d.evidence["generation_after"] == 1 and d.evidence["changed"] for d in deployments)
    # The ZeroTier controller is deployed before its peers.
    controller = H.hosts_tagged("zerotier-controller")
    assert [d.host for d in deployments][: len(controller)] == controller
    for host in hosts:
        assert f"{host}: health_checks: expected >= 1 healthy checks since the deployment; found 0." in res.stdout
    assert not gate_rows(env, 1)[0].ok


def test_phase1_second_deploy_changes_nothing_and_keeps_the_stability_clock(env):
    hosts = H.hosts_in_phase(1)
    H.fake_clan_state(env["tmp"] / "clan-state", hosts)
    first = run(env, "phase1.yml", "--skip-tags", "verify,gate")
    again = run(env, "phase1.yml", "--skip-tags", "verify,gate")
    assert first.returncode == 0 and again.returncode == 0, again.stdout[-3000:]
    # The first run switches every host; the second changes none, although it
    # records its (unchanged) deployment in the ledger: evidence on the
    # controller is not a change to the host.
    assert all(recap_changed(first.stdout)[h] > 0 for h in hosts)
    assert recap_changed(again.stdout) == {h: 0 for h in hosts}
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        second = list(led.events(kind="deployment"))[len(hosts) :]
        assert [d.evidence["changed"] for d in second] == [False] * len(hosts)
        first = led.events(kind="deployment")[0]
        assert H.ledger_mod.host_stability(led, first.host).deployed_at == first.recorded_at


def darwin_state(env, build_error=None) -> Path:
    """The fake darwin-rebuild's configuration for the phase 2 hosts."""
    state = env["tmp"] / "darwin-state"
    state.mkdir(parents=True, exist_ok=True)
    config = {
        "hosts": {
            h: {"system": f"/nix/store/{'1' * 32}-darwin-system-{h}", "build_error": build_error}
            for h in H.hosts_in_phase(2)
        }
    }
    (state / "config.json").write_text(json.dumps(config))
    return state / "profiles" / "system"


def test_phase2_deploys_the_darwin_host_and_records_its_generation(env):
    seed(env, H.hosts_in_phase(1), 40, gate_go=True)
    profile = darwin_state(env)
    res = run(env, "phase2.yml", "--skip-tags", "verify,gate", "-e", f"fleet_system_profile={profile}")
    assert res.returncode == 0, res.stdout[-3000:]
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        deployments = led.events(kind="deployment", phase=2)
    assert [d.host for d in deployments] == H.hosts_in_phase(2)
    assert deployments[0].ok and deployments[0].check == "darwin_rebuild"
    assert deployments[0].evidence["generation_after"] == 1
    assert recap_changed(res.stdout) == {h: 1 for h in H.hosts_in_phase(2)}
    # A second converge switches to the same generation: nothing changes on
    # the host, and the deployment recorded again does not count as a change.
    again = run(env, "phase2.yml", "--skip-tags", "verify,gate", "-e", f"fleet_system_profile={profile}")
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap_changed(again.stdout) == {h: 0 for h in H.hosts_in_phase(2)}


def test_a_failed_deployment_is_recorded_before_the_host_fails(env):
    seed(env, H.hosts_in_phase(1), 40, gate_go=True)
    profile = darwin_state(env, build_error="error: attribute 'homebrew' missing")
    res = run(env, "phase2.yml", "--skip-tags", "verify,gate", "-e", f"fleet_system_profile={profile}")
    host = H.hosts_in_phase(2)[0]
    assert res.returncode != 0
    assert f"{host}: deploy: expected darwin_rebuild to succeed; found " in res.stdout
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        [deployment] = led.events(kind="deployment", phase=2)
        assert not deployment.ok and "Switch the darwin host" in deployment.details
        assert H.ledger_mod.host_stability(led, host).deployed_at is None


def test_phase5_readiness_refuses_on_too_little_cumulative_stability(env):
    earlier = [h for n in range(1, 5) for h in H.hosts_in_phase(n)]
    seed(env, earlier, 15, gate_go=True)
    res = run(env, "phase5.yml", "--tags", "gate")
    assert res.returncode != 0
    # Listed in phase order, derived from the inventory.
    workstations = sorted((h for h in H.hosts_tagged("workstation") if phase_of_host(h) < 5), key=phase_of_host)
    primary = H.hosts_tagged("primary")[0]
    assert (
        f"{primary}: cumulative_stability: expected >= 1 h (60 min) of stability summed over "
        f"{', '.join(workstations)}; found "
    ) in res.stdout
    assert [r.ok for r in gate_rows(env, 5, "readiness")] == [False]


def test_phase5_readiness_refuses_on_an_open_problem_anywhere(env):
    earlier = [h for n in range(1, 5) for h in H.hosts_in_phase(n)]
    seed(env, earlier, 40, gate_go=True)
    server = H.hosts_in_phase(1)[0]
    with H.ledger_mod.Ledger(str(env["ledger"])) as led:
        led.record("problem", server, "zerotier-flaps", False, details="peers drop every hour")
    res = run(env, "phase5.yml", "--tags", "gate")
    primary = H.hosts_tagged("primary")[0]
    assert res.returncode != 0
    assert (
        f"{primary}: no_open_problems: expected no open problem recorded on any host; "
        f"found {server}: zerotier-flaps (since "
    ) in res.stdout


def test_phase5_readiness_passes_then_the_primary_itself_is_gated(env):
    earlier = [h for n in range(1, 5) for h in H.hosts_in_phase(n)]
    seed(env, earlier, 40, gate_go=True)
    res = run(env, "phase5.yml", "--tags", "gate")
    assert [r.ok for r in gate_rows(env, 5, "readiness")] == [True]
    # Readiness passed; the primary has no deployment yet, so its own gate is NO-GO.
    primary = H.hosts_tagged("primary")[0]
    assert res.returncode != 0
    assert (
        f"{primary}: deployed: expected a successful deployment recorded in the ledger; found no deployment recorded."
        in res.stdout
    )


def test_check_mode_gate_records_nothing(env):
    seed(env, H.hosts_in_phase(2), 40, gate_go=True)
    seed(env, H.hosts_in_phase(3), 30)
    res = run(env, "phase3.yml", "--tags", "gate", "--check")
    assert res.returncode == 0, res.stdout[-3000:]
    assert gate_rows(env, 3) == [] and gate_rows(env, 3, "preflight") == []


def test_preflight_names_a_missing_tool(env):
    seed(env, H.hosts_in_phase(1), 40, gate_go=True)
    res = run(env, "phase2.yml", "--tags", "gate", "-e", '{"fleet_host_tools": ["darwin-rebuild-missing"]}')
    host = H.hosts_in_phase(2)[0]
    assert res.returncode != 0
    assert (
        f"{host}: tools: expected darwin-rebuild-missing on the host's PATH; found missing darwin-rebuild-missing."
    ) in res.stdout


def test_rollback_refuses_without_phase_and_reason(env):
    res = run(env, "rollback-darwin.yml")
    assert res.returncode != 0
    assert (
        'rollback: expected -e rollback_phase=<N> (the phase whose hosts roll back) and -e rollback_reason="..." '
        "(recorded in the ledger); found rollback_phase=undefined, rollback_reason=undefined."
    ) in res.stdout


def test_rollback_darwin_returns_to_the_replaced_generation_and_holds_the_gates(env):
    seed(env, H.hosts_in_phase(1), 40, gate_go=True)
    profile = darwin_state(env)
    extra = ["--skip-tags", "verify,gate", "-e", f"fleet_system_profile={profile}"]
    assert run(env, "phase2.yml", *extra).returncode == 0
    # A second configuration is deployed: generation 1 -> 2.
    config = json.loads((env["tmp"] / "darwin-state" / "config.json").read_text())
    for spec in config["hosts"].values():
        spec["system"] = spec["system"].replace("1" * 32, "2" * 32)
    (env["tmp"] / "darwin-state" / "config.json").write_text(json.dumps(config))
    assert run(env, "phase2.yml", *extra).returncode == 0
    host = H.hosts_in_phase(2)[0]
    res = run(
        env,
        "rollback-darwin.yml",
        "-e",
        "rollback_phase=2",
        "-e",
        '{"rollback_reason": "casks missing"}',
        "-e",
        f"fleet_system_profile={profile}",
    )
    assert res.returncode == 0, res.stdout[-3000:]
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        rollback = [d for d in led.events(kind="deployment", host=host) if d.check == "rollback"]
        assert len(rollback) == 1 and rollback[0].evidence["generation_after"] == 1
        assert H.ledger_mod.open_problems(led)[host][0].startswith("rolled-back (since ")
    # The open problem holds the next phase's preflight.
    seed(env, [host], 40, gate_go=True)
    res = run(env, "phase3.yml", "--tags", "gate")
    assert res.returncode != 0
    assert f"found {host}: rolled-back (since " in res.stdout


def system_profile(tmp: Path, generations: int) -> Path:
    """A scratch NixOS system profile managed by the real nix-env: each
    generation's switch-to-configuration appends "<generation> <action>" to
    `activated`, standing in for a system closure's activation."""
    profiles = tmp / "profiles"
    profiles.mkdir(parents=True)
    for n in range(1, generations + 1):
        script = tmp / f"system{n}" / "bin" / "switch-to-configuration"
        script.parent.mkdir(parents=True)
        script.write_text(f'#!/bin/sh\necho "{n} $1" >> {tmp / "activated"}\n')
        script.chmod(0o755)
        (profiles / f"system-{n}-link").symlink_to(tmp / f"system{n}")
    (profiles / "system").symlink_to(f"system-{generations}-link")
    return profiles / "system"


def test_rollback_nixos_switches_the_profile_back_and_activates_it(env):
    host = H.hosts_tagged("zerotier-controller")[0]
    seed(env, [host], 40, gate_go=True)  # deployment evidence: generation 1 -> 2
    profile = system_profile(env["tmp"] / "host", 2)
    res = run(
        env,
        "rollback-nixos.yml",
        "-e",
        f"rollback_phase={phase_of_host(host)}",
        "-l",
        f"localhost,{host}",
        "-e",
        '{"rollback_reason": "sshd rejects certificates"}',
        "-e",
        f"fleet_system_profile={profile}",
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert Path(profile).resolve() == (env["tmp"] / "host" / "system1")
    assert (env["tmp"] / "host" / "activated").read_text() == "1 switch\n"
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        [rollback] = [d for d in led.events(kind="deployment", host=host) if d.check == "rollback"]
        assert rollback.evidence["generation_after"] == 1 and rollback.details == "sshd rejects certificates"
        assert host in H.ledger_mod.open_problems(led)


def test_rollback_nixos_rolls_the_zerotier_controller_back_before_its_peers(env):
    controller = H.hosts_tagged("zerotier-controller")[0]
    phase = phase_of_host(controller)
    hosts = [h for h in H.hosts_in_phase(phase) if H.machines()[h]["machineClass"] == "nixos"]
    assert len(hosts) > 1, "the test needs a peer in the controller's phase"
    seed(env, hosts, 40, gate_go=True)  # deployment evidence: generation 1 -> 2
    # Every host is local here, so they share one scratch profile.
    profile = system_profile(env["tmp"] / "host", 2)
    res = run(
        env,
        "rollback-nixos.yml",
        "-e",
        f"rollback_phase={phase}",
        "-e",
        '{"rollback_reason": "controller broke the mesh"}',
        "-e",
        f"fleet_system_profile={profile}",
    )
    assert res.returncode == 0, res.stdout[-3000:]
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        rows = [e.host for e in led.events() if e.check in ("rollback", "rolled-back")]
    # The controller's whole rollback (deployment row, then its problem) is
    # recorded before any peer's starts; one play for all would interleave them.
    assert sorted(rows) == sorted(hosts * 2)
    assert rows[:2] == [controller, controller]


def test_a_verification_that_errors_is_recorded_as_a_failed_check(env):
    seed(env, H.hosts_in_phase(1), 40, gate_go=True)
    host = H.hosts_in_phase(2)[0]
    res = run(env, "phase2.yml", "--tags", "verify", "-e", '{"fleet_verify_roles": ["no_such_verify_role"]}')
    assert res.returncode != 0
    assert f"{host}: verify: expected every check of no_such_verify_role to pass; found " in res.stdout
    assert "Recorded in the ledger as a failed check, which restarts the stability clock" in res.stdout
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        [failed] = led.events(kind="health", host=host)
    assert (failed.check, failed.ok, failed.phase) == ("verify", False, 2)
