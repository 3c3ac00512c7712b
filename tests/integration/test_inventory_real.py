"""`ansible-inventory --list` on the real flake, with the real nix, against `nix eval`.

Every expectation is read from the flake (tests/support/nix.py); nothing here
lists machines, tags or ports. Service role membership is compared against
clan-core's own resolution (`clan._services.allServices...roles.<r>.machines`,
an internal clan API, used here only as an independent oracle).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import nix as nixsupport
from support.ansible_json import unwrap  # noqa: E402

pytestmark = pytest.mark.nix

ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")

# For every instance: {instance: {role: [machines]}} as clan-core resolved it.
CLAN_RESOLVED_ROLES = """
services: builtins.foldl' (acc: svc: acc // builtins.mapAttrs (inst: i:
  builtins.mapAttrs (role: r: builtins.attrNames (r.machines or { })) (i.roles or { }))
  (svc.instances or { })) { } (builtins.attrValues services.allServices)
"""


@pytest.fixture(scope="module")
def listed(repo) -> dict:
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"))
    proc = subprocess.run([str(ANSIBLE_INVENTORY), "--list", "--flush-cache"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Failed to parse" not in proc.stderr, proc.stderr
    return unwrap(json.loads(proc.stdout))


@pytest.fixture(scope="module")
def machines() -> dict:
    return nixsupport.inventory()


def group_name(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", tag)


def group_members(listed: dict, group: str) -> set[str]:
    """Hosts of a group including its children (ansible-inventory nests them)."""
    node = listed.get(group, {})
    hosts = set(node.get("hosts", []))
    for child in node.get("children", []):
        hosts |= group_members(listed, child)
    return hosts


def test_every_machine_is_a_host(listed, machines):
    assert machines, "the flake's inventory has no machines"
    assert set(listed["_meta"]["hostvars"]) == set(machines)


def test_groups_per_tag_and_class(listed, machines):
    tags = {tag for m in machines.values() for tag in m["tags"]}
    for tag in tags - {"all"}:
        expected = {name for name, m in machines.items() if tag in m["tags"]}
        assert group_members(listed, group_name(tag)) == expected, tag
    for cls in {m["machineClass"] for m in machines.values()}:
        expected = {name for name, m in machines.items() if m["machineClass"] == cls}
        assert group_members(listed, cls) == expected, cls


def test_hostvars_follow_the_inventory(listed, machines):
    fleet = nixsupport.nix_eval("fleet", apply="f: { inherit (f) ports publicSurface; }")
    for name, machine in machines.items():
        hv = listed["_meta"]["hostvars"][name]
        user, _sep, host = machine["deploy"]["targetHost"].rpartition("@")
        assert hv["ansible_host"] == host.split(":")[0], name
        assert hv["ansible_user"] == user, name
        assert hv["clan_machine_class"] == machine["machineClass"]
        assert hv["clan_tags"] == machine["tags"]
        assert hv["clan_description"] == machine["description"]
        phases = [int(t[len("phase"):]) for t in machine["tags"] if re.fullmatch(r"phase\d+", t)]
        assert hv["fleet_phase"] == (phases[0] if phases else None), name
        assert hv["fleet_ports"] == fleet["ports"]
        assert hv["fleet_public_surface"] == fleet["publicSurface"]
        assert hv["fleet_domain"] == nixsupport.nix_eval("clan.inventory.meta.domain")


def test_expected_secrets_are_deployed_service_secrets_of_declared_generators(listed, machines):
    """secrets_verify's list: every entry is a deployed secret file of a
    generator the flake declares, and every machine has its SSH host key
    (sshd server everywhere) and its own ZeroTier identity (peer everywhere)."""
    generators = nixsupport.nix_eval("fleet.generators")
    for name in machines:
        secrets = listed["_meta"]["hostvars"][name]["fleet_expected_secrets"]
        paths = {s["path"] for s in secrets}
        assert "vars/openssh/ssh.id_ed25519" in paths, (name, paths)
        assert f"vars/zerotier-identity-{name}/identity-secret" in paths, (name, paths)
        for secret in secrets:
            _vars, generator_name, file_name = secret["path"].split("/")
            declared = next(g for n, g in generators.items()
                            if n == generator_name or g.get("nameTemplate", "").replace("<machine>", name) == generator_name)
            spec = declared["files"][file_name]
            assert spec["secret"] and spec["deploy"] and spec["neededFor"] == "services", secret
            assert (secret["owner"], secret["mode"]) == (spec["owner"], spec["mode"]), secret


def test_service_roles_match_clan_resolution(listed, machines):
    resolved = nixsupport.nix_eval("clan._services", apply=CLAN_RESOLVED_ROLES)
    for name in machines:
        expected = {inst: sorted(r for r, members in roles.items() if name in members)
                    for inst, roles in resolved.items()}
        expected = {inst: roles for inst, roles in expected.items() if roles}
        assert listed["_meta"]["hostvars"][name]["clan_services"] == expected, name


def test_warm_run_from_cache_lists_the_same(repo, listed):
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"))
    proc = subprocess.run([str(ANSIBLE_INVENTORY), "--list"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert unwrap(json.loads(proc.stdout)) == listed


def test_zerotier_controllers_group_is_the_resolved_controller_role(listed):
    # inventory/clan.yml composes this group from the resolved roles, not from the tag.
    resolved = nixsupport.nix_eval("clan._services", apply=CLAN_RESOLVED_ROLES)
    modules = nixsupport.nix_eval("clan.inventory.instances", apply="builtins.mapAttrs (n: i: i.module.name)")
    expected = {m for inst, roles in resolved.items() if re.fullmatch(r"(@[^/]+/)?zerotier", modules[inst])
                for m in roles.get("controller", [])}
    assert expected, "the flake has no zerotier controller"
    assert group_members(listed, "zerotier_controllers") == expected


# The variables the plugin sets on this fleet's hosts: every fleet fact is present
# here, so no host carries fleet_facts_missing (issue 14: same output as before).
CLAN_VARS = {"clan_machine_name", "clan_machine_class", "clan_tags", "clan_description", "clan_services",
             "clan_service_modules"}
FLEET_VARS = {"fleet_ports", "fleet_public_surface", "fleet_domain", "fleet_expected_secrets", "fleet_phase"}


def test_listing_has_exactly_the_structure_the_inventory_gives(listed, machines):
    """Groups and host variable names, derived from `nix eval .#clan.inventory.machines` alone."""
    tags = {tag for m in machines.values() for tag in m["tags"]}
    classes = {m["machineClass"] for m in machines.values()}
    # inventory/clan.yml adds class_<class> (keyed_groups) and zerotier_controllers (groups).
    expected_groups = {group_name(t) for t in tags} | {"class_" + c for c in classes} | {"zerotier_controllers"}
    assert set(listed) - {"_meta", "ungrouped"} == expected_groups
    assert not group_var_names() & (CLAN_VARS | FLEET_VARS | {"fleet_facts_missing"}), "group_vars shadow plugin vars"
    for name, machine in machines.items():
        target = machine["deploy"]["targetHost"]
        connection = {"ansible_host", "ansible_user"} | ({"ansible_port"} if re.search(r":\d+$", target) else set())
        from_plugin = set(listed["_meta"]["hostvars"][name]) - group_var_names()
        assert from_plugin == CLAN_VARS | FLEET_VARS | connection, name


def group_var_names() -> set[str]:
    """Variables that come from inventory/group_vars (and host_vars), not from the plugin."""
    import yaml  # pylint: disable=import-outside-toplevel

    names = set()
    for path in sorted((nixsupport.REPO / "inventory").glob("*_vars/**/*.y*ml")):
        names |= set(yaml.safe_load(path.read_text()) or {})
    return names
