"""A phase driven through ansible-runner: its Python API directly, and the CI
entry point scripts/ci-phase, whose artifacts must come out with secrets
scrubbed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phase_helpers as H  # noqa: E402
from test_phase_playbooks import phase_of_host, required_checks  # noqa: E402

pytestmark = [pytest.mark.nix, pytest.mark.slow]


def runner_env(tmp: Path) -> dict:
    from fakes import install

    bin_dir = install(tmp / "bin", ["clan", "darwin-rebuild", "ssh"])
    return {
        "ANSIBLE_CONFIG": str(H.REPO / "ansible.cfg"),
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp / "facts"),
        "ANSIBLE_INVENTORY_CACHE": "False",
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "FAKE_CLAN_STATE": str(tmp / "clan-state"),
        "FAKE_DARWIN_STATE": str(tmp / "darwin-state"),
    }


def test_phase3_through_the_ansible_runner_api_refuses_and_keeps_artifacts(tmp_path):
    import ansible_runner

    inventory = H.write_inventory(tmp_path / "inventory")
    ledger = tmp_path / "ledger.sqlite"
    (tmp_path / "private").mkdir()
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "private"),
        project_dir=str(H.REPO),
        playbook=str(H.REPO / "playbooks" / "phase3.yml"),
        inventory=str(inventory),
        ident="refused",
        envvars=runner_env(tmp_path),
        quiet=True,
        extravars={
            "fleet_ledger_path": str(ledger),
            "fleet_reports_dir": str(tmp_path / "reports"),
            "fleet_flake": str(tmp_path),
        },
    )
    assert result.status == "failed" and result.rc != 0
    failed = [e for e in result.events if e.get("event") == "runner_on_failed"]
    assert failed, "no failed task in the event stream"
    message = failed[0]["event_data"]["res"]["msg"]
    host = H.hosts_in_phase(2)[0]
    assert (
        f"{host}: phase2_gate: expected a recorded GO decision of the phase 2 gate; found no gate decision recorded."
        in message
    )
    artifacts = tmp_path / "private" / "artifacts" / "refused"
    assert (artifacts / "stdout").read_text().count("phase2_gate") >= 1
    assert (artifacts / "rc").read_text().strip() == str(result.rc)
    assert list((artifacts / "job_events").glob("*.json"))


def test_ci_phase_runs_a_gate_through_ansible_runner_and_scrubs_secrets(tmp_path):
    inventory = H.write_inventory(tmp_path / "inventory")
    ledger = tmp_path / "ledger.sqlite"
    H.seed_stable(
        ledger,
        H.hosts_in_phase(2),
        minutes_ago=40,
        checks_for=required_checks,
        phase_of_host=phase_of_host,
        gate_go=True,
    )
    H.seed_stable(ledger, H.hosts_in_phase(3), minutes_ago=30, checks_for=required_checks, phase_of_host=phase_of_host)
    token = "tok-5f1c2e9a8b7d6c5e4f3a"
    env = dict(os.environ, **runner_env(tmp_path), FLEET_DEPLOY_TOKEN=token)
    res = subprocess.run(
        [
            sys.executable,
            str(H.REPO / "scripts" / "ci-phase"),
            "3",
            "-i",
            str(inventory),
            "--tags",
            "gate",
            "--artifacts",
            str(tmp_path / "artifacts"),
            "--run-id",
            "ci-1",
            "-e",
            f"fleet_ledger_path={ledger}",
            "-e",
            f"fleet_reports_dir={tmp_path / 'reports'}",
            "-e",
            "fleet_gate_host_stable_minutes=10",
            # Both kinds of secret reach the artifacts (the command line): an
            # environment secret's value passed on, and a secret-named variable.
            "-e",
            f"fleet_run_note={token}",
            "-e",
            "vault_password=hunter2-very-secret",
        ],
        cwd=H.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    run_dir = tmp_path / "artifacts" / "phase3" / "ci-1"
    assert (run_dir / "artifacts" / "run" / "status").read_text().strip() == "successful"
    texts = {p: p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()}
    assert texts, "no artifacts kept"
    leaking = [str(p) for p, t in texts.items() if token in t or "hunter2-very-secret" in t]
    assert leaking == []
    assert "********" in (run_dir / "artifacts" / "run" / "command").read_text()
    assert "scrubbed of secrets" in res.stdout
    with H.ledger_mod.Ledger(str(ledger), create=False) as led:
        rows = [e for e in led.events(kind="gate", phase=3) if e.check == "gate"]
    assert rows and all(r.ok and r.run_id == "ci-1" for r in rows)
