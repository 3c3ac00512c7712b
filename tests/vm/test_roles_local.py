"""Verification roles on the controller itself: fail-closed messages and local probes (no VM).

Each case runs one role with ansible_connection=local and checks the text of
its failure message (host, criterion, expected, found, what to do). The
VM scenarios cover the same roles against real sshd, nftables and systemd.
"""
from __future__ import annotations

import os
import pwd
import socket

import pytest
from localplay import flat, run_role  # pytest puts this directory on sys.path

pytestmark = pytest.mark.slow

PORTS = {"ssh": 22, "zerotier": 9993}
SURFACE = {"tcp": ["ssh"], "udp": ["zerotier"]}


def test_ssh_cert_verify_fails_closed_without_the_ca_key(tmp_path):
    res = run_role("ssh_cert_verify", tmp_path, {"fleet_ports": PORTS})
    out = flat(res)
    assert res.returncode != 0
    assert "local: ssh_cert_verify: expected the fleet CA public key" in out
    assert "found the variable empty" in out
    assert "clan vars generate" in out


def test_ssh_cert_verify_names_a_missing_ca_file(tmp_path):
    missing = tmp_path / "nope.pub"
    res = run_role("ssh_cert_verify", tmp_path, {"fleet_ports": PORTS, "fleet_ssh_ca_public_key": str(missing)})
    assert res.returncode != 0
    assert f'found "{missing}" missing' in flat(res)


def test_mesh_verify_fails_closed_without_mesh_addresses(tmp_path):
    res = run_role("mesh_verify", tmp_path, {"fleet_ports": PORTS, "fleet_mesh_address": "127.0.0.1"},
                   hosts={"peer": {"fleet_ports": PORTS}})
    out = flat(res)
    assert res.returncode != 0
    assert "local: mesh_verify: expected a mesh address (fleet_mesh_address) for this host and every host of the scope" in out
    assert 'found none for ["peer"]' in out
    assert "clan var zerotier-ip" in out


def test_mesh_verify_passes_when_peers_answer(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        common = {"fleet_ports": {"ssh": port}, "fleet_mesh_address": "127.0.0.1"}
        res = run_role("mesh_verify", tmp_path, common, hosts={"peer": common})
    assert res.returncode == 0, flat(res)[-3000:]


def test_secrets_verify_fails_closed_without_expectation(tmp_path):
    res = run_role("secrets_verify", tmp_path, {})
    out = flat(res)
    assert res.returncode != 0
    assert "local: secrets_verify: expected a list of secrets" in out
    assert "secrets_verify_allow_empty=true" in out


def test_secrets_verify_names_missing_and_wrong_owner(tmp_path):
    root = tmp_path / "secrets"
    (root / "vars" / "a").mkdir(parents=True)
    good = root / "vars" / "a" / "key"
    good.write_text("x")
    good.chmod(0o400)
    me = pwd.getpwuid(os.getuid()).pw_name
    expected = [
        {"path": "vars/a/key", "owner": me, "mode": "0400"},
        {"path": "vars/b/key", "owner": me, "mode": "0400"},
        {"path": "vars/a/key", "owner": "nobody-such-user", "mode": "0400"},
    ]
    res = run_role("secrets_verify", tmp_path / "play", {"secrets_verify_root": str(root),
                                                         "secrets_verify_expected": expected})
    out = flat(res)
    assert res.returncode != 0
    assert f"local: secrets_verify: {root}/vars/b/key: expected a non-empty regular file owned by {me} with mode 0400; found missing" in out
    assert f"found owner {me}" in out
    assert "Redeploy the secrets" in out


def test_firewall_verify_fails_closed_without_the_public_surface(tmp_path):
    res = run_role("firewall_verify", tmp_path, {"ansible_host": "127.0.0.1"})
    out = flat(res)
    assert res.returncode != 0
    assert "local: firewall_verify: expected the allowed public ports" in out
    assert "fleet.migration.clan inventory" in out


def test_firewall_verify_reports_an_extra_listener(tmp_path):
    with socket.socket() as allowed, socket.socket() as extra:
        for sock in (allowed, extra):
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
        ports = {"ssh": allowed.getsockname()[1], "zerotier": 9}
        res = run_role("firewall_verify", tmp_path, {
            "ansible_host": "127.0.0.1", "fleet_public_address": "127.0.0.1", "fleet_ports": ports, "fleet_public_surface": SURFACE,
            "firewall_verify_tcp_candidates": str(extra.getsockname()[1]), "firewall_verify_udp_candidates": "",
            "firewall_verify_timeout": 1,
        })
        extra_port = extra.getsockname()[1]
    out = flat(res)
    assert res.returncode != 0
    assert f"local: firewall_verify: from localhost to 127.0.0.1, expected only TCP {ports['ssh']} and UDP 9 to answer" in out
    assert f"found extra open TCP ports [{extra_port}]" in out
    assert "Close the extra ports" in out


def test_firewall_verify_requires_the_allowed_port_to_answer(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: refuses
        res = run_role("firewall_verify", tmp_path, {
            "ansible_host": "127.0.0.1", "fleet_public_address": "127.0.0.1", "fleet_ports": {"ssh": port, "zerotier": 9},
            "fleet_public_surface": SURFACE,
            "firewall_verify_tcp_candidates": str(port), "firewall_verify_udp_candidates": "", "firewall_verify_timeout": 1,
        })
    out = flat(res)
    assert res.returncode != 0
    assert f"allowed TCP ports not answering [{port}]" in out


def test_firewall_verify_refuses_to_probe_through_the_mesh(tmp_path):
    """The firewall trusts the mesh interface: a probe over the mesh proves nothing."""
    for hostvars, found in (
        ({"ansible_host": "local.fleet", "fleet_domain": "fleet"}, "found none."),
        ({"fleet_public_address": "local.fleet", "fleet_domain": "fleet"}, 'found "local.fleet", a mesh address.'),
        ({"fleet_public_address": "10.147.17.5", "fleet_mesh_address": "10.147.17.5"}, 'found "10.147.17.5", a mesh address.'),
    ):
        res = run_role("firewall_verify", tmp_path / found[:8].strip('". '), {"fleet_ports": PORTS, "fleet_public_surface": SURFACE, **hostvars})
        out = flat(res)
        assert res.returncode != 0
        assert f"local: firewall_verify: expected the host's public address (fleet_public_address), probed from outside the mesh; {found}" in out
        assert "Set fleet_public_address in inventory/host_vars/local.yml" in out
