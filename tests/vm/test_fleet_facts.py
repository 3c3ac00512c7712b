"""The fleet facts the VM tests derive from the flake (tests/vm/fleet_facts.py)."""
from __future__ import annotations

import fleet_facts  # pytest puts this directory on sys.path
import pytest

GENERATORS = {
    "openssh": {"appliesTo": {"service": "@fleet/sshd (darwin; ...)"},
                "files": {"ssh.id_ed25519": {"deploy": True, "secret": True, "neededFor": "services", "owner": "root", "mode": "0400"},
                          "ssh.id_ed25519.pub": {"deploy": True, "secret": False, "neededFor": "services", "owner": "root", "mode": "0444"}}},
    "luks-root": {"appliesTo": {"tags": ["server"]},
                  "files": {"key": {"deploy": True, "secret": True, "neededFor": "partitioning", "owner": "root", "mode": "0400"}}},
    "api-token": {"appliesTo": {"tags": ["cloud"]},
                  "files": {"token": {"deploy": False, "secret": True, "neededFor": "services", "owner": "root", "mode": "0400"}}},
    "app-key": {"appliesTo": {"tags": ["server"]},
                "files": {"key": {"deploy": True, "secret": True, "neededFor": "services", "owner": "app", "mode": "0440"}}},
    "zerotier-identity": {"appliesTo": {"service": "@fleet/zerotier"}, "nameTemplate": "zerotier-identity-<machine>",
                          "files": {"identity-secret": {"deploy": True, "secret": True, "neededFor": "services", "owner": "root", "mode": "0400"}}},
    "zerotier-network": {"appliesTo": {"service": "@fleet/zerotier"}, "nameTemplate": "zerotier-network-<instance>",
                         "files": {"network-id": {"deploy": True, "secret": True, "neededFor": "services", "owner": "root", "mode": "0400"}}},
}


def test_expected_secrets_are_deployed_service_secrets_of_the_machine():
    fleet = {"generators": GENERATORS, "serviceRoles": {"vm": {"sshd": ["server"], "zerotier": ["peer"]}}}
    got = fleet_facts.expected_secrets(fleet, "vm", ["server", "test"], "node1")
    assert got == [
        {"path": "vars/app-key/key", "owner": "app", "mode": "0440"},
        {"path": "vars/openssh/ssh.id_ed25519", "owner": "root", "mode": "0400"},
        {"path": "vars/zerotier-identity-node1/identity-secret", "owner": "root", "mode": "0400"},
    ]


def test_a_machine_without_the_service_or_tag_expects_nothing_from_it():
    fleet = {"generators": GENERATORS, "serviceRoles": {"vm": {}}}
    assert fleet_facts.expected_secrets(fleet, "vm", ["workstation"], "node1") == []


def test_phase_comes_from_the_phase_tag():
    assert fleet_facts.phase_of(["server", "phase0"]) == 0
    assert fleet_facts.phase_of(["server"]) is None


@pytest.mark.nix
def test_real_flake_gives_testvm_secrets_and_ports():
    from support.nix import inventory, nix_eval

    fleet = nix_eval("fleet")
    tags = inventory()["testvm"]["tags"]
    secrets = fleet_facts.expected_secrets(fleet, "testvm", tags, "node1")
    assert secrets, "testvm should expect at least one deployed secret"
    assert all(s["path"].startswith("vars/") and s["mode"].startswith("0") for s in secrets)
    assert set(fleet["publicSurface"]["tcp"]) <= set(fleet["ports"])
