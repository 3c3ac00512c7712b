"""`ansible-playbook playbooks/phase0.yml`, for real, on the real flake and on broken copies of it.

The real flake must be GO or CONDITIONAL GO with the report written. Each
negative fixture (tests/fixtures/flakes/<name>/fixture.yml) is the real
repository copied to a temporary git repository with a small break applied;
its run must be NO-GO, name the broken criterion, and still write the report.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support import nix as nixsupport

pytestmark = [pytest.mark.nix, pytest.mark.slow]

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "flakes"


def run_phase0(repo: Path, report_dir: Path, flake: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"), FLEET_SHARED=str(nixsupport.SHARED),
               ANSIBLE_NOCOLOR="1")
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "playbooks/phase0.yml", "-e", f"phase0_report_dir={report_dir}"]
    if flake is not None:
        cmd += ["-e", f"phase0_flake={flake}"]
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False)


def phase0_spec(repo: Path) -> dict:
    spec = yaml.safe_load((repo / "playbooks/vars/phase0.yml").read_text())
    spec.update(yaml.safe_load((repo / "playbooks/vars/seed.yml").read_text()))
    return spec


def copy_flake(repo: Path, dest: Path) -> None:
    """The files git tracks (or would), into a fresh git repository nix can read as git+file."""
    files = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = repo / rel
        if src.is_file() and not rel.startswith("tests/fixtures/"):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel, follow_symlinks=False)


def git_init(path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)


@pytest.fixture(scope="module")
def real_run(repo, tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("phase0-real")
    return run_phase0(repo, report_dir), report_dir


def test_real_flake_is_go_or_conditional_go(real_run):
    proc, report_dir = real_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads((report_dir / "phase0.json").read_text())
    assert report["decision"] in ("GO", "CONDITIONAL GO"), report
    assert report["failed_blocking"] == []
    assert f"Phase 0 decision: {report['decision']}" in proc.stdout
    # The callback's summary repeats it at the end of the run.
    assert f"Decision phase0: {report['decision']}" in proc.stdout


def test_real_report_covers_every_criterion_and_machine(repo, real_run):
    _proc, report_dir = real_run
    report = json.loads((report_dir / "phase0.json").read_text())
    spec = phase0_spec(repo)
    assert [c["id"] for c in report["criteria"]] == list(spec["phase0_criteria"])
    assert report["machines"] == {name: m["machineClass"] for name, m in nixsupport.inventory().items()}
    markdown = (report_dir / "phase0.md").read_text()
    assert markdown.startswith(f"# Phase 0 report: {report['decision']}")
    for criterion in report["criteria"]:
        assert f"`{criterion['id']}`" in markdown
        # Only conditions may fail on the real flake, and each says what to do.
        if not criterion["ok"]:
            assert criterion["severity"] == "condition", criterion
            assert criterion["id"] in report["failed_conditions"]


def test_real_zerotier_controller_matches_the_flake(real_run):
    # The controller the report found is the machine clan resolves for the zerotier controller role.
    _proc, report_dir = real_run
    report = json.loads((report_dir / "phase0.json").read_text())
    found = next(c for c in report["criteria"] if c["id"] == "zerotier_controller")
    instances = nixsupport.nix_eval("clan.inventory.instances", apply=(
        "is: builtins.mapAttrs (n: i: { module = i.module.name; "
        "controllers = builtins.attrNames (i.roles.controller.machines or { }); "
        "tags = builtins.attrNames (i.roles.controller.tags or { }); }) is"))
    machines = nixsupport.inventory()
    controllers = set()
    for inst in instances.values():
        if "zerotier" in inst["module"]:
            controllers |= set(inst["controllers"])
            controllers |= {m for m, v in machines.items() if set(v["tags"]) & set(inst["tags"])}
    assert found["found"] == f"controller: {sorted(controllers)}"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if (p / "fixture.yml").is_file()))
def test_broken_flake_is_no_go_naming_the_criterion(repo, tmp_path, name):
    fixture = yaml.safe_load((FIXTURES / name / "fixture.yml").read_text())
    flake = tmp_path / "flake"
    copy_flake(repo, flake)
    for rel in fixture.get("remove", []):
        assert (flake / rel).exists(), f"fixture {name}: {rel} is not in the repository any more"
        (flake / rel).unlink()
    overlay = FIXTURES / name / "overlay"
    if overlay.is_dir():
        shutil.copytree(overlay, flake, dirs_exist_ok=True)
    git_init(flake)
    report_dir = tmp_path / "report"

    proc = run_phase0(repo, report_dir, flake=flake)

    assert proc.returncode != 0, proc.stdout[-4000:]
    report = json.loads((report_dir / "phase0.json").read_text())
    assert report["decision"] == "NO-GO"
    # Exactly the broken criteria block: the checks are specific.
    assert report["failed_blocking"] == sorted(fixture["expect_failed"])
    for criterion in fixture["expect_failed"]:
        assert f"Phase 0 criterion {criterion} failed (blocking) on flake {flake}" in proc.stdout
    assert "Phase 0 is NO-GO for" in proc.stdout
    assert "blocking criteria failed: " + ", ".join(report["failed_blocking"]) in proc.stdout
    assert "# Phase 0 report: NO-GO" in (report_dir / "phase0.md").read_text()


def test_no_flake_is_no_go_with_every_criterion_failed(repo, tmp_path):
    report_dir = tmp_path / "report"
    proc = run_phase0(repo, report_dir, flake=tmp_path / "nowhere")
    assert proc.returncode != 0
    report = json.loads((report_dir / "phase0.json").read_text())
    assert report["decision"] == "NO-GO"
    assert report["failed_blocking"] == list(phase0_spec(repo)["phase0_criteria"])
    assert report["error"] == (f"phase0_check: expected a flake checkout at {tmp_path / 'nowhere'} (with flake.nix), "
                               "found none; set flake to the repository root")
    assert "no evidence: the check did not run" in (report_dir / "phase0.md").read_text()


def test_the_module_run_as_a_module_judges_as_the_action_does(repo, real_run, tmp_path):
    """phase0.yml runs phase0_check in Ansible's worker (its action plugin); run as a module process, as
    anywhere but the controller, it gives the same verdict on the same flake."""
    spec = phase0_spec(repo)
    args = {"flake": str(repo), "seed": spec["phase0_seed_machines"],
            "service_requirements": spec["phase0_service_requirements"],
            "generator_requirements": spec["phase0_generator_requirements"], "criteria": spec["phase0_criteria"]}
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=str(repo / ".collections"), FLEET_SHARED=str(nixsupport.SHARED))
    res = subprocess.run([sys.executable, str(repo / "plugins" / "modules" / "phase0_check.py"), str(args_file)],
                         env=env, capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    by_module = json.loads(res.stdout)
    report = json.loads((real_run[1] / "phase0.json").read_text())
    assert by_module["decision"] == report["decision"]
    assert by_module["failed_blocking"] == report["failed_blocking"]
    assert by_module["failed_conditions"] == report["failed_conditions"]
    assert [c["id"] for c in by_module["report"]] == [c["id"] for c in report["criteria"]]
