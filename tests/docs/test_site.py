"""The documentation site, built in the test run (`just docs`) and opened in headless Chromium.

Chromium comes from Debian's package (/usr/bin/chromium), driven by playwright-core from
docs/site/node_modules (tests/docs/browser.mjs); no browser is downloaded. Screenshots of the
home page and a machine page are kept in tests/output/screenshots (a CI artifact).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import docsupport as ds

pytestmark = [pytest.mark.slow]
SHOTS = ds.REPO / "tests" / "output" / "screenshots"


@pytest.fixture(scope="session")
def built() -> dict:
    return ds.site_built()


def test_just_docs_builds_every_reference_page(built: dict) -> None:
    manifest = built["manifest"]
    for page in manifest["pages"]:
        path = ds.DIST / "reference" / page / "index.html"
        if page == "index":
            path = ds.DIST / "reference" / "index.html"
        assert path.is_file(), f"{page}: expected {path} in the built site; found none"
    assert (ds.DIST / "pagefind" / "pagefind.js").is_file(), "expected the Pagefind index in dist/pagefind"
    print(f"docs build: {built['seconds']:.0f} s")


def test_browser(built: dict) -> None:
    chromium = shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "expected Chromium at /usr/bin/chromium: apt-get install -y chromium"
    manifest = built["manifest"]
    pages = [("reference/" if p != "index" else "reference") + (p + "/" if p != "index" else "/")
             for p in manifest["pages"]]
    machine = manifest["machines"][0]
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    proc = subprocess.run(["node", str(Path(__file__).with_name("browser.mjs")), "--dist", str(ds.DIST),
                           "--site", str(ds.SITE), "--pages", ",".join(pages), "--machine", machine,
                           "--shots", str(SHOTS), "--chromium", chromium],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    result = ds.last_json(proc.stdout)
    assert result["ok"], "\n".join(result["failures"]) + proc.stderr[-2000:]
    assert result["rendered"] == len(pages)
    assert result["search"] == f"/reference/machines/{machine}/"
    for shot in ("home.png", f"machine-{machine}.png"):
        assert (SHOTS / shot).stat().st_size > 10_000, f"expected a screenshot {shot}"
