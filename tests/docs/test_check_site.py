"""docs/site/scripts/check_site.py on small hand-made sites: each defect gives its reason."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import docsupport as ds

CHECK = ds.SITE / "scripts" / "check_site.py"
TERMS = ds.SITE / "deprecated-terms.yml"


def site(tmp: Path, pages: dict[str, str]) -> Path:
    for rel, body in pages.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><body><main>{body}</main></body></html>")
    return tmp


def check(dist: Path, expected: dict) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, str(CHECK), "--dist", str(dist), "--terms", str(TERMS),
                           "--expected-json", json.dumps(expected)], capture_output=True, text=True, check=False)
    return proc.returncode, json.loads(proc.stdout)


def test_clean_site_passes(tmp_path: Path) -> None:
    dist = site(tmp_path, {"index.html": '<a href="/reference/machines/a/#x">a</a>',
                           "reference/machines/a/index.html": '<h1 id="x">a</h1>',
                           "reference/plugins/inventory-clan/index.html": "clan"})
    rc, out = check(dist, {"machine": ["a"], "plugin": {"inventory": ["fleet.migration.clan", "other.col.x"]}})
    assert rc == 0 and out["ok"] and out["links"] == 1


def test_each_defect_is_named(tmp_path: Path) -> None:
    dist = site(tmp_path, {"index.html": '<a href="/gone/">x</a> <a href="/index.html#nope">y</a>'
                                         "<p>built with nixos-unified and homeConfigurations</p>",
                           "reference/modules/m/index.html": "m"})
    rc, out = check(dist, {"machine": ["ghost"], "module": ["m"], "role": ["r"],
                           "plugin": {"lookup": ["fleet.migration.ledger"]}})
    reasons = "\n".join(out["reasons"])
    assert rc == 1 and not out["ok"]
    assert "/index.html: dead link: expected '/gone/' to resolve to a page of the site; found no such file." in reasons
    assert "/index.html: dead link: expected anchor #nope" in reasons
    assert "ghost: missing page: expected a reference page for machine ghost at /reference/machines/ghost/" in reasons
    assert "r: missing page: expected a reference page for role r" in reasons
    assert "lookup-ledger: missing page: expected a reference page for plugin lookup-ledger" in reasons
    assert "deprecated reference: expected no mention of nixos-unified" in reasons
    assert "deprecated reference: expected no mention of standalone home-manager configurations" in reasons
    assert "m: missing page" not in reasons


def test_missing_site_fails_closed(tmp_path: Path) -> None:
    rc, out = check(tmp_path / "nothing", {})
    assert rc == 2 and "site missing: expected a built site with index.html; found none. Run just docs." in out["reasons"][0]
