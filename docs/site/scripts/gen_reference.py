"""Generate the reference pages of the documentation site from the sources of truth.

Run at every build (`docs/site/scripts/build`), never by hand-copying:

- modules and plugins: ``ansible-doc --json`` over the collection (ANSIBLE_CONFIG=ansible.cfg,
  collection at .collections);
- roles: ``roles/<name>/meta/argument_specs.yml``;
- machines: ``ansible-inventory --list`` through the collection's clan inventory plugin;
- gate thresholds: ``inventory/group_vars/all.yml`` (values and the comments above them).

Output goes to ``src/content/docs/reference/`` (git-ignored) plus ``.generated/manifest.json``,
the list of pages the site must contain; the docs gate (playbooks/phase7.yml) checks against
the sources again rather than trusting this manifest.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

SITE = Path(__file__).resolve().parent.parent
REPO = SITE.parent.parent
COLLECTION = "fleet.migration"
# Plugin types ansible-doc knows that this collection may ship; empty types are skipped.
PLUGIN_TYPES = ("inventory", "callback", "filter", "lookup", "test", "connection", "become")


def _env(repo: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(repo / "ansible.cfg")
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    # The offline nix helper sits next to the main checkout; worktrees point FLEET_SHARED at it.
    shared = repo.parent / "shared"
    if "FLEET_SHARED" not in env and shared.is_dir():
        env["FLEET_SHARED"] = str(shared)
    return env


def _bin(repo: Path, name: str) -> str:
    venv = repo / ".venv" / "bin" / name
    return str(venv) if venv.exists() else name


def run_json(repo: Path, argv: list[str]) -> Any:
    proc = subprocess.run(argv, cwd=repo, env=_env(repo), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"gen_reference: {' '.join(argv)} failed (exit {proc.returncode}): expected JSON; found: "
                 f"{(proc.stderr or proc.stdout).strip()[-2000:]}. Fix the collection or inventory and rebuild.")
    return json.loads(proc.stdout)


def unsafe(value: Any) -> Any:
    """Strip Ansible's {"__ansible_unsafe": ...} wrappers from ansible-inventory output."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unsafe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsafe(v) for v in value]
    return value


# --- Ansible doc markup (C(), O(), M(), L(), U() ...) to Markdown -------------------------------

_MARKUP = re.compile(r"\b(C|O|V|RV|E|P|I|B|U|M|L|R)\(((?:[^()]|\([^()]*\))*)\)|HORIZONTALLINE")


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _esc(text: str) -> str:
    """Escape plain text for Markdown that Astro also parses as HTML."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("{", "&#123;").replace("}", "&#125;").replace("*", r"\*").replace("_", r"\_"))


def markup(text: Any) -> str:
    if isinstance(text, list):
        return "\n\n".join(markup(t) for t in text)
    if text is None:
        return ""
    text = str(text)
    out, pos = [], 0
    for m in _MARKUP.finditer(text):
        out.append(_esc(text[pos:m.start()]))
        pos = m.end()
        kind, arg = m.group(1), m.group(2)
        if kind is None:
            out.append("\n\n---\n\n")
        elif kind in ("C", "O", "V", "RV", "E", "P"):
            out.append(_code(arg))
        elif kind == "I":
            out.append(f"*{_esc(arg)}*")
        elif kind == "B":
            out.append(f"**{_esc(arg)}**")
        elif kind == "U":
            out.append(f"<{arg}>")
        elif kind == "M":
            if arg.startswith(COLLECTION + "."):
                out.append(f"[{_code(arg)}](/reference/modules/{arg.rsplit('.', 1)[1]}/)")
            else:
                out.append(_code(arg))
        elif kind == "L":
            label, _sep, url = arg.rpartition(",")
            out.append(f"[{_esc(label.strip())}]({url.strip()})")
        elif kind == "R":
            out.append(_esc(arg.rsplit(",", 1)[0]))
    out.append(_esc(text[pos:]))
    return "".join(out)


def frontmatter(title: str, description: str) -> str:
    return "---\n" + yaml.safe_dump({"title": title, "description": description}, sort_keys=False,
                                    allow_unicode=True, width=1000) + "---\n\n"


def options_table(options: dict[str, Any], prefix: str = "") -> list[str]:
    rows = []
    for name in sorted(options):
        spec = options[name] or {}
        kind = spec.get("type", "str")
        if spec.get("elements"):
            kind += f" of {spec['elements']}"
        extra = []
        if spec.get("required"):
            extra.append("**required**")
        if "default" in spec and spec["default"] is not None:
            extra.append("default: " + _code(json.dumps(spec["default"])))
        if spec.get("choices"):
            extra.append("choices: " + ", ".join(_code(str(c)) for c in spec["choices"]))
        desc = markup(spec.get("description", "")).replace("\n\n", "<br/>").replace("\n", " ").replace("|", "\\|")
        cell = "; ".join(extra).replace("|", "\\|")  # a pipe inside a code span still ends a table cell
        rows.append(f"| {_code(prefix + name)} | {kind} | {cell} | {desc} |")
        for sub_key in ("suboptions", "options", "contains"):
            if isinstance(spec.get(sub_key), dict):
                rows.extend(options_table(spec[sub_key], prefix + name + "."))
    return rows


def doc_page(kind: str, fqcn: str, data: dict[str, Any]) -> str:
    doc = data.get("doc") or {}
    short = markup(doc.get("short_description", "")) or fqcn
    lines = [frontmatter(fqcn, f"{kind} {fqcn}: {doc.get('short_description', '')}")]
    lines.append(f"*{kind}* · generated from `ansible-doc --json -t {kind} {fqcn}`\n")
    lines.append(f"{short}\n")
    lines.append(markup(doc.get("description", "")) + "\n")
    if doc.get("options"):
        lines.append("## Options\n")
        lines.append("| Option | Type | Required / default | Description |")
        lines.append("|---|---|---|---|")
        lines.extend(options_table(doc["options"]))
        lines.append("")
    if doc.get("attributes"):
        lines.append("## Attributes\n")
        lines.append("| Attribute | Support | Description |\n|---|---|---|")
        for name, attr in sorted(doc["attributes"].items()):
            desc = markup(attr.get("description", "")).replace("\n", " ").replace("|", "\\|")
            lines.append(f"| {_code(name)} | {attr.get('support', '')} | {desc} |")
        lines.append("")
    if doc.get("notes"):
        lines.append("## Notes\n")
        lines.extend(f"- {markup(n)}" for n in doc["notes"])
        lines.append("")
    examples = data.get("examples")
    if examples:
        lines.append("## Examples\n")
        lines.append("```yaml\n" + examples.strip("\n") + "\n```\n")
    returns = data.get("return") or {}
    if returns:
        lines.append("## Return values\n")
        lines.append("| Key | Type | Returned | Description |\n|---|---|---|---|")
        for row in _return_rows(returns):
            lines.append(row)
        lines.append("")
    return "\n".join(lines)


def _return_rows(returns: dict[str, Any], prefix: str = "") -> list[str]:
    rows = []
    for name in sorted(returns):
        spec = returns[name] or {}
        desc = markup(spec.get("description", "")).replace("\n", " ").replace("|", "\\|")
        rows.append(f"| {_code(prefix + name)} | {spec.get('type', '')} | {_esc(str(spec.get('returned', '')))} "
                    f"| {desc} |")
        if isinstance(spec.get("contains"), dict):
            rows.extend(_return_rows(spec["contains"], prefix + name + "."))
    return rows


def role_page(name: str, specs: dict[str, Any]) -> str:
    fqcn = f"{COLLECTION}.{name}"
    main = specs.get("argument_specs", {}).get("main", {})
    lines = [frontmatter(fqcn, f"role {fqcn}: {main.get('short_description', '')}")]
    lines.append(f"*role* · generated from `roles/{name}/meta/argument_specs.yml`\n")
    for entry, spec in sorted(specs.get("argument_specs", {}).items()):
        lines.append(f"## Entry point `{entry}`\n")
        lines.append(markup(spec.get("short_description", "")) + "\n")
        lines.append(markup(spec.get("description", "")) + "\n")
        if spec.get("options"):
            lines.append("| Option | Type | Required / default | Description |\n|---|---|---|---|")
            lines.extend(options_table(spec["options"]))
            lines.append("")
    lines.append("## Use\n")
    lines.append("```yaml\n- name: Verify\n  ansible.builtin.include_role:\n"
                 f"    name: {fqcn}\n```\n")
    return "\n".join(lines)


def machine_page(name: str, hv: dict[str, Any], groups: list[str]) -> str:
    cls = hv.get("clan_machine_class", "")
    lines = [frontmatter(name, f"machine {name}: {hv.get('clan_description', '')}")]
    lines.append("*machine* · generated from the clan inventory (`ansible-inventory --list`)\n")
    lines.append(_esc(hv.get("clan_description", "")) + "\n")
    guide = "/onboarding/darwin/" if cls == "darwin" else "/onboarding/nixos/"
    target = f"{hv.get('ansible_user', '')}@{hv.get('ansible_host', '')}"
    lines.append("| Fact | Value |\n|---|---|")
    lines.append(f"| Class | `{cls}` (onboarding: [{cls}]({guide})) |")
    lines.append(f"| Phase | `{hv.get('fleet_phase', '')}` ([phases](/phases/)) |")
    lines.append("| Tags | " + ", ".join(_code(t) for t in hv.get("clan_tags", [])) + " |")
    lines.append("| Ansible groups | " + ", ".join(_code(g) for g in groups) + " |")
    lines.append(f"| Deploy target | `{target}` |")
    lines.append(f"| Deploy method | `{hv.get('fleet_deploy_method', '')}` |")
    roles = ", ".join(f"[`{r}`](/reference/roles/{r}/)" for r in hv.get("fleet_verify_roles", []))
    lines.append(f"| Verify roles | {roles} |")
    lines.append("")
    services = hv.get("clan_services") or {}
    modules = hv.get("clan_service_modules") or {}
    lines.append("## Services\n")
    if services:
        lines.append("| Instance | Clan service | Roles |\n|---|---|---|")
        for inst in sorted(services):
            lines.append(f"| `{inst}` | `{modules.get(inst, '')}` | "
                         + ", ".join(_code(r) for r in services[inst]) + " |")
    else:
        lines.append("No clan service instance.")
    lines.append("")
    secrets = hv.get("fleet_expected_secrets") or []
    if secrets:
        lines.append("## Secrets deployed (from the vars generators)\n")
        lines.append("| Path | Owner | Mode |\n|---|---|---|")
        for s in secrets:
            lines.append(f"| `{s.get('path')}` | `{s.get('owner')}` | `{s.get('mode')}` |")
        lines.append("")
    return "\n".join(lines)


def gate_page(repo: Path) -> str:
    """Thresholds with the comment block above each variable, from group_vars/all.yml."""
    path = repo / "inventory" / "group_vars" / "all.yml"
    text = path.read_text()
    values = yaml.safe_load(text)
    comments: dict[str, str] = {}
    block: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            block.append(line.lstrip("# ").rstrip())
        elif re.match(r"^[a-z_]+:", line):
            comments[line.split(":", 1)[0]] = " ".join(block)
            block = []
        elif not line.strip():
            block = []
    lines = [frontmatter("Gate thresholds", "The phase gate thresholds, from inventory/group_vars/all.yml")]
    lines.append("*generated from `inventory/group_vars/all.yml`* — override any of them with `-e`.\n")
    lines.append("| Variable | Value | Meaning |\n|---|---|---|")
    for name, value in values.items():
        if not name.startswith("fleet_gate_") and name != "fleet_rollback_plan_paths":
            continue
        shown = json.dumps(value)
        if isinstance(value, int) and name.endswith("_minutes"):
            shown += f" ({value / 1440:g} days)" if value >= 1440 else ""
        lines.append(f"| `{name}` | `{shown}` | {_esc(comments.get(name, ''))} |")
    lines.append("")
    return "\n".join(lines)


def write(path: Path, text: str, manifest: list[str], out: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    manifest.append(str(path.relative_to(out).with_suffix("")))


def generate(repo: Path, out: Path) -> dict[str, list[str]]:
    if out.exists():
        shutil.rmtree(out)
    manifest: list[str] = []
    found: dict[str, list[str]] = {"modules": [], "plugins": [], "roles": [], "machines": []}

    listing = run_json(repo, [_bin(repo, "ansible-doc"), "--json", "-t", "module", "-l", COLLECTION])
    names = sorted(listing)
    docs = run_json(repo, [_bin(repo, "ansible-doc"), "--json", "-t", "module", *names]) if names else {}
    for fqcn in names:
        short = fqcn.rsplit(".", 1)[1]
        write(out / "modules" / f"{short}.md", doc_page("module", fqcn, docs[fqcn]), manifest, out)
        found["modules"].append(short)

    for ptype in PLUGIN_TYPES:
        listing = run_json(repo, [_bin(repo, "ansible-doc"), "--json", "-t", ptype, "-l", COLLECTION])
        names = sorted(n for n in listing if n.startswith(COLLECTION + "."))
        if not names:
            continue
        docs = run_json(repo, [_bin(repo, "ansible-doc"), "--json", "-t", ptype, *names])
        for fqcn in names:
            short = fqcn.rsplit(".", 1)[1]
            write(out / "plugins" / f"{ptype}-{short}.md", doc_page(ptype, fqcn, docs[fqcn]), manifest, out)
            found["plugins"].append(f"{ptype}-{short}")

    for spec_file in sorted((repo / "roles").glob("*/meta/argument_specs.yml")):
        role = spec_file.parent.parent.name
        write(out / "roles" / f"{role}.md", role_page(role, yaml.safe_load(spec_file.read_text())), manifest, out)
        found["roles"].append(role)

    inv = unsafe(run_json(repo, [_bin(repo, "ansible-inventory"), "--list"]))
    hostvars = inv.get("_meta", {}).get("hostvars", {})
    membership: dict[str, list[str]] = {h: [] for h in hostvars}
    for group, body in inv.items():
        if group in ("_meta", "all") or not isinstance(body, dict):
            continue
        for host in body.get("hosts", []):
            membership.setdefault(host, []).append(group)
    for host in sorted(hostvars):
        write(out / "machines" / f"{host}.md", machine_page(host, hostvars[host], sorted(membership[host])),
              manifest, out)
        found["machines"].append(host)

    rows = ["| Machine | Class | Phase | Description |", "|---|---|---|---|"]
    for host in sorted(hostvars):
        hv = hostvars[host]
        rows.append(f"| [{host}](/reference/machines/{host}/) | `{hv.get('clan_machine_class')}` | "
                    f"`{hv.get('fleet_phase')}` | {_esc(hv.get('clan_description', ''))} |")
    write(out / "machines.md", frontmatter("Machines", "Every machine of the clan inventory")
          + "*generated from the clan inventory*\n\n" + "\n".join(rows) + "\n", manifest, out)
    write(out / "gates.md", gate_page(repo), manifest, out)

    index = [frontmatter("Reference", "Generated reference: modules, plugins, roles, machines, gates"),
             "Everything under *Reference* is generated at every build from the code and the inventory "
             "(`docs/site/scripts/gen_reference.py`); nothing here is edited by hand.\n"]
    for section, items in found.items():
        index.append(f"## {section.capitalize()}\n")
        for item in items:
            index.append(f"- [{item}](/reference/{section}/{item}/)")
        index.append("")
    index.append("## Gates\n\n- [Gate thresholds](/reference/gates/)\n")
    write(out / "index.md", "\n".join(index), manifest, out)

    gen = SITE / ".generated"
    gen.mkdir(exist_ok=True)
    (gen / "manifest.json").write_text(json.dumps({"pages": sorted(manifest), **found}, indent=1) + "\n")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--out", type=Path, default=SITE / "src" / "content" / "docs" / "reference")
    args = parser.parse_args()
    found = generate(args.repo.resolve(), args.out.resolve())
    print(json.dumps({k: len(v) for k, v in found.items()}))


if __name__ == "__main__":
    main()
