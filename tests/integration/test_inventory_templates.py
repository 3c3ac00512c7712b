"""`ansible-inventory --list` on clans made from clan-core's own templates (issue 14).

The flakes are generated per session by tests/fixtures/clans/make_clan.py from
`templates/clan/{default,flake-parts,minimal}` of the clan-core input in the
nix store (the revision flake.lock pins), with machines added, and evaluated
offline like this repository. Every expectation is read back from the
generated flake with `nix eval`; clan-core's own role resolution
(`clan._services`, as in tests/integration/test_inventory_real.py) is the
oracle for service roles.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support import nix as nixsupport
from support.ansible_json import unwrap  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "clans"))
from make_clan import make_clan  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.nix

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")
# (template, variant): the three templates as `clan init` makes them, and the
# default one with the clan exported only under clanInternals.
CLANS = [("default", "clan"), ("flake-parts", "clan"), ("minimal", "clan"), ("default", "internals")]
FLEET_FACTS = ["fleet_domain", "fleet_expected_secrets", "fleet_phase", "fleet_ports", "fleet_public_surface"]
CLAN_RESOLVED_ROLES = """
services: builtins.foldl' (acc: svc: acc // builtins.mapAttrs (inst: i:
  builtins.mapAttrs (role: r: builtins.attrNames (r.machines or { })) (i.roles or { }))
  (svc.instances or { })) { } (builtins.attrValues services.allServices)
"""


def inventory_of(flake: Path, root: Path) -> tuple[dict, str]:
    """(`ansible-inventory --list` of a five-line clan.yml on ``flake``, its stderr)."""
    (root / "clan.yml").write_text("plugin: fleet.migration.clan\nflake: %s\n" % flake)
    (root / "ansible.cfg").write_text(textwrap.dedent(f"""\
        [defaults]
        collections_path = {REPO / '.collections'}
        [inventory]
        enable_plugins = fleet.migration.clan
        unparsed_is_failed = True
        """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(root / "ansible.cfg")
    proc = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(root / "clan.yml"), "--list"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return unwrap(json.loads(proc.stdout)), proc.stderr


@pytest.fixture(scope="module", params=CLANS, ids=["%s-%s" % c for c in CLANS])
def clan(request, tmp_path_factory) -> dict:
    template, variant = request.param
    root = tmp_path_factory.mktemp("clan-%s-%s" % (template, variant))
    flake = make_clan(template, root / "flake", variant)
    # Read where every clan-core flake has it, so the internals variant is read the same way.
    machines = nixsupport.nix_eval("clanInternals.inventoryClass.inventory.machines", flake=flake)
    listed, stderr = inventory_of(flake, root)
    return {"flake": flake, "template": template, "variant": variant, "machines": machines, "stderr": stderr,
            "listed": listed}


def members(listed: dict, group: str) -> set[str]:
    node = listed.get(group, {})
    hosts = set(node.get("hosts", []))
    for child in node.get("children", []):
        hosts |= members(listed, child)
    return hosts


def test_machines_are_hosts(clan):
    assert clan["machines"], "the generated clan has no machines"
    assert set(clan["listed"]["_meta"]["hostvars"]) == set(clan["machines"])


def test_groups_per_tag_and_class(clan):
    machines, listed = clan["machines"], clan["listed"]
    for tag in {t for m in machines.values() for t in m["tags"]} - {"all"}:
        assert members(listed, re.sub(r"[^A-Za-z0-9_]", "_", tag)) == \
            {n for n, m in machines.items() if tag in m["tags"]}, tag
    for cls in ("nixos", "darwin"):
        assert members(listed, cls) == {n for n, m in machines.items() if m["machineClass"] == cls}, cls
    assert {m["machineClass"] for m in machines.values()} == {"nixos", "darwin"}


# What each deploy.targetHost of make_clan.MACHINES must become.
TARGETS = {
    "root@alpha.example.org:2222": {"ansible_host": "alpha.example.org", "ansible_port": 2222, "ansible_user": "root"},
    "admin@[2001:db8::1]:22": {"ansible_host": "2001:db8::1", "ansible_port": 22, "ansible_user": "admin"},
    "root@2001:db8::2": {"ansible_host": "2001:db8::2", "ansible_user": "root"},
    None: {},
}


def test_deploy_targets_keep_user_port_and_ipv6(clan):
    for name, machine in clan["machines"].items():
        hv = clan["listed"]["_meta"]["hostvars"][name]
        got = {k: hv[k] for k in ("ansible_host", "ansible_port", "ansible_user") if k in hv}
        assert got == TARGETS[machine["deploy"]["targetHost"]], name
        if machine["deploy"]["targetHost"] is None:
            assert "machine '%s' has no deploy.targetHost" % name in " ".join(clan["stderr"].split())


def test_clan_variables_come_from_the_inventory(clan):
    for name, machine in clan["machines"].items():
        hv = clan["listed"]["_meta"]["hostvars"][name]
        assert (hv["clan_machine_name"], hv["clan_machine_class"], hv["clan_tags"]) == \
            (name, machine["machineClass"], machine["tags"])


def test_service_roles_match_clan_resolution(clan, tmp_path):
    if clan["variant"] == "internals":
        # No `clan` output, so no clan._services to ask: the clan under clanInternals
        # must list exactly what the same template lists with the output.
        with_output, _stderr = inventory_of(make_clan(clan["template"], tmp_path / "flake"), tmp_path)
        assert clan["listed"] == with_output
        return
    resolved = nixsupport.nix_eval("clan._services", apply=CLAN_RESOLVED_ROLES, flake=clan["flake"])
    assert resolved, "the template clan has no service instances"
    for name in clan["machines"]:
        expected = {inst: sorted(r for r, ms in roles.items() if name in ms) for inst, roles in resolved.items()}
        assert clan["listed"]["_meta"]["hostvars"][name]["clan_services"] == \
            {inst: roles for inst, roles in expected.items() if roles}, name


def test_fleet_facts_are_reported_missing_not_invented(clan):
    for name, hv in clan["listed"]["_meta"]["hostvars"].items():
        assert hv["fleet_facts_missing"] == FLEET_FACTS, name
        assert not [var for var in FLEET_FACTS if var in hv], name


# ---------------------------------------------------------------- the clan modules on the template clans
#
# clan_machine and clan_vars get the template clan's flake and a machine of its
# inventory, and the deploy target the plugin listed for it. The clan CLI cannot
# evaluate offline (nix-select is missing, tests/support/clan_cli.py), so the
# clan contract fake (tests/fakes/fake_clan.py) stands in; it knows the machines
# and deploy targets read from the template clan with `nix eval` and nothing else
# (its generator is a placeholder: NixOS configurations do not evaluate offline).


def deploy_target(hostvars: dict) -> str:
    """clan's --target-host from the plugin's variables, as inventory/group_vars/nixos.yml fleet_deploy_target."""
    host = hostvars["ansible_host"]
    address = "%s@%s" % (hostvars.get("ansible_user", "root"), "[%s]" % host if ":" in host else host)
    return address + (":%d" % hostvars["ansible_port"] if "ansible_port" in hostvars else "")


@pytest.fixture
def fake_clan(clan, tmp_path, monkeypatch):
    """The clan fake's state for ``clan``'s NixOS machines with a deploy target; returns {machine: target}."""
    from fakes import install, path_with  # pylint: disable=import-outside-toplevel
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("FAKE_CLAN_STATE", str(state))
    monkeypatch.setenv("PATH", path_with(install(tmp_path / "bin", ["clan", "ssh"])))
    monkeypatch.chdir(tmp_path)  # nothing is read from the working directory
    shutil.rmtree(clan["flake"] / "vars", ignore_errors=True)  # the flake is shared by the module's tests
    hostvars = clan["listed"]["_meta"]["hostvars"]
    targets = {name: deploy_target(hostvars[name]) for name, m in clan["machines"].items()
               if m["machineClass"] == "nixos" and m["deploy"]["targetHost"]}
    machines = {name: {"targetHost": clan["machines"][name]["deploy"]["targetHost"],
                       "toplevel": "/nix/store/%s-nixos-system-%s-26.05" % ("a" * 32, name),
                       "generators": {"placeholder": {"files": {"key": {"secret": True}, "key.pub": {"secret": False}}}}}
                for name in targets}
    (state / "flake.json").write_text(json.dumps({"machines": machines}))
    return {"state": state, "targets": targets}


def fake_calls(state: Path) -> list[list[str]]:
    return [json.loads(line)["argv"] for line in (state / "calls.jsonl").read_text().splitlines()]


def test_template_clan_has_nixos_machines_with_ipv6_and_port_targets(clan, fake_clan):
    assert sorted(fake_clan["targets"]) == ["alpha", "gamma"]
    assert fake_clan["targets"] == {"alpha": "root@alpha.example.org:2222", "gamma": "root@[2001:db8::2]"}


def test_clan_vars_on_a_template_clan(clan, fake_clan):
    from fakes.harness import run_module  # pylint: disable=import-outside-toplevel
    flake = str(clan["flake"])
    for machine in fake_clan["targets"]:
        first = run_module("clan_vars", {"machine": machine, "flake": flake})
        assert not first["failed"], first
        assert first["changed"] is True and first["missing_after"] == []
        assert sorted(first["files"]) == [
            "%s/vars/per-machine/%s/placeholder/key.pub/value" % (flake, machine),
            "%s/vars/per-machine/%s/placeholder/key/secret" % (flake, machine)]
        again = run_module("clan_vars", {"machine": machine, "flake": flake})
        assert again["changed"] is False, again
        check = run_module("clan_vars", {"machine": machine, "flake": flake, "action": "check"})
        assert check["missing"] == [] and len(check["files"]) == 2
    for argv in fake_calls(fake_clan["state"]):
        assert argv[:2] == ["clan", "vars"] and argv[argv.index("--flake") + 1] == flake, argv
        assert argv[3] in fake_clan["targets"], argv
    # Only clan's own vars directory was written into the template clan.
    status = subprocess.run(["git", "-C", flake, "status", "--porcelain", "--untracked-files=all"],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    assert {line[3:].split("/", 1)[0] for line in status if line} == {"vars"}


def test_clan_machine_on_a_template_clan(clan, fake_clan):
    from fakes.harness import run_module  # pylint: disable=import-outside-toplevel
    flake = str(clan["flake"])
    for machine, target in fake_clan["targets"].items():
        args = {"machine": machine, "flake": flake, "target_host": target}
        plan = run_module("clan_machine", args, check_mode=True)
        assert not plan["failed"] and plan["missing_vars"] == ["placeholder/key", "placeholder/key.pub"], plan
        first = run_module("clan_machine", args)
        assert not first["failed"], first
        assert first["changed"] is True and first["running_system"] == "/nix/store/%s-nixos-system-%s-26.05" \
            % ("a" * 32, machine)
        assert run_module("clan_machine", args)["changed"] is False
    calls = fake_calls(fake_clan["state"])
    updates = [c for c in calls if c[:3] == ["clan", "machines", "update"]]
    assert [(c[3], c[c.index("--flake") + 1], c[c.index("--target-host") + 1]) for c in updates] == \
        [(m, flake, t) for m, t in fake_clan["targets"].items() for _run in (1, 2)]
    probes = {c[-2] for c in calls if c[0] == "ssh"}
    assert probes == {"root@alpha.example.org", "root@2001:db8::2"}
    assert all(c[c.index("-p") + 1] == "2222" for c in calls if c[0] == "ssh" and "root@alpha.example.org" in c)


# ---------------------------------------------------------------- source: clan_cli on the template clans


def test_clan_cli_selectors_give_the_nix_source_hosts(clan):
    """CLAN_SELECTORS as the real clan CLI parses them, applied to the template clan by the nix-select stand-in
    (tests/support/clan_cli.py; nix-select itself is missing offline), map to the hosts the nix source gives:
    no `clan` output needed, no `fleet` output needed."""
    from support import clan_cli  # pylint: disable=import-outside-toplevel
    from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory  # pylint: disable=import-outside-toplevel
    path, reason = clan_cli.installed()
    if path is None:
        pytest.skip(reason)
    parsed = clan_cli.parsed_selectors(clan_inventory.CLAN_SELECTORS)
    selected = nixsupport.nix_eval(".", apply=clan_cli.select_stand_in_apply(parsed), flake=clan["flake"])
    assert selected["fleet"] == {}, "a template clan has no fleet output"
    via_selectors = clan_inventory.build_hosts(clan_inventory.from_clan_select(selected))
    assert via_selectors == clan_inventory.build_hosts(
        nixsupport.nix_eval(".", apply=clan_inventory.INVENTORY_APPLY, flake=clan["flake"]))
    assert sorted(via_selectors) == sorted(clan["machines"])


# ---------------------------------------------------------------- the README's five lines, run as shown

README = REPO / "README.md"
README_GRAPH_COMMAND = "ansible-inventory -i inventory/clan.yml --graph"


def readme_clan_yml() -> list[str]:
    """The indented inventory/clan.yml block of README's "The inventory plugin on any clan"."""
    lines = README.read_text().split("## The inventory plugin on any clan", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    plugin: fleet.migration.clan"))
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line[4:])
    return block


def plugin_example_clan_yml() -> list[str]:
    """The first EXAMPLES document of the plugin, without its leading comment lines."""
    import importlib  # pylint: disable=import-outside-toplevel
    plugin = importlib.import_module("ansible_collections.fleet.migration.plugins.inventory.clan")
    first = plugin.EXAMPLES.strip().split("\n---\n", 1)[0]
    return [line for line in first.splitlines() if not line.startswith("#")]


def test_readme_and_plugin_example_show_the_same_five_lines():
    assert readme_clan_yml() == plugin_example_clan_yml()
    assert len(readme_clan_yml()) == 5
    assert "\n    %s\n" % README_GRAPH_COMMAND in README.read_text()


def test_readme_five_lines_and_command_run_on_a_template_clan(clan, tmp_path):
    """The README's file, with only its two paths pointed at the template clan and a scratch cache, and its
    command, run with no ansible.cfg of ours: Ansible's default `auto` inventory plugin must pick the file up."""
    text = "\n".join(readme_clan_yml()) + "\n"
    assert "flake: /srv/my-clan " in text and "cache_connection: ~/.cache/ansible-inventory\n" in text
    text = text.replace("flake: /srv/my-clan ", "flake: %s " % clan["flake"]).replace(
        "cache_connection: ~/.cache/ansible-inventory", "cache_connection: %s" % (tmp_path / "cache"))
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "clan.yml").write_text(text)
    (tmp_path / "ansible.cfg").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
               PATH=os.pathsep.join([str(ANSIBLE_INVENTORY.parent), env.get("PATH", "")]))
    argv = README_GRAPH_COMMAND.split()
    graphs = []
    for _run in (1, 2):  # the second run answers from the cache
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0 and "Failed to parse" not in proc.stderr, proc.stderr
        graphs.append(proc.stdout)
    assert graphs[0] == graphs[1]
    assert list((tmp_path / "cache").iterdir()), "cache: true wrote no cache"
    groups = {}
    current = None
    for line in graphs[0].splitlines():
        name = line.strip(" |-")
        if name.startswith("@"):
            current = groups.setdefault(name[1:].rstrip(":"), set())
        elif current is not None and name:
            current.add(name)
    machines = clan["machines"]
    assert groups["web"] == {n for n, m in machines.items() if "web" in m["tags"]}
    assert groups["nixos"] == {n for n, m in machines.items() if m["machineClass"] == "nixos"}
    assert groups["darwin"] == {n for n, m in machines.items() if m["machineClass"] == "darwin"}
    listed = subprocess.run(["ansible-inventory", "-i", "inventory/clan.yml", "--list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300, check=True).stdout
    assert unwrap(json.loads(listed)) == clan["listed"]
