"""Contract fake of `clan select` over a fixed document of flake outputs (the inventory plugin's source: clan_cli).

Kept apart from fake_clan.py (machines and vars), which it does not share state with.

Upstream (clan-core d7c35d9, pkgs/clan-cli):
  clan_cli/select.py        `select SELECTOR [--impure]`, with the global --flake, --option NAME VALUE, --debug;
                            prints json.dumps(value, indent=4)
  clan_lib/flake/flake.py   parse_selector: `.`-separated steps; `*` every attribute; `{a,?b}` the listed ones;
                            `?a` maybe; `"a.b"` quoted; `\\` escapes. FlakeCacheEntry.select: a maybe step
                            gives `{a: ...}` when `a` exists, else `{}`; a set leaves out an absent maybe entry;
                            an absent plain attribute fails in nix ("attribute 'a' missing").
                            ClanSelectError.__str__: "Error on: $ clan select 'S'" then "  Reason: DESC. Use flag
                            '--debug' to see full nix trace." (DESC: the text after nix's last "error:").
                            get_from_nix: for "attribute 'clan' missing" DESC is "This flake does not export the
                            'clan' attribute. ..." instead.
  clan_cli/cli.py           a ClanError is logged (log.error) and the exit status is 1; argparse errors exit 2.

The document is the JSON file $FAKE_CLAN_OUTPUTS: the flake's outputs as nix-select would see them. Every
argv is appended to $FAKE_CLAN_STATE/calls.jsonl when that is set.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ALL, STR, SET, MAYBE = "all", "str", "set", "maybe"


class SelectError(Exception):
    """What nix reports when a selector cannot be applied (the DESC of ClanSelectError)."""


def parse_selector(selector: str) -> list[tuple[str, object]]:
    """``[(type, value)]`` steps; a set's value is ``[(maybe, name)]``. The grammar of flake.py parse_selector."""
    steps: list[tuple[str, object]] = []
    i, n = 0, len(selector)

    def name(stop: str) -> tuple[str, int]:
        nonlocal i
        out = []
        while i < n and selector[i] not in stop:
            c = selector[i]
            if c == "\\" and i + 1 < n:
                out.append(selector[i + 1])
                i += 2
            elif c == '"':
                end = selector.index('"', i + 1)
                out.append(selector[i + 1:end])
                i = end + 1
            else:
                out.append(c)
                i += 1
        return "".join(out), i

    while i < n:
        c = selector[i]
        if c == "*":
            steps.append((ALL, None))
            i += 1
        elif c == "{":
            i += 1
            entries = []
            while i < n and selector[i] != "}":
                maybe = selector[i] == "?"
                i += maybe
                value, i = name(",}")
                entries.append((maybe, value))
                i += selector[i] == "," if i < n else 0
            if i >= n:
                raise ValueError("expected empty stack, but got ['set']")
            steps.append((SET, entries))
            i += 1
        elif c == "?":
            i += 1
            value, i = name(".")
            steps.append((MAYBE, value))
        else:
            value, i = name(".")
            steps.append((STR, value))
        if i < n:
            if selector[i] != ".":
                raise ValueError("expected ., but got %s" % selector[i])
            i += 1
    return steps


def _attr(value, key: str):
    if not isinstance(value, dict):
        raise SelectError("expected a set but found %s" % ("a list" if isinstance(value, list) else "a value"))
    if key not in value:
        raise SelectError("attribute '%s' missing" % key)
    return value[key]


def apply(steps: list, value):
    """The value ``steps`` select from ``value``, as nix-select and clan's flake cache give it."""
    if not steps:
        return value
    (kind, arg), rest = steps[0], steps[1:]
    if kind == STR:
        return apply(rest, _attr(value, arg))
    if kind == MAYBE:
        return {arg: apply(rest, value[arg])} if isinstance(value, dict) and arg in value else {}
    if kind == ALL:
        if isinstance(value, list):
            return [apply(rest, v) for v in value]
        if not isinstance(value, dict):
            raise SelectError("expected a set but found a value")
        return {k: apply(rest, v) for k, v in value.items()}
    if not isinstance(value, dict):
        if all(maybe for maybe, _name in arg):
            return {}
        raise SelectError("expected a set but found %s" % ("a list" if isinstance(value, list) else "a value"))
    return {key: apply(rest, _attr(value, key)) for maybe, key in arg if not maybe or key in value}


def main() -> int:
    state = os.environ.get("FAKE_CLAN_STATE")
    if state:
        with open(os.path.join(state, "calls.jsonl"), "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"argv": ["clan"] + sys.argv[1:], "cwd": os.getcwd()}) + "\n")
    parser = argparse.ArgumentParser(prog="clan")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--option", nargs=2, action="append", default=[])
    parser.add_argument("--flake", default=".")
    sub = parser.add_subparsers(dest="group", required=True)
    select = sub.add_parser("select")
    select.add_argument("--debug", action="store_true")
    select.add_argument("--option", nargs=2, action="append", default=[])
    select.add_argument("--flake", default=".")
    select.add_argument("--impure", action="store_true")
    select.add_argument("selector")
    args = parser.parse_args()
    with open(os.environ["FAKE_CLAN_OUTPUTS"], encoding="utf-8") as handle:
        outputs = json.load(handle)
    try:
        value = apply(parse_selector(args.selector), outputs)
    except SelectError as exc:
        reason = str(exc)
        if reason == "attribute 'clan' missing":
            reason = ("This flake does not export the 'clan' attribute. \n"
                      "Please write 'clan = clan.config;' into the outputs of your flake.nix.")
        sys.stderr.write("Error on: $ clan select '%s'\n  Reason: %s. Use flag '--debug' to see full nix trace.\n"
                         % (args.selector, reason))
        return 1
    print(json.dumps(value, indent=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
