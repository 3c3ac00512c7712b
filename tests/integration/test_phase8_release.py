"""playbooks/phase8.yml, the release, against a scratch git repository with real git.

The scratch repository is a copy of this collection (tracked files of the working tree) with a
history: main tagged v0.1.0, and a migration branch with commits and changelog fragments. The
phase 7 GO comes from running the real docs gate once (tests/docs/docsupport.py); CI evidence
is written by scripts/record-ci, the step CI itself runs.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
import docsupport as ds  # noqa: E402

pytestmark = [pytest.mark.slow]
COLLECTION_PATHS = ("galaxy.yml", "README.md", "COPYING", "CHANGELOG.md", "ansible.cfg", "meta", "plugins", "roles",
                    "playbooks", "changelogs", "docs")


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def scratch_repo(tmp: Path) -> Path:
    repo = tmp / "fleet"
    files = subprocess.run(["git", "-C", str(ds.REPO), "ls-files"], capture_output=True, text=True,
                           check=True).stdout.split()
    for rel in files:
        if rel.split("/")[0] not in COLLECTION_PATHS or rel.startswith(("docs/site/", "changelogs/fragments/")):
            continue
        src = ds.REPO / rel
        if src.is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / rel)
    (repo / "changelogs" / "fragments").mkdir(parents=True, exist_ok=True)
    (repo / "changelogs" / "fragments" / ".keep").write_text("")
    galaxy = repo / "galaxy.yml"
    galaxy.write_text("\n".join("version: 0.1.0" if line.startswith("version:") else line
                                for line in galaxy.read_text().splitlines()) + "\n")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "config", "user.name", "Release Test")
    git(repo, "config", "user.email", "release@test.invalid")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Release 0.1.0")
    git(repo, "tag", "-a", "v0.1.0", "-m", "0.1.0")
    git(repo, "switch", "-q", "-c", "migration")
    (repo / "playbooks" / "NOTES.md").write_text("migration notes\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "migration: first step")
    return repo


def fragment(repo: Path, name: str, section: str, text: str) -> None:
    (repo / "changelogs" / "fragments" / f"{name}.yml").write_text(yaml.safe_dump({section: [text]}))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"fragment {name}")


def record_ci(repo: Path, ledger: Path, status: str = "success", commit: str | None = None) -> None:
    argv = [str(ds.REPO / "scripts" / "record-ci"), "--status", status, "--repo", str(repo)]
    if commit:
        argv += ["--commit", commit]
    proc = ds.run(argv, FLEET_LEDGER_PATH=str(ledger))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def release(repo: Path, ledger: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    return ds.playbook("phase8.yml", ledger, "-e", f"fleet_release_repo={repo}",
                       "-e", f"fleet_release_artifacts_dir={tmp / 'artifacts'}", *extra, timeout=600)


@pytest.fixture()
def docs_go(tmp_path: Path) -> Path:
    ledger, proc = ds.docs_gate_go()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return ds.copy_ledger(ledger, tmp_path)


def test_refuses_without_docs_gate(tmp_path: Path) -> None:
    repo = scratch_repo(tmp_path)
    fragment(repo, "feature", "minor_changes", "a feature.")
    proc = release(repo, tmp_path / "none.sqlite", tmp_path)
    assert proc.returncode != 0
    assert "repository: phase7_gate: expected a recorded GO decision of the phase 7 docs gate" in proc.stdout
    assert "found no ledger at" in proc.stdout and "Run playbooks/phase7.yml until it says GO" in proc.stdout
    assert git(repo, "tag") == "v0.1.0"


def test_refuses_without_ci(tmp_path: Path, docs_go: Path) -> None:
    repo = scratch_repo(tmp_path)
    fragment(repo, "feature", "minor_changes", "a feature.")
    tip = git(repo, "rev-parse", "migration")
    proc = release(repo, docs_go, tmp_path)
    assert proc.returncode != 0
    assert (f"repository: ci_passed: expected CI recorded as passed (kind ci) for commit {tip}, the tip of "
            "migration; found no CI evidence recorded") in proc.stdout
    assert "scripts/record-ci" in proc.stdout
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", "v0.1.0^{commit}")


def test_refuses_dirty_tree(tmp_path: Path, docs_go: Path) -> None:
    repo = scratch_repo(tmp_path)
    (repo / "stray.txt").write_text("x")
    proc = release(repo, docs_go, tmp_path)
    assert proc.returncode != 0
    assert f"{repo}: release: expected a git work tree with no uncommitted changes" in proc.stdout
    assert "found uncommitted changes: ?? stray.txt" in proc.stdout


@pytest.mark.skipif(not ds.LEDGER_HAS_CI, reason=ds.NEEDS_CI_KIND)
def test_refuses_ci_failed_or_other_commit(tmp_path: Path, docs_go: Path) -> None:
    repo = scratch_repo(tmp_path)
    fragment(repo, "feature", "minor_changes", "a feature.")
    record_ci(repo, docs_go, status="failure")
    proc = release(repo, docs_go, tmp_path)
    assert proc.returncode != 0 and "found CI failure for commit" in proc.stdout
    old = git(repo, "rev-parse", "migration")
    record_ci(repo, docs_go)
    fragment(repo, "fix", "bugfixes", "a fix.")
    proc = release(repo, docs_go, tmp_path)
    assert proc.returncode != 0 and f"found CI success for commit {old}" in proc.stdout


@pytest.mark.skipif(not ds.LEDGER_HAS_CI, reason=ds.NEEDS_CI_KIND)
def test_release_end_to_end(tmp_path: Path, docs_go: Path) -> None:
    repo = scratch_repo(tmp_path)
    boundary = git(repo, "rev-parse", "main")
    fragment(repo, "feature", "minor_changes", "docs site - a feature.")
    fragment(repo, "fix", "bugfixes", "gate - a fix.")
    branch_commits = git(repo, "rev-list", "main..migration").split()
    record_ci(repo, docs_go)
    proc = release(repo, docs_go, tmp_path, "-e",
                   '{"fleet_release_bookmarks": [{"name": "pre-migration", "ref": "main"},'
                   ' {"name": "migration-end", "ref": "migration"}]}')
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # bookmarks at the branch boundaries
    assert git(repo, "rev-parse", "pre-migration^{commit}") == boundary
    assert git(repo, "rev-parse", "migration-end^{commit}") == branch_commits[0]
    # a real merge commit, every branch commit reachable, no rewrite
    merge = git(repo, "rev-parse", "main~1")
    assert len(git(repo, "rev-list", "--parents", "-n", "1", merge).split()) == 3
    for commit in branch_commits:
        subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", commit, "main"], check=True)
    # minor bump from 0.1.0, in galaxy.yml only, changelog and tag
    assert yaml.safe_load(git(repo, "show", "main:galaxy.yml"))["version"] == "0.2.0"
    assert git(repo, "rev-parse", "v0.2.0^{commit}") == git(repo, "rev-parse", "main")
    changelog = git(repo, "show", "main:CHANGELOG.md")
    assert "v0\\.2\\.0" in changelog and "docs site \\- a feature" in changelog and "gate \\- a fix" in changelog
    assert yaml.safe_load(git(repo, "show", "main:changelogs/changelog.yaml"))["releases"]["0.2.0"]
    assert git(repo, "ls-tree", "--name-only", "main", "changelogs/fragments/") in ("", "changelogs/fragments/.keep")
    # the checkout of the repository stayed on its branch
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "migration"
    artifact = tmp_path / "artifacts" / "fleet-migration-0.2.0.tar.gz"
    with tarfile.open(artifact) as tar:
        assert "MANIFEST.json" in tar.getnames()
    rows = ds.events(docs_go, kind="gate", phase=8)
    assert rows and rows[-1].ok and rows[-1].evidence["version"] == "0.2.0"
    # a second run has nothing new to release and CI has not seen the release commit: it refuses
    again = release(repo, docs_go, tmp_path)
    assert again.returncode != 0


@pytest.mark.skipif(not ds.LEDGER_HAS_CI, reason=ds.NEEDS_CI_KIND)
@pytest.mark.parametrize(("section", "expected"), [("major_changes", "1.0.0"), ("breaking_changes", "1.0.0"),
                                                   ("bugfixes", "0.1.1")])
def test_version_bump(tmp_path: Path, docs_go: Path, section: str, expected: str) -> None:
    repo = scratch_repo(tmp_path)
    fragment(repo, "change", section, "a change.")
    record_ci(repo, docs_go)
    proc = release(repo, docs_go, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert git(repo, "describe", "--tags", "--abbrev=0", "main") == f"v{expected}"


@pytest.mark.skipif(not ds.LEDGER_HAS_CI, reason=ds.NEEDS_CI_KIND)
def test_refusals_after_ci(tmp_path: Path, docs_go: Path) -> None:
    repo = scratch_repo(tmp_path)
    # no fragment: nothing to release
    record_ci(repo, docs_go)
    before = git(repo, "rev-parse", "main")
    proc = release(repo, docs_go, tmp_path)
    assert "version: expected at least one changelog fragment with changes" in proc.stdout
    assert "Nothing was merged or tagged." in proc.stdout
    assert git(repo, "rev-parse", "main") == before
    # a bookmark that would move
    fragment(repo, "feature", "minor_changes", "a feature.")
    git(repo, "tag", "-a", "pre-migration", "-m", "x", "migration")
    record_ci(repo, docs_go)
    proc = release(repo, docs_go, tmp_path, "-e", '{"fleet_release_bookmarks": [{"name": "pre-migration", "ref": "main"}]}')
    assert proc.returncode != 0 and "bookmark pre-migration: expected the tag to be absent or on" in proc.stdout
    assert "Bookmarks are never moved" in proc.stdout
    # galaxy.yml drifted from the last tag
    git(repo, "tag", "-d", "pre-migration")
    git(repo, "switch", "-q", "main")
    (repo / "galaxy.yml").write_text((repo / "galaxy.yml").read_text().replace("version: 0.1.0", "version: 0.3.0"))
    git(repo, "commit", "-qam", "bump by hand")
    git(repo, "switch", "-q", "migration")
    proc = release(repo, docs_go, tmp_path)
    assert "version: expected galaxy.yml on main to hold the version of the last tag; found version 0.3.0 and tag v0.1.0" in proc.stdout
    # a conflicting merge is aborted
    git(repo, "switch", "-q", "main")
    (repo / "galaxy.yml").write_text((repo / "galaxy.yml").read_text().replace("version: 0.3.0", "version: 0.1.0"))
    (repo / "playbooks" / "NOTES.md").write_text("conflicting notes\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "conflict")
    git(repo, "switch", "-q", "migration")
    proc = release(repo, docs_go, tmp_path)
    assert "merge: expected migration to merge into main" in proc.stdout and "The merge was aborted" in proc.stdout
