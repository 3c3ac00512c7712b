"""Check a built documentation site (docs/site/dist): the evidence of the phase 7 docs gate.

Checks, each failure becoming one reason line naming the page and what to do:

- every internal link (``href``/``src`` of a, link, img, script) resolves to a file of the site, and
  every ``#fragment`` to an element id of its target page;
- every expected machine, module, plugin and role (passed by the caller, derived from the inventory
  and the collection, not from the generator's own manifest) has its reference page;
- no page's text matches a deprecated-architecture term (YAML list of {term, pattern, why}).

Prints one JSON object: {"ok": bool, "reasons": [...], "pages": n, "links": n, "external_links": n}.
Exit code 0 when ok, 1 otherwise, 2 when the site is missing.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

SECTIONS = {"machine": "machines", "module": "modules", "plugin": "plugins", "role": "roles"}


class _Page(HTMLParser):
    """Collects links, element ids and visible text (scripts, styles and the search UI left out)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key) and tag in ("a", "link", "img", "script", "source"):
                self.links.append(a[key])
        if tag in ("script", "style", "template"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def _target(dist: Path, page: Path, link: str) -> tuple[Path | None, str]:
    parts = urlsplit(link)
    path = unquote(parts.path)
    if not path:
        return page, parts.fragment
    base = dist if path.startswith("/") else page.parent
    candidate = (base / path.lstrip("/")).resolve()
    for option in (candidate, candidate / "index.html", candidate.with_suffix(".html")):
        if option.is_file():
            return option, parts.fragment
    return None, parts.fragment


def check(dist: Path, expected: dict[str, list[str]], terms: list[dict]) -> dict:
    reasons: list[str] = []
    pages = {p.resolve(): None for p in dist.rglob("*.html")}
    parsed: dict[Path, _Page] = {}
    for page in pages:
        parser = _Page()
        parser.feed(page.read_text(errors="replace"))
        parsed[page] = parser
    links = external = 0
    for page, parser in sorted(parsed.items()):
        rel = "/" + str(page.relative_to(dist.resolve()))
        for link in parser.links:
            if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I) or link.startswith("//"):
                external += 1  # offline: external links are counted, not fetched
                continue
            links += 1
            target, fragment = _target(dist.resolve(), page, link)
            if target is None:
                reasons.append(f"{rel}: dead link: expected {link!r} to resolve to a page of the site; "
                               "found no such file. Fix or remove the link.")
            elif fragment and target in parsed and unquote(fragment) not in parsed[target].ids:
                reasons.append(f"{rel}: dead link: expected anchor #{fragment} in {link!r}; found no element "
                               "with that id. Fix the anchor.")
    for kind, names in expected.items():
        for name in names:
            page = dist / "reference" / SECTIONS[kind] / name / "index.html"
            if not page.is_file():
                reasons.append(f"{name}: missing page: expected a reference page for {kind} {name} at "
                               f"/reference/{SECTIONS[kind]}/{name}/; found none. Rebuild the site "
                               "(just docs); if it persists, fix docs/site/scripts/gen_reference.py.")
    for page, parser in sorted(parsed.items()):
        rel = "/" + str(page.relative_to(dist.resolve()))
        text = html.unescape(" ".join(parser.text))
        for term in terms:
            m = re.search(term["pattern"], text, re.IGNORECASE)
            if m:
                reasons.append(f"{rel}: deprecated reference: expected no mention of {term['term']} "
                               f"({term.get('why', 'deprecated architecture')}); found {m.group(0)!r}. "
                               "Describe the current architecture instead.")
    return {"ok": not reasons, "reasons": reasons, "pages": len(parsed), "links": links,
            "external_links": external}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, required=True)
    parser.add_argument("--expected-json", default="{}", help='JSON {"machine": [...], "module": [...], ...}')
    parser.add_argument("--terms", type=Path, required=True, help="YAML file with deprecated_terms: [...]")
    args = parser.parse_args()
    if not (args.dist / "index.html").is_file():
        reason = f"{args.dist}: site missing: expected a built site with index.html; found none. Run just docs."
        print(json.dumps({"ok": False, "reasons": [reason]}))
        sys.exit(2)
    expected = json.loads(args.expected_json)
    if isinstance(expected.get("plugin"), dict):  # {type: [fqcn]} -> ["<type>-<name>"] of this collection
        expected["plugin"] = sorted(f"{ptype}-{fqcn.rsplit('.', 1)[1]}" for ptype, names in expected["plugin"].items()
                                    for fqcn in names if fqcn.startswith("fleet.migration."))
    unknown = set(expected) - set(SECTIONS)
    if unknown:
        sys.exit(f"check_site: expected kinds {sorted(SECTIONS)}; found {sorted(unknown)}")
    terms = yaml.safe_load(args.terms.read_text())["deprecated_terms"]
    result = check(args.dist, expected, terms)
    print(json.dumps(result, indent=1))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
