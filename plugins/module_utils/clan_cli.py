# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
"""What clan_machine and clan_vars both need from the clan CLI: its argv and `clan vars check`.

Why shared: both modules ask `clan vars check` which vars are missing (clan_machine
before a check-mode build, clan_vars before generating), and reading that report
wrongly in one of them would make a broken machine look ready.
"""
from __future__ import annotations

import re

from ansible_collections.fleet.migration.plugins.module_utils.runner import CommandError

# clan_cli/vars/check.py logs "Check results for machine '<m>': " and then one
# "  - generator/file" line per missing var (clan's logger may prefix "[machine] ").
CHECK_REPORT = "Check results for machine"
MISSING_LINE = re.compile(r"^(?:\[[^\]]*\] )?\s+- (\S+/\S+)\s*$", re.M)


def clan_argv(params: dict, subcommand: list[str]) -> list[str]:
    """``clan <subcommand> --flake F [--option NAME VALUE]...`` from the modules' common options.

    clan takes nix settings only as ``--option NAME VALUE`` pairs (clan_cli/cli.py).
    """
    argv = [params["clan_bin"]] + list(subcommand) + ["--flake", params["flake"]]
    for name, value in sorted((params.get("nix_options") or {}).items()):
        argv += ["--option", str(name), str(value)]
    return argv


def missing_vars(runner, argv: list[str], hint: str) -> list[str]:
    """The ``generator/file`` names a ``clan vars check`` argv reports missing, in clan's order.

    Exit 1 means "vars missing" only after clan printed its report; without the
    report it is a ClanError (unknown machine or generator), raised as CommandError.
    """
    result = runner.run(argv, ok_rcs=(0, 1), hint=hint)
    output = result.stderr + "\n" + result.stdout
    if result.rc == 1 and CHECK_REPORT not in output:
        raise CommandError("exit", result.argv, result.rc, result.stdout, result.stderr, hint)
    return MISSING_LINE.findall(output)
