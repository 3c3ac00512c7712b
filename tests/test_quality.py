"""Repository-wide quality gates: ansible-lint (production profile),
ansible-test sanity for the collection, and shellcheck on every shell script."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False, **kw)


def _tracked_files() -> list[str]:
    out = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard"]).stdout
    return [f for f in out.splitlines() if (REPO / f).is_file()]


def _shell_scripts() -> list[str]:
    scripts = []
    for f in _tracked_files():
        path = REPO / f
        if f.endswith(".sh") or f.startswith((".ci/", "scripts/")) or path.name == "before-stop":
            first = path.read_text(errors="replace").split("\n", 1)[0]
            if f.endswith(".sh") or ("bash" in first or first.endswith("/sh")):
                scripts.append(f)
    return scripts


@pytest.mark.slow
def test_ansible_lint_production_profile():
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    res = _run(["ansible-lint", "--profile", "production", "--nocolor"], env=env)
    assert res.returncode == 0, f"ansible-lint failed:\n{res.stdout[-6000:]}\n{res.stderr[-3000:]}"


@pytest.mark.slow
def test_ansible_test_sanity():
    res = _run(["scripts/sanity", "--requirements"])
    noise = ("WARNING: Location", "Looking in", "Collecting", "Downloading", "  Downloading", "Requirement already")
    tail = "\n".join(line for line in (res.stdout + res.stderr).splitlines() if not line.startswith(noise))
    assert res.returncode == 0, f"ansible-test sanity failed:\n{tail[-8000:]}"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed: run scripts/setup")
def test_shellcheck_all_scripts():
    scripts = _shell_scripts()
    assert "scripts/setup" in scripts and ".ci/run" in scripts, scripts
    res = _run(["shellcheck", "-x", *scripts])
    assert res.returncode == 0, res.stdout[-6000:]
