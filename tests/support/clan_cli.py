"""The real clan CLI for tests: install it, find it, read its argument parser.

scripts/install-clan-cli puts clan-core's pkgs/clan-cli (the revision
flake.lock pins) into its own venv, .cache/clan-cli-venv; nothing here or there
is part of the product. Tests call :func:`installed` and skip with the reason
it gives when the CLI cannot be had.

(Imported as ``support.clan_cli``; never put tests/support itself on sys.path,
or this module would shadow the real ``clan_cli`` package.)
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "scripts" / "install-clan-cli"
VENV = Path(os.environ.get("CLAN_CLI_VENV", REPO / ".cache" / "clan-cli-venv"))
CLAN = VENV / "bin" / "clan"
PYTHON = VENV / "bin" / "python"
FAKES = REPO / "tests" / "fakes"

# Runs in the clan venv's Python: describes the argparse parsers of the real CLI
# (clan_cli.cli.create_parser, pkgs/clan-cli/clan_cli/cli.py) and of our fake
# (tests/fakes/fake_clan.py build_parser) for each subcommand path in argv[2].
_DESCRIBE = r"""
import argparse, json, sys

def subparser(parser, path):
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if name not in action.choices:
            return None
        parser = action.choices[name]
    return parser

def describe(parser):
    if parser is None:
        return None
    actions = []
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        actions.append({"options": a.option_strings, "dest": a.dest, "nargs": a.nargs,
                        "required": a.required, "choices": sorted(map(str, a.choices)) if a.choices else None})
    groups = [sorted(o for a in g._group_actions for o in (a.option_strings or ["<" + a.dest + ">"]))
              for g in parser._mutually_exclusive_groups]
    return {"actions": actions, "exclusive": sorted(groups)}

sys.path.insert(0, sys.argv[1])
import fake_clan
from clan_cli.cli import create_parser
real, fake = create_parser(), fake_clan.build_parser()
paths = json.loads(sys.argv[2])
json.dump({" ".join(p): {"real": describe(subparser(real, p)), "fake": describe(subparser(fake, p))}
           for p in paths}, sys.stdout)
"""


@functools.lru_cache(maxsize=None)
def installed() -> tuple[Path | None, str]:
    """``(path of the real clan, "")``, or ``(None, why not)``; installs at most once per session."""
    if not shutil.which("git"):
        return None, "git is not on PATH (scripts/install-clan-cli reads the clan-core mirror with it)"
    proc = subprocess.run([str(INSTALLER)], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not CLAN.exists():
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return None, "scripts/install-clan-cli failed: %s" % (lines[-1] if lines else "exit %d" % proc.returncode)
    return CLAN, ""


def nix_select_missing() -> str:
    """Why the installed clan cannot evaluate a flake, or "" when it can.

    Every `clan` evaluation builds an expression over clan_lib/runtime-deps/nix-select
    (clan_lib/flake/flake.py get_from_nix; clan_lib/dirs select_source).
    """
    code = "import clan_lib, os; print(os.path.dirname(clan_lib.__file__))"
    site = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    select = Path(site) / "runtime-deps" / "nix-select"
    if (select / "flake.nix").exists():
        return ""
    return ("clan evaluates every selector through nix-select (clan_lib/flake/flake.py get_from_nix), expected at "
            "%s; it is not there: nix-select (flake.lock node nix-select, git.clan.lol/clan/nix-select) has no git "
            "mirror here, is not in the nix store and cannot be fetched offline; rerun scripts/install-clan-cli "
            "online or with CLAN_NIX_SELECT_SRC=<nix-select checkout>" % select)


def parser_descriptions(paths: list[tuple[str, ...]]) -> dict:
    """``{"machines update": {"real": ..., "fake": ...}, ...}`` (None where a parser lacks the command)."""
    proc = subprocess.run([str(PYTHON), "-c", _DESCRIBE, str(FAKES), json.dumps(paths)], capture_output=True,
                          text=True, timeout=120, check=False, cwd=str(REPO))
    if proc.returncode != 0:
        raise RuntimeError("describing the clan parsers failed:\n%s" % proc.stderr)
    return json.loads(proc.stdout)


def offline_locked_copy(flake: Path, dest: Path, override_flags: tuple[str, ...]) -> Path:
    """A git copy of ``flake``'s tracked files at ``dest`` whose flake.lock applies ``override_flags``.

    The clan CLI hands nix only ``--option NAME VALUE`` pairs (clan_cli/cli.py
    AppendOptionAction), never ``--override-input``, so offline it must be given
    a flake whose own lock already points nixpkgs at the local mirror. Only the
    lock differs from ``flake``; the copy lives in a temporary directory.
    """
    listed = subprocess.run(["git", "-C", str(flake), "ls-files", "-z", "--cached"], capture_output=True,
                            check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = flake / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-C", str(dest), "-c", "user.name=test", "-c", "user.email=test@invalid"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    flags = [f for f in override_flags if f != "--no-write-lock-file"]
    if flags:
        proc = subprocess.run(["nix", "flake", "lock", str(dest), *flags], capture_output=True, text=True,
                              timeout=300, check=False)
        if proc.returncode != 0:
            raise RuntimeError("nix flake lock of the offline copy failed:\n%s" % proc.stderr)
        subprocess.run(git + ["add", "-A"], check=True)
    return dest


def parsed_selectors(selectors: dict[str, str]) -> dict:
    """``{key: [selector dicts]}``: ``selectors`` parsed by the real CLI's parser
    (clan_lib/flake/flake.py parse_selector), as it hands them to nix-select."""
    code = ("import json, sys\nfrom clan_lib.flake.flake import parse_selector, selectors_as_dict\n"
            "print(json.dumps({k: selectors_as_dict(parse_selector(s)) for k, s in json.loads(sys.argv[1]).items()}))")
    proc = subprocess.run([str(PYTHON), "-c", code, json.dumps(selectors)], capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        raise RuntimeError("the real clan CLI could not parse the selectors:\n%s" % proc.stderr)
    return json.loads(proc.stdout)


# A stand-in for nix-select's applySelectors (which is not available here),
# covering only the selector types parse_selector produced for CLAN_SELECTORS:
# str (one attribute), all (every attribute), set (the listed attributes, an
# absent "maybe" entry left out) and maybe (`{name = ...;}` when the attribute
# exists, else `{}`), as clan's flake cache returns them (clan_lib/flake/flake.py
# FlakeCacheEntry.select).
# `nix eval --apply` function over the flake's outputs; `parsed` is spliced in as JSON.
SELECT_STAND_IN = """
outputs:
let
  apply = sels: v:
    if sels == [ ] then v
    else
      let s = builtins.head sels; rest = builtins.tail sels; in
      if s.type == "str" then apply rest v.${s.value}
      else if s.type == "maybe" then
        (if builtins.isAttrs v && v ? ${s.value} then { ${s.value} = apply rest v.${s.value}; } else { })
      else if s.type == "all" then builtins.mapAttrs (_: apply rest) v
      else if s.type == "set" then
        (if !(builtins.isAttrs v) && builtins.all (x: x.type == "maybe") s.value then { }
        else builtins.listToAttrs (map (x: { name = x.value; value = apply rest v.${x.value}; })
          (builtins.filter (x: x.type != "maybe" || v ? ${x.value}) s.value)))
      else throw "selector type ${s.type} is not covered by this stand-in";
in builtins.mapAttrs (_: sels: apply sels outputs) (builtins.fromJSON PARSED)
"""


def select_stand_in_apply(parsed: dict) -> str:
    """SELECT_STAND_IN with ``parsed`` (from :func:`parsed_selectors`) spliced in."""
    text = json.dumps(parsed)
    if "''" in text or "${" in text:
        raise ValueError("selectors that cannot be put in a nix '' string: %s" % text)
    return SELECT_STAND_IN.replace("PARSED", "''%s''" % text)
