"""A phase driven through ansible-runner: its Python API directly, and the CI
entry point scripts/ci-phase, whose artifacts must come out with secrets
scrubbed."""

from __future__ import annotations

import base64
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phase_helpers as H  # noqa: E402

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
        f"{host}: phase2_gate: expected a standing GO decision of the phase 2 gate; found no gate decision recorded."
        in message
    )
    artifacts = tmp_path / "private" / "artifacts" / "refused"
    assert (artifacts / "stdout").read_text().count("phase2_gate") >= 1
    assert (artifacts / "rc").read_text().strip() == str(result.rc)
    assert list((artifacts / "job_events").glob("*.json"))


def test_ci_phase_runs_a_phase_through_ansible_runner_and_scrubs_secrets(tmp_path):
    """A refused phase 3 (no phase 2 GO in a fresh ledger): the refusal is
    recorded under the run id, the run fails, and no secret reaches an artifact."""
    inventory = H.write_inventory(tmp_path / "inventory")
    ledger = tmp_path / "ledger.sqlite"
    token = "tok-5f1c2e9a8b7d6c5e4f3a"
    # A secret inside a larger value of a variable whose name does not look secret.
    url_token = "glpat-Q1w2E3r4T5y6U7i8"
    remote = f"https://ci-bot:{url_token}@git.example.org/fleet.git"
    env = dict(os.environ, **runner_env(tmp_path), FLEET_DEPLOY_TOKEN=token, FLEET_GIT_REMOTE=remote)
    res = subprocess.run(
        [
            sys.executable,
            str(H.REPO / "scripts" / "ci-phase"),
            "3",
            "-i",
            str(inventory),
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
            "-e",
            f"fleet_run_remote=cloned from {remote} for phase 3",
        ],
        cwd=H.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode != 0, res.stdout[-3000:] + res.stderr[-2000:]
    run_dir = tmp_path / "artifacts" / "phase3" / "ci-1"
    assert (run_dir / "artifacts" / "run" / "status").read_text().strip() == "failed"
    texts = {p: p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()}
    assert texts, "no artifacts kept"
    leaking = [str(p) for p, t in texts.items() if token in t or "hunter2-very-secret" in t or url_token in t]
    assert leaking == []
    assert any("git.example.org/fleet.git" in t for t in texts.values()), "the planted value never reached artifacts"
    assert "********" in (run_dir / "artifacts" / "run" / "command").read_text()
    assert "scrubbed of secrets" in res.stdout
    with H.ledger_mod.Ledger(str(ledger), create=False) as led:
        rows = [e for e in led.events(kind="gate", phase=3) if e.check == "preflight"]
        assert led.events(kind="deployment") == []
    assert rows and all(not r.ok and r.run_id == "ci-1" for r in rows)


def _ci_phase():
    loader = importlib.machinery.SourceFileLoader("ci_phase", str(H.REPO / "scripts" / "ci-phase"))
    spec = importlib.util.spec_from_loader("ci_phase", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_ci_phase_scrubs_secrets_by_value_even_embedded_in_larger_values(tmp_path):
    ci = _ci_phase()
    url_token = "glpat-Q1w2E3r4T5y6"
    blob_secret = "cs-0a9b8c7d6e5f"
    listed = "plain-looking-42"
    named = "tok-5f1c2e9a8b7d"
    environ = {
        # Names that do not look secret, values that hold one.
        "FLEET_GIT_REMOTE": f"https://ci-bot:{url_token}@git.example.org/fleet.git",
        "FLEET_CLOUD_CONFIG": json.dumps({"auth": {"client_secret": blob_secret}, "region": "fsn1"}),
        "DEPLOY_NOTE": listed,
        "FLEET_SECRET_ENV": "DEPLOY_NOTE",
        "HCLOUD_TOKEN": named,
        "SOPS_AGE_KEY_FILE": "/home/ci/.config/sops/age/keys.txt",
        "HOME": "/home/ci",
    }
    values = ci.secret_values(environ, [])
    assert {url_token, blob_secret, listed, named} <= set(values)
    assert "/home/ci" not in values and environ["SOPS_AGE_KEY_FILE"] not in values, "locations are not secrets"
    run = tmp_path / "run"
    (run / "artifacts" / "run" / "job_events").mkdir(parents=True)
    (run / "env").mkdir()
    event = {"event": "runner_on_ok", "event_data": {"res": {
        "stdout": f"remote is https://ci-bot:{url_token}@git.example.org/fleet.git\nnote={listed}!",
        "cmd": f"deploy --note 'x{named}y'"}}}
    (run / "artifacts" / "run" / "job_events" / "1-ok.json").write_text(json.dumps(event))
    (run / "artifacts" / "run" / "stdout").write_text(f"config {environ['FLEET_CLOUD_CONFIG']}\n")
    (run / "env" / "extravars").write_text(f"fleet_note: prefix-{named}-suffix\nb64: "
                                           f"{base64.b64encode(listed.encode()).decode()}\n")
    changed = ci.scrub_tree(run, ci.make_scrubber(values))
    assert len(changed) == 3
    texts = "\n".join(p.read_text() for p in run.rglob("*") if p.is_file())
    for secret in (url_token, blob_secret, listed, named, base64.b64encode(listed.encode()).decode()):
        assert secret not in texts, secret
    assert "git.example.org/fleet.git" in texts and "fsn1" in texts, "scrubbing removed more than the secrets"
