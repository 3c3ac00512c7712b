"""Shared helpers for the docs site, docs gate (phase 7) and release (phase 8) tests.

The expensive steps (building the site, running the real docs gate) run once per
pytest process and are shared by the tests that need them (functools.cache).
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "docs" / "site"
DIST = SITE / "dist"
VENV_BIN = REPO / ".venv" / "bin"
sys.path.insert(0, str(REPO / ".collections"))
from ansible_collections.fleet.migration.plugins.module_utils import ledger as ledger_mod  # noqa: E402

LEDGER_HAS_CI = "ci" in ledger_mod.KINDS
NEEDS_CI_KIND = "the ledger has no kind 'ci' yet (the lead's ledger-core adds it); CI evidence cannot be recorded"


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    e["ANSIBLE_NOCOLOR"] = "1"
    e["PATH"] = f"{VENV_BIN}:{e.get('PATH', '')}"
    e.pop("FLEET_LEDGER_PATH", None)
    e.update(extra)
    return e


def run(argv: list[str], cwd: Path = REPO, timeout: int = 900, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env(**extra), capture_output=True, text=True, timeout=timeout,
                          check=False)


def playbook(name: str, ledger: Path, *args: str, timeout: int = 900, **extra: str) -> subprocess.CompletedProcess:
    return run([str(VENV_BIN / "ansible-playbook"), f"playbooks/{name}", *args], timeout=timeout,
               FLEET_LEDGER_PATH=str(ledger), **extra)


def events(ledger: Path, **where) -> list:
    return ledger_mod.Ledger(str(ledger)).events(**where)


@functools.cache
def site_built() -> dict:
    """`just docs` on the repository, once per test session; its duration and manifest.
    scripts/build skips Astro when dist/ already is the build of the same sources, so the
    docs gate runs in the same session (phase7.yml builds too) do not build the site again."""
    assert shutil.which("just"), "just is not on PATH: expected the just command runner (scripts/setup installs it)"
    start = time.monotonic()
    proc = run(["just", "docs"], timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest = json.loads((SITE / ".generated" / "manifest.json").read_text())
    return {"seconds": time.monotonic() - start, "manifest": manifest}


@functools.cache
def docs_gate_go() -> tuple[Path, subprocess.CompletedProcess]:
    """The real docs gate on the real repository, once: its ledger and its run."""
    tmp = Path(tempfile.mkdtemp(prefix="docs-gate-"))
    ledger = tmp / "ledger.sqlite"
    proc = playbook("phase7.yml", ledger)
    return ledger, proc


def copy_ledger(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / "ledger.sqlite"
    con_src = __import__("sqlite3").connect(str(src))
    con_dst = __import__("sqlite3").connect(str(dst))
    con_src.backup(con_dst)  # WAL-safe copy
    con_src.close()
    con_dst.close()
    return dst


def site_copy(dst: Path) -> Path:
    """A copy of docs/site for broken fixtures. node_modules is hard-linked (copied across file
    systems): Astro refuses a node_modules symlinked from outside the project."""
    skip = shutil.ignore_patterns("node_modules", "dist", ".astro", ".generated", "reference")
    shutil.copytree(SITE, dst, ignore=skip)

    def link(src: str, target: str) -> None:
        try:
            os.link(src, target)
        except OSError:
            shutil.copy2(src, target)
    shutil.copytree(SITE / "node_modules", dst / "node_modules", symlinks=True, copy_function=link)
    return dst


def last_json(text: str) -> dict:
    return json.loads(text[text.index("{"):])


@functools.cache
def inventory() -> dict:
    """`ansible-inventory --list` through the collection's clan plugin, unsafe wrappers removed."""
    proc = run([str(VENV_BIN / "ansible-inventory"), "--list"], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def plain(v):
        if isinstance(v, dict):
            return v["__ansible_unsafe"] if set(v) == {"__ansible_unsafe"} else {k: plain(x) for k, x in v.items()}
        return [plain(x) for x in v] if isinstance(v, list) else v
    return plain(json.loads(proc.stdout))


@functools.cache
def module_docs() -> dict:
    listing = json.loads(run([str(VENV_BIN / "ansible-doc"), "--json", "-t", "module", "-l", "fleet.migration"]).stdout)
    proc = run([str(VENV_BIN / "ansible-doc"), "--json", "-t", "module", *sorted(listing)])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
