"""Local–CI parity: the workflow runs `nix develop -c just <recipe>` and every
recipe it names exists; the devShell and formatter are flake outputs; the CI
vars recipe refuses to put the test identity over a real store."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml
from support import nix as nixsupport

REPO = nixsupport.REPO
pytestmark = pytest.mark.nix


def workflow_runs() -> list[str]:
    wf = yaml.safe_load((REPO / ".github/workflows/nix.yml").read_text())
    return [step["run"] for job in wf["jobs"].values() for step in job["steps"] if "run" in step]


def recipes() -> set[str]:
    out = subprocess.run(["just", "--summary"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.skipif(not shutil.which("just"), reason="just is not installed")
def test_every_workflow_step_is_nix_develop_just_and_the_recipe_exists():
    # Every step that runs nix (not the runner's own setup, e.g. KVM) goes through the devShell and a recipe.
    nix_steps = [r for r in workflow_runs() if re.search(r"\b(nix|just)\b", r)]
    assert nix_steps
    for run in nix_steps:
        m = re.fullmatch(r"nix develop -c just ([\w-]+)( .*)?", run.strip())
        assert m, f"step does not run `nix develop -c just <recipe>`: {run}"
        assert m.group(1) in recipes(), f"workflow names recipe {m.group(1)}, which the justfile lacks"
    assert {"check", "build", "test", "ci-vars"} <= recipes()


def test_dev_shell_and_formatter_exist_for_every_system():
    systems = nixsupport.nix_eval("formatter", apply="builtins.attrNames")
    assert systems == sorted(nixsupport.nix_eval("devShells", apply="builtins.attrNames"))
    for system in systems:
        assert nixsupport.nix_eval(f"devShells.{system}", apply="builtins.attrNames") == ["default"]


@pytest.mark.skipif(not shutil.which("just"), reason="just is not installed")
def test_ci_vars_refuses_outside_ci():
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "FLEET_CI_VARS")}
    res = subprocess.run(["just", "ci-vars"], cwd=REPO, capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 1
    assert "ci-vars: refusing outside CI (CI=true)" in res.stderr
    assert not (REPO / "vars" / "per-machine").exists()


@pytest.mark.skipif(not shutil.which("just"), reason="just is not installed")
def test_ci_vars_refuses_over_an_existing_store(tmp_path):
    (tmp_path / "vars" / "shared").mkdir(parents=True)
    shutil.copy(REPO / "justfile", tmp_path / "justfile")
    res = subprocess.run(["just", "ci-vars"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "CI": "true"}, check=False)
    assert res.returncode == 1
    assert "ci-vars: vars/shared already exists (a real vars store?)" in res.stderr


@pytest.mark.skipif(not shutil.which("just"), reason="just is not installed")
def test_just_test_runs_in_a_fresh_ci_checkout_without_venv(tmp_path):
    """CI's `nix develop -c just test` has no .venv (scripts/setup never ran there);
    the recipe then runs pytest from the devShell's python, with the same paths."""
    shutil.copy(REPO / "justfile", tmp_path / "justfile")
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "test", tmp_path / "scripts" / "test")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "python.log"
    (bindir / "python").write_text(f'#!/bin/sh\necho "$@" > {log}\n')
    (bindir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "FLEET_NIX_ONLINE": "1"}
    res = subprocess.run(["just", "test"], cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, res.stderr
    assert log.read_text().split() == ["-m", "pytest", "tests/nix", "tests/test_no_plaintext_secrets.py", "-q"]


def test_dev_shell_python_carries_what_the_tests_import():
    """The devShell's python is what `just test` runs in CI: pytest and pyyaml
    (tests/nix import yaml) must be in it."""
    text = (REPO / "modules" / "dev" / "shell.nix").read_text()
    m = re.search(r"python3\.withPackages \(ps: \[([^\]]*)\]\)", text)
    assert m, "the devShell has no python3.withPackages"
    assert {"ps.pytest", "ps.pyyaml"} <= set(m.group(1).split())
