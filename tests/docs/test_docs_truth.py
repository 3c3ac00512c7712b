"""Docs that cannot drift: commands, paths, options, links and onboarding variables.

Covered documents: the site's hand-written pages (docs/site/src/content/docs), README.md and docs/*.md.

- Every shell command block is run here, or marked as needing the network or a real machine, or
  names the test that runs it (site: an HTML comment before the block; README/docs:
  docs/site/command-markers.yml, since those files belong to others). Stale registry entries fail.
- Every repository path and every fleet_* / role option named in inline code exists.
- Every relative Markdown link resolves.
- Every variable a phase reads on a real host (derived from group_vars/<class>.yml and the verify
  roles' argument specs) is named in the onboarding guide of that class.
"""
from __future__ import annotations

import glob
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import docsupport as ds

REPO = ds.REPO
SITE_DOCS = ds.SITE / "src" / "content" / "docs"
LANGS = {"sh", "bash", "shell", "console", "zsh"}
COMMAND_START = re.compile(r"^(\$ )?(scripts/|\.venv/|\. \.venv|ansible|nix |just|git |sqlite3|clan |darwin-rebuild|"
                           r"sudo |python|FLEET_|tofu|cd |gcloud|nixos-rebuild|molecule|pytest|mkdir|export|# )")
MARKER = re.compile(r"<!--\s*(needs:\s*(network|machine)|tested-by:\s*(\S+))\s*-->")
MARKERS = yaml.safe_load((ds.SITE / "command-markers.yml").read_text())
REGISTRY = MARKERS["commands"]
NOT_PATHS = {(e["file"], e["token"]) for e in MARKERS["not_repository_paths"]}


def site_pages() -> list[Path]:
    return sorted(p for p in SITE_DOCS.rglob("*.md*") if "reference" not in p.relative_to(SITE_DOCS).parts)


def other_docs() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks(path: Path) -> list[dict]:
    """Shell blocks: fenced sh/bash/shell/console, and 4-space indented blocks that start with a command."""
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\w*)", lines[i])
        if m:
            indent, lang, j, body = len(m.group(1)), m.group(2), i + 1, []
            while j < len(lines) and not lines[j].strip().startswith("```"):
                body.append(lines[j][indent:])
                j += 1
            if lang in LANGS:
                out.append({"line": i + 1, "body": body, "before": lines[max(0, i - 2):i]})
            i = j + 1
            continue
        if lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()) and COMMAND_START.match(lines[i][4:]):
            j, body = i, []
            while j < len(lines) and lines[j].startswith("    "):
                body.append(lines[j][4:])
                j += 1
            out.append({"line": i + 1, "body": body, "before": lines[max(0, i - 2):i]})
            i = j
            continue
        i += 1
    for b in out:
        b["first"] = b["body"][0].removeprefix("$ ").strip() if b["body"] else ""
        b["script"] = "\n".join(line.removeprefix("$ ") for line in b["body"])
    return out


def classify(path: Path, block: dict) -> dict:
    rel = str(path.relative_to(REPO))
    if re.search(r"python -m pytest|^pytest", block["script"], re.M):
        return {"pytest": True}
    for line in block["before"]:
        m = MARKER.search(line)
        if m:
            return {"needs": m.group(2)} if m.group(2) else {"tested_by": m.group(3)}
    for entry in REGISTRY:
        if entry["file"] == rel and block["first"].startswith(entry["prefix"]):
            return entry
    # Only the site's own unmarked commands run unasked; elsewhere a command must be classified
    # (running an unknown command from someone else's page could boot VMs or touch hosts).
    return {"run": True} if path.is_relative_to(SITE_DOCS) else {"unclassified": True}


def all_blocks():
    for path in site_pages() + other_docs():
        for block in blocks(path):
            yield path, block, classify(path, block)


def test_every_command_is_run_or_marked(tmp_path: Path) -> None:
    problems, ran = [], 0
    for path, block, how in all_blocks():
        where = f"{path.relative_to(REPO)}:{block['line']} `{block['first']}`"
        if how.get("pytest"):
            for token in re.findall(r"tests/[\w/*.\-]+", block["script"]):
                if not glob.glob(str(REPO / token)):
                    problems.append(f"{where}: names test {token}, which does not exist")
        elif how.get("tested_by"):
            test = REPO / how["tested_by"]
            if not test.is_file():
                problems.append(f"{where}: marked tested-by {how['tested_by']}, which does not exist")
            elif how.get("token") and how["token"] not in test.read_text():
                problems.append(f"{where}: {how['tested_by']} does not mention {how['token']!r}")
        elif how.get("unclassified"):
            problems.append(f"{where}: not classified: add it to docs/site/command-markers.yml (needs, tested_by or run)")
        elif how.get("needs"):
            assert how["needs"] in ("network", "machine"), where
        else:
            # Unmarked: run it, offline, with a scratch ledger, from the repository root.
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block["script"]], cwd=REPO,
                                  env=ds.env(FLEET_LEDGER_PATH=str(tmp_path / "ledger.sqlite")),
                                  capture_output=True, text=True, timeout=300, check=False)
            ran += 1
            if proc.returncode != 0:
                problems.append(f"{where}: ran it and it failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}; "
                                "fix the command or mark it <!-- needs: network|machine -->")
    assert not problems, "\n".join(problems)
    assert ran >= 3, f"expected the unmarked commands to run; ran {ran}"


def test_not_paths_are_still_named() -> None:
    stale = [e for e in MARKERS["not_repository_paths"] if e["token"] not in inline_code(REPO / e["file"])]
    assert not stale, f"docs/site/command-markers.yml: not_repository_paths no longer in their file: {stale}"


def test_registry_has_no_stale_entries() -> None:
    firsts = {(str(p.relative_to(REPO)), b["first"]) for p in other_docs() for b in blocks(p)}
    stale = [e for e in REGISTRY if not any(f == e["file"] and first.startswith(e["prefix"]) for f, first in firsts)]
    assert not stale, f"docs/site/command-markers.yml: entries whose command is gone: {stale}"


def test_marker_convention_is_enforced(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- needs: network -->\n```sh\nnix build .#x\n```\n\n```sh\nfalse-command --x\n```\n")
    got = list(blocks(page))
    assert [b["first"] for b in got] == ["nix build .#x", "false-command --x"]
    assert MARKER.search(got[0]["before"][0]).group(2) == "network"
    assert not any(MARKER.search(x) for x in got[1]["before"])


# --- paths and options ----------------------------------------------------------------------------

TOP = {p.split("/")[0] for p in subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True,
                                               check=True).stdout.split()}
# Created at run time, not committed: caches, reports, the built site, clan's vars store.
GENERATED = (".cache", "reports", "artifacts", "tests/output", "docs/site/dist", "result", "vars/shared/",
             "vars/per-machine/")
OPTION = re.compile(r"^(fleet|ssh_cert_verify|mesh_verify|secrets_verify|firewall_verify|service_health|"
                    r"regression_verify|rollback)_[a-z0-9_]+$")


def inline_code(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return re.findall(r"`([^`\n]+)`", text)


def path_patterns(token: str) -> list[str]:
    token = token.strip().rstrip(".,:;)")
    token = re.sub(r"<[^>]+>", "*", token)
    token = re.sub(r"phaseN", "phase*", token)
    m = re.search(r"\{([^}]+)\}", token)
    if m:
        return [p for alt in m.group(1).split(",") for p in path_patterns(token.replace(m.group(0), alt, 1))]
    return [token]


def looks_like_path(token: str) -> bool:
    if " " in token or token.startswith(("http", "$", "-", "/")) or "=" in token or ".#" in token:
        return False
    first = token.split("/")[0]
    return "/" in token and (first in TOP or token.startswith(GENERATED))


def known_identifiers() -> str:
    files = [*REPO.glob("playbooks/**/*.yml"), *REPO.glob("roles/**/*.yml"), *REPO.glob("inventory/**/*.yml"),
             *REPO.glob("plugins/**/*.py"), *REPO.glob("scripts/*"), *REPO.glob("tests/vm/*.py"),
             *REPO.glob("molecule/**/*.yml")]
    return "\n".join(f.read_text(errors="replace") for f in files if f.is_file())


@pytest.mark.parametrize("path", site_pages() + other_docs(), ids=lambda p: str(p.relative_to(REPO)))
def test_paths_and_options_exist(path: Path) -> None:
    known = known_identifiers()
    problems = []
    rel = str(path.relative_to(REPO))
    for token in inline_code(path):
        if (rel, token) in NOT_PATHS:
            continue
        if "::" in token and token.split("::")[0].endswith(".py"):
            # A pytest node id: the file exists and defines the test.
            file, name = token.split("::", 1)
            found = [REPO / file] if (REPO / file).is_file() else sorted(REPO.glob(f"tests/**/{file}"))
            if not found or f"def {name.split('[')[0]}(" not in found[0].read_text():
                problems.append(f"test {token!r} does not exist")
            continue
        if looks_like_path(token):
            for pattern in path_patterns(token):
                if pattern.startswith(GENERATED):
                    continue
                if not glob.glob(str(REPO / pattern)):
                    problems.append(f"path {token!r} ({pattern}) does not exist")
        for word in re.findall(r"[a-z][a-z0-9_]+", token):
            if OPTION.match(word) and not re.search(rf"\b{word}\b", known):
                problems.append(f"option {word!r} is defined nowhere in playbooks, roles, inventory or plugins")
    assert not problems, f"{path.relative_to(REPO)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", other_docs() + site_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path: Path) -> None:
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        target = target.split("#")[0]
        if path.is_relative_to(SITE_DOCS) and target.startswith("/"):
            continue  # site-internal links are checked on the built site (check_site.py, phase 7)
        if not (path.parent / target).exists():
            problems.append(f"link {target!r} does not resolve")
    assert not problems, f"{path.relative_to(REPO)}:\n" + "\n".join(problems)


# --- onboarding variables --------------------------------------------------------------------------

def needed_on_a_real_host(cls: str) -> set[str]:
    """group_vars/<class>.yml, the host facts the class's verify roles read by default, and role
    options whose default comes from the environment or is required."""
    gv = yaml.safe_load((REPO / "inventory" / "group_vars" / f"{cls}.yml").read_text())
    need = set(gv) | {"ansible_host", "ansible_user"}
    for role in gv["fleet_verify_roles"]:
        spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
        for name, opt in spec["argument_specs"]["main"]["options"].items():
            default = str(opt.get("default", ""))
            if opt.get("required") or "lookup(" in default:
                need.add(name)
            need.update(re.findall(r"\b(fleet_[a-z_]+|ansible_(?:host|user|port))\b", default))
    return need - {"fleet_ledger_path", "fleet_run_id", "fleet_phase", "fleet_record_evidence"}


@pytest.mark.parametrize("cls", ["darwin", "nixos"])
def test_onboarding_guide_names_every_variable(cls: str) -> None:
    guide = (SITE_DOCS / "onboarding" / f"{cls}.md").read_text()
    missing = sorted(v for v in needed_on_a_real_host(cls) if f"`{v}`" not in guide)
    assert not missing, f"onboarding/{cls}.md: expected every variable a {cls} phase reads on a real host; missing {missing}"


def test_darwin_guide_names_checkout_and_baseline() -> None:
    guide = (SITE_DOCS / "onboarding" / "darwin.md").read_text()
    assert "`fleet_host_flake`" in guide and "checkout on the Mac" in guide
    assert "`regression_verify_baseline_file`" in guide and "FLEET_BASELINE_FILE" in guide
