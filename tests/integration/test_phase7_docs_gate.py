"""playbooks/phase7.yml, the docs gate: GO on the repository; NO-GO with the reason on broken fixtures.

The GO run is the real gate on the real repository (site built, links, pages, deprecated terms).
Broken fixtures are copies of docs/site with one defect each, built for real by the same playbook
(fleet_docs_site_dir), and an inventory with a machine the generator did not give a page.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
import docsupport as ds  # noqa: E402

pytestmark = [pytest.mark.slow]


def decision(ledger: Path):
    rows = ds.events(ledger, kind="gate", host="repository", phase=7, check="gate")
    assert rows, f"expected a phase 7 gate decision in {ledger}; found none"
    return rows[-1]


def test_go_on_the_repository() -> None:
    ledger, proc = ds.docs_gate_go()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "repository: docs gate GO" in proc.stdout
    row = decision(ledger)
    assert row.ok and row.details == "GO"
    expected = row.evidence["expected"]
    assert "cinnabar" in expected["machine"] and "ledger_record" in expected["module"]
    assert "fleet.migration.clan" in expected["plugin"]["inventory"] and "mesh_verify" in expected["role"]
    assert "fleet.migration.phase_report" in expected["plugin"]["callback"]
    assert row.evidence["pages"] >= len(expected["machine"]) + len(expected["module"]) + len(expected["role"])


def test_no_go_dead_link_and_deprecated_reference(tmp_path: Path) -> None:
    site = ds.site_copy(tmp_path / "site")
    (site / "src" / "content" / "docs" / "broken.md").write_text(
        "---\ntitle: Broken\n---\n\nSee [the old page](/no-such-page/).\n\n"
        "Hosts were wired by nixos-unified from configurations/darwin/.\n")
    ledger = tmp_path / "ledger.sqlite"
    proc = ds.playbook("phase7.yml", ledger, "-e", f"fleet_docs_site_dir={site}")
    assert proc.returncode != 0
    assert ("/broken/index.html: dead link: expected '/no-such-page/' to resolve to a page of the site; "
            "found no such file. Fix or remove the link.") in proc.stdout
    assert ("/broken/index.html: deprecated reference: expected no mention of nixos-unified "
            "(the legacy flake framework the fleet moved away from); found 'nixos-unified'") in proc.stdout
    assert "deprecated reference: expected no mention of the configurations/ tree" in proc.stdout
    row = decision(ledger)
    assert not row.ok and row.details.startswith("NO-GO: ") and "dead link" in row.details


def test_no_go_machine_without_page(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yml"
    extra.write_text("all:\n  hosts:\n    ghost:\n")
    ledger = tmp_path / "ledger.sqlite"
    proc = ds.playbook("phase7.yml", ledger, "-i", "inventory/clan.yml", "-i", str(extra))
    assert proc.returncode != 0
    assert ("ghost: missing page: expected a reference page for machine ghost at /reference/machines/ghost/; "
            "found none.") in proc.stdout
    assert not decision(ledger).ok


def test_no_go_when_the_site_does_not_build(tmp_path: Path) -> None:
    site = ds.site_copy(tmp_path / "site")
    (site / "src" / "content" / "docs" / "bad.md").write_text("---\ntitle: [unclosed\n---\n")
    ledger = tmp_path / "ledger.sqlite"
    proc = ds.playbook("phase7.yml", ledger, "-e", f"fleet_docs_site_dir={site}")
    assert proc.returncode != 0
    assert "repository: site build: expected docs/site/scripts/build to succeed; found exit code" in proc.stdout
    assert "yaml" in proc.stdout.lower(), "expected the reason to carry the build error (a YAML error)"
    assert not decision(ledger).ok
