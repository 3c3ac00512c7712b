"""The fail-closed messages of roles/regression_verify, from a real ansible-playbook run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import nix as nixsupport

REPO = Path(__file__).resolve().parents[2]


def run_role(tmp_path: Path, host: str, extra: dict) -> subprocess.CompletedProcess:
    (tmp_path / "inv.yml").write_text(json.dumps({"all": {"hosts": {host: {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    (tmp_path / "play.yml").write_text(json.dumps([{
        "name": "Review", "hosts": host, "gather_facts": False,
        "roles": [{"role": "fleet.migration.regression_verify"}],
    }]))
    variables = {"regression_verify_flake": str(REPO), "fleet_record_evidence": False,
                 "regression_verify_nix_flags": list(nixsupport.offline_flags())} | extra
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("FLEET_BASELINE_FILE", None)
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "inv.yml"),
         str(tmp_path / "play.yml"), "-e", json.dumps(variables)],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )


def test_a_non_darwin_host_is_refused(tmp_path):
    res = run_role(tmp_path, "cinnabar", {"clan_machine_class": "nixos", "regression_verify_baseline_file": "x"})
    assert res.returncode != 0
    assert ("host cinnabar: regression_verify reviews darwin workstations against the legacy baseline; expected "
            "clan_machine_class=darwin and regression_verify_baseline_file set, found clan_machine_class=nixos, "
            "regression_verify_baseline_file='x'. Run the role only on the darwin group and pass the path of "
            "legacy-workstations.json (regression_verify_baseline_file or the environment variable "
            "FLEET_BASELINE_FILE).") in res.stdout


def test_a_missing_baseline_file_is_refused(tmp_path):
    res = run_role(tmp_path, "blackphos", {})
    assert res.returncode != 0
    assert "found clan_machine_class=unset, regression_verify_baseline_file=''" in res.stdout


def test_an_invalid_decisions_file_is_refused(tmp_path):
    (tmp_path / "baseline.json").write_text("{}")
    (tmp_path / "decisions.yml").write_text("decisions:\n  - id: x\n    items: [a]\n    decision: dropped\n")
    res = run_role(tmp_path, "blackphos", {"regression_verify_baseline_file": str(tmp_path / "baseline.json"),
                                           "regression_verify_decisions_file": str(tmp_path / "decisions.yml")})
    assert res.returncode != 0
    assert (f"host blackphos: {tmp_path / 'decisions.yml'} is invalid: expected every decision to have id, items, "
            "decision, reason (replacement for replaced/changed, action for deferred), found: decision #0 (x): "
            "missing `reason`. Fix the entries named.") in res.stdout


@pytest.mark.nix
def test_a_host_without_a_legacy_baseline_is_refused(tmp_path):
    (tmp_path / "baseline.json").write_text("{}")
    res = run_role(tmp_path, "galena", {"regression_verify_baseline_file": str(tmp_path / "baseline.json")})
    assert res.returncode != 0
    known = ", ".join(sorted(nixsupport.nix_eval("fleet.legacyBaseline")))
    assert ("host galena: expected an entry flake.fleet.legacyBaseline.galena naming the legacy host whose "
            f"baseline it keeps, found entries only for {known}. Add it to "
            "modules/machines/darwin/galena.nix.") in res.stdout
