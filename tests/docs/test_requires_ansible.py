"""requires_ansible (meta/runtime.yml) is a tested range: the collection works on both its ends.

The pinned ansible-core of the virtualenv is checked by test_packaging.py. Here the oldest and the
newest minor release the range admits (the lower bound's, and the one below the upper bound) are
installed with pip into ${XDG_CACHE_HOME:-~/.cache}/fleet-ansible-core/ (once per machine, outside
the checkout like the VM image, so a fresh clone does not pay the install again; the newest patch of
that minor, on the first interpreter it supports) and must: load every module's documentation (attributes included) and
run a playbook through the action group's module_defaults, the ledger lookup and a module.
Skipped, naming the reason, when pip cannot install (no package index reachable).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import docsupport as ds

pytestmark = [pytest.mark.slow]

REPO = ds.REPO
SPEC = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["requires_ansible"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fleet-ansible-core"
INTERPRETERS = [sys.executable, "python3.11", "python3.12", "python3.13",
                *sorted(str(p) for p in (Path.home() / ".pyenv" / "versions").glob("3.*/bin/python3"))]


def range_ends(spec: str) -> list[str]:
    """The oldest and newest minor releases `>=X.Y.Z,<A.B.0` admits, as "X.Y" and "A.(B-1)"."""
    low = re.search(r">=\s*(\d+)\.(\d+)", spec)
    high = re.search(r"<\s*(\d+)\.(\d+)(?:\.0)?(?:,|$)", spec)
    assert low and high, (f"meta/runtime.yml requires_ansible {spec!r}: expected '>=X.Y.Z,<A.B.0' (a closed range "
                          "of minor releases); found another form. Write the range that the tests run.")
    assert int(high.group(2)) > 0, f"requires_ansible {spec!r}: expected an upper bound A.B.0 with B > 0"
    return [f"{low.group(1)}.{low.group(2)}", f"{high.group(1)}.{int(high.group(2)) - 1}"]


def test_range_ends_are_read_from_the_spec() -> None:
    assert range_ends(">=2.17.0,<2.21.0") == ["2.17", "2.20"]
    assert range_ends(">=2.19.0,<2.20.0") == ["2.19", "2.19"]
    with pytest.raises(AssertionError, match="expected '>=X.Y.Z,<A.B.0'"):
        range_ends(">=2.17")


def install(minor: str) -> Path:
    """A virtualenv with the newest ansible-core `minor`.x; skips when none can be installed."""
    failures, tried = [], set()
    for python in INTERPRETERS:
        exe = shutil.which(python) or (python if Path(python).is_file() else None)
        if exe is None:
            continue
        probe = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, check=False)
        version = probe.stdout.strip()
        if probe.returncode != 0 or not version or version in tried:
            continue  # e.g. a pyenv shim of a version that is not selected, or a version already tried
        tried.add(version)
        venv = CACHE / f"{minor}-py{version}"
        if (venv / "bin" / "ansible-playbook").exists():
            return venv
        if venv.exists():
            shutil.rmtree(venv)
        subprocess.run([exe, "-m", "venv", str(venv)], check=True, capture_output=True)
        proc = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"ansible-core~={minor}.0"],
                              capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode == 0:
            return venv
        failures.append(f"python {version}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        shutil.rmtree(venv)
    pytest.skip(f"ansible-core {minor}: pip could not install it on any of {INTERPRETERS}: " + "; ".join(failures))


@pytest.mark.parametrize("minor", range_ends(SPEC))
def test_the_collection_works_on_each_end_of_the_range(minor: str, tmp_path: Path) -> None:
    venv = install(minor)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    env.pop("FLEET_LEDGER_PATH", None)
    core = subprocess.run([str(venv / "bin" / "python"), "-c", "import ansible.release as r; print(r.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert core.startswith(minor + "."), f"expected ansible-core {minor}.x in {venv}; found {core}"
    modules = sorted(ds.module_docs())
    doc = subprocess.run([str(venv / "bin" / "ansible-doc"), "--json", "-t", "module", *modules], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert doc.returncode == 0, (f"ansible-core {core}: expected ansible-doc to load every module's documentation; "
                                 f"found exit {doc.returncode}: {doc.stderr[-2000:]}. Fix the documentation or "
                                 "narrow requires_ansible in meta/runtime.yml.")
    ledger = tmp_path / "ledger.sqlite"
    play = subprocess.run(
        [str(venv / "bin" / "ansible-playbook"), "playbooks/ledger-problem.yml", "-e", f"fleet_ledger_path={ledger}",
         "-e", "problem_host=(controller)", "-e", "problem=clock", "-e", "problem_ok=false",
         "-e", "problem_details=range"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert play.returncode == 0, (f"ansible-core {core}: expected playbooks/ledger-problem.yml to run; found exit "
                                  f"{play.returncode}: {play.stdout[-2000:]}{play.stderr[-1000:]}. Fix it or narrow "
                                  "requires_ansible in meta/runtime.yml.")
    rows = ds.events(ledger, kind="problem", host="(controller)")
    assert [(r.check, r.ok) for r in rows] == [("clock", False)], f"ansible-core {core}: expected the problem recorded"
