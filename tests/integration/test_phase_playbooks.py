"""The phase playbooks' guards and steps against a test inventory derived from
the clan inventory (every host on the local connection), a scratch ledger,
and the contract fakes of clan and darwin-rebuild on PATH.

No evidence is seeded: every row is written by a playbook (phase 0 records
its decision, deploy its deployments). The flow through verify and the gates
with the real verification roles is tests/integration/test_phase_flow.py.
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
            f"{host}: phase2_gate: expected a standing GO decision of the phase 2 gate; "
            "found no gate decision recorded. Run playbooks/phase2.yml --tags verify,gate until its gate says GO."
        ) in out
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        assert led.events(kind="deployment") == []
        # The refusal itself is evidence: a NO-GO preflight per phase 3 host.
        assert {e.host for e in led.events(kind="gate") if not e.ok} == set(H.hosts_in_phase(3)) | {H.ledger_mod.FLEET}
    assert not (env["tmp"] / "darwin-state" / "calls.jsonl").exists()


def test_rollback_refuses_without_phase_and_reason(env):
    res = run(env, "rollback-darwin.yml")
    assert res.returncode != 0
    assert (
        'rollback: expected -e rollback_phase=<N> (the phase whose hosts roll back) and -e rollback_reason="..." '
        "(recorded in the ledger); found rollback_phase=undefined, rollback_reason=undefined."
    ) in res.stdout


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


def no_rows(env) -> bool:
    if not env["ledger"].exists():
        return True
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        return led.events(kind="deployment") == []


def test_skip_tags_always_cannot_deploy_without_the_earlier_gates(env):
    res = run(env, "phase3.yml", "--skip-tags", "always")
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    host = H.hosts_in_phase(2)[0]
    assert f"{host}: phase2_gate: expected a standing GO decision of the phase 2 gate; found no gate decision recorded." in out
    assert no_rows(env)
    # The refusal is recorded by the deploy step itself, since the preflight was skipped.
    assert [r.ok for r in gate_rows(env, 3, "preflight") if r.host == H.ledger_mod.FLEET] == [False]
    assert not (env["tmp"] / "darwin-state" / "calls.jsonl").exists()


def test_tags_deploy_alone_still_checks_the_gates(env):
    res = run(env, "phase3.yml", "--tags", "deploy")
    assert res.returncode != 0
    assert "phase2_gate: expected a standing GO decision of the phase 2 gate" in res.stdout
    assert no_rows(env)


def test_start_at_task_past_the_gate_check_is_refused(env):
    res = run(env, "phase3.yml", "--start-at-task", "Switch the darwin host with darwin-rebuild")
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    host = H.hosts_in_phase(3)[0]
    assert (
        f"{host}: deploy: expected the earlier gates of phase 3 to have been checked and passed in this run; found "
        "them not checked. Run playbooks/phase3.yml without --start-at-task."
    ) in out
    assert no_rows(env)
    assert not (env["tmp"] / "darwin-state" / "calls.jsonl").exists()


def test_a_limit_outside_the_phase_fails_before_anything_runs(env):
    server = H.hosts_in_phase(1)[0]
    res = run(env, "phase3.yml", "--limit", server)
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert (
        f"phase3: hosts: expected at least one host in phase3 narrowed by --limit {server}; found none. A run that "
        "selects no host does nothing, so it is refused."
    ) in out
    assert not env["ledger"].exists()


def test_a_phase_without_hosts_fails(env):
    res = run(env, "phase-steps.yml", "-e", "fleet_phase_number=42")
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert "phase42: hosts: expected at least one host in phase42; found none." in out


def test_a_rollback_that_selects_no_host_fails(env):
    server = H.hosts_in_phase(1)[0]
    res = run(env, "rollback-darwin.yml", "-e", "rollback_phase=2", "-e", '{"rollback_reason": "x"}', "--limit", server)
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert f"phase2:&darwin: hosts: expected at least one host in phase2:&darwin narrowed by --limit {server}; found none." in out


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_a_threshold_that_is_not_positive_is_refused_naming_the_variable(env, value):
    res = run(env, "phase3.yml", "-e", f"fleet_gate_max_health_age_minutes={value}")
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert (
        f"phase 3 preflight: fleet_gate_max_health_age_minutes: expected a positive number of minutes; found "
        f"{float(value)!r}."
    ) in out
    assert no_rows(env)


# -- after a recorded Phase 0 decision: the NixOS deploy path ---------------------------------------------


@pytest.fixture(scope="module")
def phase0_ledger(tmp_path_factory):
    """A ledger holding the decision phase0.yml itself recorded."""
    tmp = tmp_path_factory.mktemp("phase0")
    inventory = H.write_inventory(tmp / "inventory")
    (tmp / "flake").mkdir()
    ledger = tmp / "ledger.sqlite"
    res = H.run_playbook("phase0.yml", inventory, ledger, tmp, "-e", f"phase0_flake={H.REPO}", "-e", f"phase0_report_dir={tmp / 'reports'}")
    assert res.returncode == 0, res.stdout[-3000:]
    return ledger


def accept_phase0() -> list[str]:
    import yaml

    criteria = yaml.safe_load((H.REPO / "playbooks" / "vars" / "phase0.yml").read_text())["phase0_criteria"]
    return ["-e", json.dumps({"fleet_phase0_accepted_conditions": sorted(n for n, c in criteria.items() if c["severity"] == "condition")})]


@pytest.fixture
def servers(env, phase0_ledger):
    import shutil

    shutil.copy(phase0_ledger, env["ledger"])
    H.fake_clan_state(env["tmp"] / "clan-state", H.hosts_in_phase(1))
    return env


def test_phase1_refuses_a_conditional_phase0_whose_conditions_were_not_accepted(servers):
    res = run(servers, "phase1.yml", "--tags", "deploy")
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert "(fleet): phase0_decision: expected Phase 0 GO, or CONDITIONAL GO with every condition accepted by name" in out
    assert "conditions not accepted: nixos_evaluates" in out
    assert no_rows(servers)


def test_phase1_deploys_through_clan_controller_first_and_a_rerun_changes_nothing(servers):
    hosts = H.hosts_in_phase(1)
    first = run(servers, "phase1.yml", "--tags", "deploy", *accept_phase0())
    again = run(servers, "phase1.yml", "--tags", "deploy", *accept_phase0())
    assert first.returncode == 0 and again.returncode == 0, again.stdout[-3000:]
    assert all(recap_changed(first.stdout)[h] > 0 for h in hosts)
    # Nothing changed anywhere on the rerun, the controller's provisioning plays (localhost) included.
    rerun = recap_changed(again.stdout)
    assert set(hosts) <= set(rerun) and set(rerun.values()) == {0}, rerun
    with H.ledger_mod.Ledger(str(servers["ledger"]), create=False) as led:
        deployments = led.events(kind="deployment")
        assert [d.evidence["changed"] for d in deployments] == [True] * len(hosts) + [False] * len(hosts)
        controller = H.hosts_tagged("zerotier-controller")
        assert [d.host for d in deployments][: len(controller)] == controller
        first_row = deployments[0]
        assert H.ledger_mod.host_stability(led, first_row.host).deployed_at == first_row.recorded_at


def test_deploy_names_a_missing_host_tool_and_records_the_failed_deployment(servers):
    host = H.hosts_in_phase(1)[0]
    res = run(servers, "phase1.yml", "--tags", "deploy", *accept_phase0(), "-e",
              '{"fleet_host_tools": ["darwin-rebuild-missing"]}')
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert f"{host}: tools: expected darwin-rebuild-missing on the host's PATH; found missing darwin-rebuild-missing." in out
    with H.ledger_mod.Ledger(str(servers["ledger"]), create=False) as led:
        failed = [d for d in led.events(kind="deployment", host=host) if not d.ok]
    assert failed and failed[-1].evidence["failed_task"] == "Assert the host has every tool"


def test_an_unreachable_host_is_recorded_by_verify_and_named_by_the_gate(servers):
    # The preflight connects to no host: an unreachable one (here one that also
    # lists host tools, which the preflight used to probe under any_errors_fatal)
    # must not end a `--tags verify,gate` run before the gate decides.
    import socket

    hosts = H.hosts_in_phase(1)
    assert run(servers, "phase1.yml", "--tags", "deploy", *accept_phase0()).returncode == 0
    host = hosts[-1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # bound, never listening: connections are refused
        H.write_inventory(servers["inv"].parent, {host: {
            "ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": closed,
            "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes", "fleet_host_tools": ["sh"]}})
        res = run(servers, "phase1.yml", "--tags", "verify,gate", *accept_phase0())
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    [gate] = [g for g in gate_rows(servers, 1) if g.host == H.ledger_mod.FLEET][-1:]
    assert gate.evidence["decision"] == "NO-GO", gate.evidence
    with H.ledger_mod.Ledger(str(servers["ledger"]), create=False) as led:
        reach = [e for e in led.events(kind="health", host=host) if e.check == "reachable"]
    assert reach and not reach[-1].ok
    assert "Phase 1 gate: NO-GO" in out and host in out.split("Phase 1 gate: NO-GO", 1)[1]


def test_a_failed_deployment_is_recorded_before_the_host_fails(servers):
    state = servers["tmp"] / "clan-state" / "flake.json"
    config = json.loads(state.read_text())
    host = H.hosts_in_phase(1)[-1]
    config["machines"][host]["build_error"] = "error: attribute 'zerotier' missing"
    state.write_text(json.dumps(config))
    res = run(servers, "phase1.yml", "--tags", "deploy", *accept_phase0())
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert f"{host}: deploy: expected clan_machine to succeed; found " in out
    assert "The failure is recorded in the ledger and restarts the host's stability clock" in out
    with H.ledger_mod.Ledger(str(servers["ledger"]), create=False) as led:
        [deployment] = led.events(kind="deployment", host=host)
        assert not deployment.ok and "Update the NixOS machine with clan" in deployment.details
        assert H.ledger_mod.host_stability(led, host).deployed_at is None


def test_a_verify_role_that_cannot_run_fails_the_host_and_the_gate_names_the_missing_check(servers):
    assert run(servers, "phase1.yml", "--tags", "deploy", *accept_phase0()).returncode == 0
    res = run(servers, "phase1.yml", "--tags", "verify,gate", *accept_phase0(), "-e", '{"fleet_verify_roles": ["no_such_verify_role"]}')
    out = " ".join((res.stdout + res.stderr).split())
    host = H.hosts_in_phase(1)[0]
    assert res.returncode != 0, res.stdout[-5000:]
    assert (f"{host}: required_checks: expected a healthy record of each of no_such_verify_role since the stability "
            "clock started; found missing no_such_verify_role.") in out
    assert "Phase 1 gate: NO-GO" in res.stdout
    # With --tags verify alone no gate fails the run: the last play does, naming the check.
    alone = run(servers, "phase1.yml", "--tags", "verify", *accept_phase0(), "-e", '{"fleet_verify_roles": ["no_such_verify_role"]}')
    text = " ".join((alone.stdout + alone.stderr).split())
    assert alone.returncode != 0
    assert (f"{host}: verify: expected every check of no_such_verify_role to pass; found no_such_verify_role failing "
            "(no such verification role: roles/no_such_verify_role/ does not exist).") in text
    assert "Phase 1 gate: NO-GO" in res.stdout


def test_rollback_nixos_returns_controller_first_to_the_replaced_generation_and_holds_the_gates(servers):
    hosts = H.hosts_in_phase(1)
    assert run(servers, "phase1.yml", "--tags", "deploy", *accept_phase0()).returncode == 0
    state = servers["tmp"] / "clan-state" / "flake.json"
    config = json.loads(state.read_text())
    for spec in config["machines"].values():
        spec["toplevel"] = spec["toplevel"].replace("-nixos-system-", "-nixos-system-v2-")
    state.write_text(json.dumps(config))
    assert run(servers, "phase1.yml", "--tags", "deploy", *accept_phase0()).returncode == 0  # generation 1 -> 2
    profile = system_profile(servers["tmp"] / "host", 2)  # every host is local: one scratch profile
    res = run(servers, "rollback-nixos.yml", "-e", "rollback_phase=1", "-e", '{"rollback_reason": "controller broke the mesh"}',
              "-e", f"fleet_system_profile={profile}")
    assert res.returncode == 0, res.stdout[-3000:]
    assert (servers["tmp"] / "host" / "activated").read_text().startswith("1 switch\n")
    with H.ledger_mod.Ledger(str(servers["ledger"]), create=False) as led:
        rows = [e for e in led.events() if e.check in ("rollback", "rolled-back")]
        assert [r.host for r in rows][:2] == H.hosts_tagged("zerotier-controller") * 2
        assert sorted(r.host for r in rows) == sorted(hosts * 2)
        assert all(r.evidence["generation_after"] == 1 for r in rows if r.kind == "deployment")
        assert set(H.ledger_mod.open_problems(led)) == set(hosts)
