"""Packaging as Ansible users expect: the artifact holds only the collection, the version lives in
galaxy.yml alone, action_groups name real modules (tests/unit/test_module_defaults.py: and are used
with module_defaults), and the installed ansible-core is inside requires_ansible."""
from __future__ import annotations

import subprocess
import tarfile
import tomllib
from pathlib import Path

import yaml
from ansible.module_utils.compat.version import LooseVersion
from ansible.release import __version__ as ansible_version

import docsupport as ds

REPO = ds.REPO
ALLOWED_TOP = {"MANIFEST.json", "FILES.json", "README.md", "COPYING", "CHANGELOG.md", "meta", "plugins", "roles",
               "playbooks", "docs", "changelogs"}


def build(tmp: Path) -> Path:
    proc = ds.run([str(ds.VENV_BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(tmp)])
    assert proc.returncode == 0, f"ansible-galaxy collection build: expected exit 0; found {proc.returncode}: {proc.stderr}"
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    return tmp / f"fleet-migration-{version}.tar.gz"


def test_artifact_holds_only_the_collection(tmp_path: Path) -> None:
    with tarfile.open(build(tmp_path)) as tar:
        names = tar.getnames()
    top = {n.split("/")[0] for n in names}
    assert top <= ALLOWED_TOP, (f"artifact: expected only the collection's top-level entries {sorted(ALLOWED_TOP)}; "
                                f"found also {sorted(top - ALLOWED_TOP)}. Add them to build_ignore in galaxy.yml.")
    for banned in ("tests/", "docs/site", ".github", "modules/", "flake.nix", ".venv", ".cache", "molecule/",
                   "changelogs/fragments", "scripts/", "node_modules"):
        found = [n for n in names if n.startswith(banned) or (banned == "node_modules" and f"/{banned}" in n)]
        assert not found, (f"artifact: expected no {banned} (not part of the collection); found {found[:5]}. "
                           "Add it to build_ignore in galaxy.yml.")
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "plugins", "roles", "meta", "playbooks"],
                             capture_output=True, text=True, check=True).stdout.split()
    missing = [t for t in tracked if t not in names and not t.endswith("__init__.py")]
    assert not missing, (f"artifact: expected every tracked collection file; found {missing} missing. "
                         "Remove them from build_ignore in galaxy.yml.")
    assert "changelogs/changelog.yaml" in names


def test_version_lives_only_in_galaxy_yml() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project.get("dynamic", []), \
        "pyproject.toml: expected no version (dynamic); the version lives in galaxy.yml"
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    released = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text())["releases"]
    assert max(released, key=LooseVersion) == version, "galaxy.yml must hold the latest released version"


def test_requires_ansible_range_holds_the_tested_core() -> None:
    from ansible.galaxy.dependency_resolution.versioning import meets_requirements
    spec = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["requires_ansible"]
    assert "<" in spec, f"requires_ansible {spec!r}: expected an upper bound (a tested range)"
    assert meets_requirements(ansible_version, spec), f"ansible-core {ansible_version} is outside {spec}"
    pinned = next(d for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
                  if d.startswith("ansible-core=="))
    assert meets_requirements(pinned.split("==")[1], spec)
    assert not meets_requirements("2.16.0", spec)


def test_action_groups_name_real_modules_and_are_used() -> None:
    groups = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["action_groups"]
    modules = {p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__"}
    for name, members in groups.items():
        assert set(members) <= modules, (f"meta/runtime.yml action group {name}: expected modules of the collection; "
                                         f"found unknown {sorted(set(members) - modules)}. Fix the group.")
    assert set(groups["all"]) == modules, (f"meta/runtime.yml action group all: expected every module {sorted(modules)}; "
                                           f"found {sorted(groups['all'])}. List every module.")
    # Used: tests/unit/test_module_defaults.py checks that every play running a ledger module sets
    # module_defaults for group/fleet.migration.ledger.
