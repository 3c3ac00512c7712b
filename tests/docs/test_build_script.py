"""docs/site/scripts/build runs Astro only when dist/ is not already the build of these exact sources.

A copy of the site's sources (no node_modules) with a stub generator and a fake `npx` that
counts its runs and writes a page: the real script decides when Astro runs. The real build is
tested in test_site.py; this is the cache, which keeps a test session to one Astro build.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import docsupport as ds

FAKE_NPX = """#!/bin/sh
# Stands in for `npx astro build`: counts the run and writes what a build writes.
echo "$*" >> "$NPX_LOG"
mkdir -p dist && echo "<html>built</html>" > dist/index.html
"""
STUB_GEN = """import pathlib
pathlib.Path(".generated").mkdir(exist_ok=True)
pathlib.Path(".generated/manifest.json").write_text('{"pages": []}')
"""


def _site(tmp: Path) -> tuple[Path, dict]:
    site = tmp / "site"
    shutil.copytree(ds.SITE, site, ignore=shutil.ignore_patterns("node_modules", "dist", ".astro", ".generated",
                                                                 "reference", ".build-stamp"))
    (site / "scripts" / "gen_reference.py").write_text(STUB_GEN)
    (site / "node_modules").mkdir()
    (site / "node_modules" / ".package-lock.json").write_text("{}")  # newer than package-lock.json: no npm ci
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "npx").write_text(FAKE_NPX)
    (bin_dir / "npx").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", NPX_LOG=str(tmp / "npx.log"),
               FLEET_DOCS_REPO=str(tmp / "no-repo"))
    env.pop("FLEET_DOCS_REBUILD", None)
    return site, env


def _build(site: Path, env: dict, **extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(site / "scripts" / "build")], env={**env, **extra}, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _astro_runs(tmp: Path) -> int:
    log = tmp / "npx.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_astro_runs_once_for_the_same_sources(tmp_path: Path) -> None:
    site, env = _site(tmp_path)
    _build(site, env)
    assert _astro_runs(tmp_path) == 1
    again = _build(site, env)
    assert _astro_runs(tmp_path) == 1, "expected the second build of unchanged sources to skip Astro"
    assert "docs: dist/ is already built from these sources; not rebuilt (FLEET_DOCS_REBUILD=1 rebuilds)" \
        in again.stderr


def test_a_changed_source_a_touched_dist_or_the_override_rebuilds(tmp_path: Path) -> None:
    site, env = _site(tmp_path)
    _build(site, env)
    page = next((site / "src" / "content" / "docs").glob("*.md*"))
    page.write_text(page.read_text() + "\nOne more line.\n")
    _build(site, env)
    assert _astro_runs(tmp_path) == 2, f"expected a rebuild after {page.name} changed"
    (site / "dist" / "index.html").write_text("<html>edited by hand</html>")
    _build(site, env)
    assert _astro_runs(tmp_path) == 3, "expected a rebuild after dist/ was changed"
    _build(site, env, FLEET_DOCS_REBUILD="1")
    assert _astro_runs(tmp_path) == 4, "expected FLEET_DOCS_REBUILD=1 to rebuild"
