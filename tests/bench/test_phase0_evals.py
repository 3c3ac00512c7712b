"""Phase 0 evaluates the flake in at most three `nix eval` processes and records its decision in the ledger.

The playbook tests run the real playbook with the real nix behind a counting
shim on PATH (the shim logs its first argument and execs the real nix). The
unit tests drive phase0.gather_flake_evidence with a stand-in evaluator to
pin the batching and the per-machine fallback that keeps failures attributed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.fleet.migration.plugins.module_utils import phase0
from ansible_collections.fleet.migration.plugins.module_utils.ledger import Ledger
from support import nix as nixsupport

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def run_phase0(repo: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, list[str], Path]:
    shim_dir, log, ledger = tmp_path / "shim", tmp_path / "nix.log", tmp_path / "ledger.sqlite"
    shim_dir.mkdir()
    real = shutil.which("nix")
    assert real, "nix is not on PATH"
    (shim_dir / "nix").write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n')
    (shim_dir / "nix").chmod(0o755)
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"), FLEET_SHARED=str(nixsupport.SHARED),
               ANSIBLE_NOCOLOR="1", FLEET_LEDGER_PATH=str(ledger), PATH=f"{shim_dir}:{os.environ['PATH']}")
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "playbooks/phase0.yml",
           "-e", f"phase0_report_dir={tmp_path / 'report'}", *extra]
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False)
    calls = log.read_text().split() if log.exists() else []
    return proc, calls, ledger


def gate_rows(ledger: Path):
    with Ledger(str(ledger)) as led:
        return led.events(kind="gate", phase=0)


@pytest.mark.nix
@pytest.mark.slow
def test_real_flake_needs_at_most_three_nix_evals_and_records_the_decision(repo, tmp_path):
    proc, calls, ledger = run_phase0(repo, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert calls.count("eval") <= 3, calls
    assert set(calls) == {"eval"}, calls
    (row,) = gate_rows(ledger)
    assert (row.host, row.check, row.phase, row.ok) == ("(fleet)", "gate", 0, True)
    assert row.evidence["decision"] in ("GO", "CONDITIONAL GO")
    assert row.evidence["blocking"] == []
    if row.evidence["decision"] == "CONDITIONAL GO":
        # Offline, the one condition: NixOS needs full nixpkgs.
        assert row.evidence["conditions"] == ["nixos_evaluates"]
        assert "conditions to accept by name: nixos_evaluates" in row.details


def test_no_go_is_recorded_before_the_run_fails(repo, tmp_path):
    proc, _calls, ledger = run_phase0(repo, tmp_path, "-e", f"phase0_flake={tmp_path / 'nothing-here'}")
    assert proc.returncode != 0
    assert "Phase 0 is NO-GO for" in proc.stdout
    (row,) = gate_rows(ledger)
    assert row.host == "(fleet)" and row.ok is False
    assert row.evidence["decision"] == "NO-GO"
    assert "seed_machines" in row.evidence["blocking"] and row.evidence["conditions"] == []
    assert row.details.startswith("Phase 0 NO-GO; blocking: ")


def test_check_mode_records_nothing(repo, tmp_path):
    proc, _calls, ledger = run_phase0(repo, tmp_path, "--check", "-e", f"phase0_flake={tmp_path / 'none'}")
    assert "Phase 0 is NO-GO" in proc.stdout
    assert not ledger.exists() or gate_rows(ledger) == []


# ------------------------------------------------------------------ the evaluation plan, with a stand-in evaluator

MACHINES = {"mac": {"machineClass": "darwin", "tags": []}, "srv1": {"machineClass": "nixos", "tags": []},
            "srv2": {"machineClass": "nixos", "tags": []}}
INVENTORY = {"machines": {n: dict(m, description=None, deploy={"targetHost": None, "buildHost": None})
                          for n, m in MACHINES.items()},
             "instances": {}, "fleet": {"ports": {"ssh": 22}, "publicSurface": {}, "domain": None, "generators": {}}}
FACTS = {"mac": {"hostName": "mac", "stateVersion": 6}, "srv1": {"hostName": "srv1", "stateVersion": "25.05"},
         "srv2": {"hostName": "srv2", "stateVersion": "25.05"}}
OFFLINE_ERROR = "error: … attribute 'nixosSystem' missing"


class FakeEval:
    """Answers like nix_eval would.

    ``broken`` machines fail their evaluation; ``nixos_offline`` fails every NixOS one.
    """

    def __init__(self, broken=(), nixos_offline=False):
        self.calls, self.broken, self.nixos_offline = [], set(broken), nixos_offline

    def _facts(self, name):
        if name in self.broken:
            return phase0.Missing(f"error: {name} is broken")
        if self.nixos_offline and MACHINES[name]["machineClass"] == "nixos":
            return phase0.Missing(OFFLINE_ERROR)
        return FACTS[name]

    def __call__(self, attr, apply):
        self.calls.append((attr, apply))
        if attr == "." and apply == phase0.batch_apply():
            darwin = {n: self._facts(n) for n, m in MACHINES.items() if m["machineClass"] == "darwin"}
            bad = [v for v in darwin.values() if isinstance(v, phase0.Missing)]
            if bad:
                return bad[0]
            return {"inventory": INVENTORY, "configurations": {}, "generators": {}, "darwin": darwin}
        if attr == "." and apply == phase0.facts_apply("nixos"):
            nixos = {n: self._facts(n) for n, m in MACHINES.items() if m["machineClass"] == "nixos"}
            bad = [v for v in nixos.values() if isinstance(v, phase0.Missing)]
            return bad[0] if bad else nixos
        if apply == phase0.SYSTEM_FACTS_APPLY:
            return self._facts(attr.split('"')[1])
        if apply == phase0.clan_inventory.INVENTORY_APPLY:
            return INVENTORY
        return {}


def test_two_evaluations_when_everything_evaluates():
    fake = FakeEval()
    got = phase0.gather_flake_evidence(fake, offline=False)
    assert got["evaluations"] == 2 == len(fake.calls)
    assert got["darwin"] == {"mac": FACTS["mac"]} and got["nixos"] == {"srv1": FACTS["srv1"], "srv2": FACTS["srv2"]}


def test_offline_nixos_limitation_costs_no_extra_evaluation_and_stays_a_condition():
    fake = FakeEval(nixos_offline=True)
    got = phase0.gather_flake_evidence(fake, offline=True)
    assert got["evaluations"] == 2
    res = phase0.check_configurations_evaluate("nixos", MACHINES, got["nixos"], offline=True)
    assert not res["ok"] and res["details"]["offline_limited"] == ["srv1", "srv2"]


def test_a_broken_machine_is_still_named_after_the_batch_fails():
    fake = FakeEval(broken={"srv2"})
    got = phase0.gather_flake_evidence(fake, offline=False)
    assert got["evaluations"] == 4  # batch, nixos batch, then srv1 and srv2 one by one
    res = phase0.check_configurations_evaluate("nixos", MACHINES, got["nixos"], offline=False)
    assert res["details"]["errors"] == ["srv2: error: srv2 is broken"]


def test_a_broken_darwin_machine_falls_back_without_losing_the_inventory():
    fake = FakeEval(broken={"mac"})
    got = phase0.gather_flake_evidence(fake, offline=False)
    assert got["inventory"] == INVENTORY
    res = phase0.check_configurations_evaluate("darwin", MACHINES, got["darwin"], offline=False)
    assert res["details"]["errors"] == ["mac: error: mac is broken"]
