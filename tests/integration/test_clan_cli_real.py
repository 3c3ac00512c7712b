"""The real clan CLI (clan-core's pkgs/clan-cli at the flake.lock revision) against our code.

1. Contract: every flag, positional, choice and exclusive group our fake
   (tests/fakes/fake_clan.py) accepts for the commands our modules run exists
   the same way in the real CLI's argparse tree (clan_cli.cli.create_parser).
2. `source: clan_cli`: `ansible-inventory --list` through the real `clan select`
   equals the `source: nix` inventory of the same flake.

The CLI is installed by scripts/install-clan-cli into .cache/clan-cli-venv (test
only). Tests skip, naming the reason, when it cannot be installed or cannot
evaluate (it needs nix-select, see support.clan_cli.nix_select_missing).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support import clan_cli
from support import nix as nixsupport
from support.ansible_json import unwrap  # noqa: E402

pytestmark = [pytest.mark.nix, pytest.mark.slow]

ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")
# The commands plugins/modules/clan_machine.py and clan_vars.py run (docs/MODULES.md), and
# `vars get`, which the terraform module's EXAMPLES read the state passphrase with.
CONTRACT_COMMANDS = [("machines", "update"), ("machines", "install"), ("machines", "build"),
                     ("vars", "generate"), ("vars", "check"), ("vars", "list"), ("vars", "get")]


@pytest.fixture(scope="module")
def clan() -> Path:
    path, reason = clan_cli.installed()
    if path is None:
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def parsers(clan) -> dict:
    return clan_cli.parser_descriptions([list(c) for c in CONTRACT_COMMANDS])


# ---------------------------------------------------------------- fake vs real argparse


@pytest.mark.parametrize("command", [" ".join(c) for c in CONTRACT_COMMANDS])
def test_fake_clan_accepts_only_what_the_real_cli_accepts(parsers, command):
    real, fake = parsers[command]["real"], parsers[command]["fake"]
    assert real is not None, "the real clan CLI has no '%s' command" % command
    assert fake is not None, "tests/fakes/fake_clan.py has no '%s' command" % command
    real_by_option = {o: a for a in real["actions"] for o in a["options"]}
    problems = []
    for action in fake["actions"]:
        if not action["options"]:
            continue
        for option in action["options"]:
            theirs = real_by_option.get(option)
            if theirs is None:
                problems.append("%s: the real CLI has no %s" % (command, option))
                continue
            for key in ("dest", "nargs", "required"):
                if action[key] != theirs[key]:
                    problems.append("%s %s: %s is %r in the fake, %r in the real CLI"
                                    % (command, option, key, action[key], theirs[key]))
            if action["choices"] and not set(action["choices"]) <= set(theirs["choices"] or []):
                problems.append("%s %s: choices %s in the fake, %s in the real CLI"
                                % (command, option, action["choices"], theirs["choices"]))
    positionals = [(a["dest"], a["nargs"]) for a in fake["actions"] if not a["options"]]
    real_positionals = [(a["dest"], a["nargs"]) for a in real["actions"] if not a["options"]]
    if positionals != real_positionals:
        problems.append("%s: positionals %s in the fake, %s in the real CLI" % (command, positionals, real_positionals))
    for group in fake["exclusive"]:
        if group not in real["exclusive"]:
            problems.append("%s: exclusive group %s is not one in the real CLI (%s)"
                            % (command, group, real["exclusive"]))
    assert not problems, "\n".join(problems)


def test_fake_clan_global_flags_exist_in_the_real_cli(parsers):
    # --flake/--option/--debug are registered on every subcommand by clan_cli/cli.py register_common_flags.
    for command in parsers:
        options = {o for a in parsers[command]["real"]["actions"] for o in a["options"]}
        assert {"--flake", "--option", "--debug"} <= options, command


# ---------------------------------------------------------------- source: clan_cli vs source: nix


def inventory_list(tmp_path: Path, name: str, config: str) -> dict:
    """`ansible-inventory --list` of one clan.yml with `config`, without caching."""
    (tmp_path / "ansible.cfg").write_text(textwrap.dedent(f"""\
        [defaults]
        collections_path = {clan_cli.REPO / '.collections'}
        [inventory]
        enable_plugins = fleet.migration.clan
        unparsed_is_failed = True
        """))
    inv = tmp_path / ("%s.clan.yml" % name)
    inv.write_text("plugin: fleet.migration.clan\n" + config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(tmp_path / "ansible.cfg")
    proc = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(inv), "--list"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr
    return unwrap(json.loads(proc.stdout))


def test_clan_cli_source_equals_nix_source(clan, tmp_path):
    missing = clan_cli.nix_select_missing()
    if missing:
        pytest.skip(missing)
    # Offline, the CLI gets a copy of the flake whose lock already holds the offline override.
    flake = clan_cli.offline_locked_copy(clan_cli.REPO, tmp_path / "flake", nixsupport.offline_flags())
    via_nix = inventory_list(tmp_path, "nix", "flake: %s\n" % clan_cli.REPO)
    via_clan = inventory_list(tmp_path, "cli", "source: clan_cli\nclan_bin: %s\nflake: %s\ntimeout: 600\n"
                              % (clan, flake))
    machines = nixsupport.inventory()
    hostvars = via_clan["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(machines)
    for name, machine in machines.items():
        assert hostvars[name]["clan_tags"] == machine["tags"], name
        assert hostvars[name]["clan_machine_class"] == machine["machineClass"], name
        assert "%s@%s" % (hostvars[name]["ansible_user"], hostvars[name]["ansible_host"]) \
            == machine["deploy"]["targetHost"], name
    # Everything else (groups, services, phases, ports) is the same as through nix.
    assert via_clan == via_nix


def test_clan_selectors_parse_and_select_the_same_hosts_as_nix(clan):
    """Without nix-select: the real CLI's selector parser, a stand-in for nix-select, the real flake.

    Verifies that every CLAN_SELECTORS entry is valid clan selector syntax, that
    what it names in this flake is JSON (nix-select hands it to builtins.toJSON),
    and that from_clan_select maps it to the hosts the nix source gives. How
    nix-select itself applies them is test_clan_cli_source_equals_nix_source's job.
    """
    from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory

    parsed = clan_cli.parsed_selectors(clan_inventory.CLAN_SELECTORS)
    assert set(parsed) == set(clan_inventory.CLAN_SELECTORS)
    selected = nixsupport.nix_eval(".", apply=clan_cli.select_stand_in_apply(parsed))
    via_selectors = clan_inventory.build_hosts(clan_inventory.from_clan_select(selected))
    via_nix = clan_inventory.build_hosts(nixsupport.nix_eval(".", apply=clan_inventory.INVENTORY_APPLY))
    assert sorted(via_selectors) == sorted(nixsupport.inventory())
    assert via_selectors == via_nix


def test_fake_clan_select_parses_selectors_as_the_real_cli(clan):
    """tests/fakes/fake_clan_select.py reads every CLAN_SELECTORS entry (and the shapes around them) as clan does."""
    sys.path.insert(0, str(clan_cli.FAKES))
    import fake_clan_select  # pylint: disable=import-outside-toplevel,import-error
    from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory

    def as_dicts(steps):
        out = []
        for kind, value in steps:
            if kind == "all":
                out.append({"type": "all"})
            elif kind == "set":
                out.append({"type": "set", "value": [{"type": "maybe" if maybe else "str", "value": name}
                                                     for maybe, name in value]})
            else:
                out.append({"type": kind, "value": value})
        return out

    selectors = dict(clan_inventory.CLAN_SELECTORS, quoted='a."b.c".?d.{e,?f}', star="*.x")
    real = clan_cli.parsed_selectors(selectors)
    assert {k: as_dicts(fake_clan_select.parse_selector(s)) for k, s in selectors.items()} == real
