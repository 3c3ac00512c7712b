"""Run the molecule scenarios against QEMU VMs and check what they left in the ledger.

`molecule test -s <scenario>` boots the VMs (tests/vm/qemu.py, image from
tests/vm/build-image.sh), converges them twice (idempotence), runs the
scenario's verify playbook and destroys them. The verify playbook itself
asserts each role's behaviour; this test additionally reads the stability
ledger and the failure messages the run wrote, so a scenario that silently
skipped its checks cannot pass here.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.nix]

ROLES = ["ssh_cert_verify", "mesh_verify", "secrets_verify", "firewall_verify", "service_health"]
# Timings and logs outlive pytest's rotating tmp dirs (docs/BENCHMARKS.md cites them).
TIMINGS = Path(os.environ.get("FLEET_VM_TIMINGS", REPO / ".cache" / "vm-timings.json"))
LOGS = TIMINGS.parent / "vm-logs"


def _missing_tools() -> list[str]:
    tools = ["qemu-system-x86_64", "qemu-img", "ssh", "ssh-keygen", "nix", "molecule"]
    return [t for t in tools if shutil.which(t) is None]


def _image_cached() -> bool:
    res = subprocess.run(["bash", "-c", f'test -f "$({HERE}/build-image.sh --print-dir)/ready"'], check=False)
    return res.returncode == 0


@pytest.fixture(scope="session")
def vm_image() -> Path:
    """The cached VM image, built once per cache key (the builder script's hash)."""
    missing = _missing_tools()
    if missing:
        pytest.skip(f"VM tests need {', '.join(missing)} (scripts/setup installs them)")
    if not _image_cached():
        builder_missing = [t for t in ("debootstrap", "mkfs.ext4") if shutil.which(t) is None]
        if builder_missing:
            pytest.skip(f"no cached VM image and {', '.join(builder_missing)} missing to build one")
        if os.geteuid() != 0:
            pytest.skip("no cached VM image, and debootstrap needs root to build one")
    started = time.monotonic()
    res = subprocess.run([str(HERE / "build-image.sh")], capture_output=True, text=True, check=False, timeout=1800)
    assert res.returncode == 0, f"image build failed:\n{res.stderr[-4000:]}"
    _record_timing("image_build_or_cache_seconds", time.monotonic() - started)
    return Path(res.stdout.strip().splitlines()[-1])


def _record_timing(name: str, seconds: float) -> None:
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    data[name] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(data, indent=2))


def _molecule(scenario: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    ledger = tmp_path / "ledger.sqlite"
    env = {
        **os.environ,
        "FLEET_LEDGER_PATH": str(ledger),
        "FLEET_RUN_ID": f"pytest-{scenario}-{int(time.time())}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
    }
    started = time.monotonic()
    res = subprocess.run(
        ["molecule", "test", "-s", scenario], cwd=REPO, env=env, capture_output=True, text=True,
        check=False, timeout=int(os.environ.get("FLEET_VM_SCENARIO_TIMEOUT", "2400")),
    )
    _record_timing(f"molecule_test_{scenario}_seconds", time.monotonic() - started)
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / f"molecule-{scenario}.log").write_text(res.stdout + res.stderr)
    return res, ledger


def _rows(ledger: Path) -> list[sqlite3.Row]:
    assert ledger.exists(), f"the scenario recorded no evidence: {ledger} is missing"
    con = sqlite3.connect(ledger)
    con.row_factory = sqlite3.Row
    try:
        return con.execute("SELECT kind, host, check_name, ok, details, evidence FROM events ORDER BY id").fetchall()
    finally:
        con.close()


def test_default_scenario(vm_image, tmp_path):
    """Healthy roles, each role failing on its broken state, idempotence, and a gate, on two VMs."""
    res, ledger = _molecule("default", tmp_path)
    assert res.returncode == 0, f"molecule test -s default failed (log: {LOGS / 'molecule-default.log'}):\n{(res.stdout + res.stderr)[-8000:]}"
    assert "idempotence: Executed: Successful" in res.stdout + res.stderr

    rows = _rows(ledger)
    for host in ("node1", "node2"):
        assert any(r["kind"] == "deployment" and r["host"] == host for r in rows), f"no deployment row for {host}"
        for role in ROLES:
            assert any(r["kind"] == "health" and r["host"] == host and r["check_name"] == role and r["ok"] for r in rows), \
                f"no healthy {role} evidence for {host}"
        gates = [r for r in rows if r["kind"] == "gate" and r["host"] == host]
        assert gates and gates[0]["ok"] == 1, f"the gate did not record GO for {host}: {[dict(g) for g in gates]}"
    # The mesh evidence names the peer and how it was reached.
    mesh = json.loads(next(r["evidence"] for r in rows if r["check_name"] == "mesh_verify" and r["host"] == "node1" and r["ok"]))
    assert [p["peer"] for p in mesh["peers"]] == ["node2"] and mesh["peers"][0]["reachable"]
    # Every broken case left a failed row for node1, and never for node2.
    failed = {r["check_name"] for r in rows if r["kind"] == "health" and not r["ok"]}
    assert failed == set(ROLES), failed
    assert not [r for r in rows if r["host"] == "node2" and not r["ok"]]

    messages = json.loads((ledger.parent / "expected-failures.json").read_text())
    expected = {
        "sshd without a certificate": ["node1: ssh_cert_verify: host certificate:", "signed by the fleet CA",
                                       "found no certificate", "Regenerate and deploy the openssh-cert clan var"],
        "a certificate from another CA": ["node1: ssh_cert_verify: host certificate:", 'ID "rogue"', "(not accepted)",
                                          "Host key verification failed"],
        "sshd offering password login": ["node1: ssh_cert_verify: password login: expected sshd to offer only publickey",
                                         'found methods ["publickey", "password"]', "found passwordauthentication yes"],
        "secret with the wrong mode": ["node1: secrets_verify: /run/secrets/vars/", "with mode 0400", "found mode 0644",
                                       "Redeploy the secrets"],
        "an extra open port": ["node1: firewall_verify:", "expected only TCP 22 and UDP 9993 to answer",
                               "found extra open TCP ports [8080]", "Close the extra ports"],
        "a failed unit": ["node1: service_health: expected no failed systemd units", 'found failed ["fleet-broken.service"]',
                          "journalctl -u <unit>"],
        "a restart loop": ["node1: service_health:", 'restart loops ["fleet-loop.service"]'],
        "a peer unreachable over the mesh": ["node1: mesh_verify: expected to reach every peer over the mesh",
                                             "found no answer from node2", "zerotier-cli listnetworks"],
    }
    assert set(messages) == set(expected)
    for case, parts in expected.items():
        for part in parts:
            assert part in messages[case], f"{case}: {part!r} not in {messages[case]!r}"
    # The no-certificate case must not also blame password login (no handshake, no method list).
    assert "password login" not in messages["sshd without a certificate"]


@pytest.mark.skipif(os.environ.get("FLEET_VM_MESH3") != "1", reason="3-VM mesh scenario: set FLEET_VM_MESH3=1 (adds ~8 min)")
def test_mesh3_scenario(vm_image, tmp_path):
    """mesh_verify across three VMs and a gate on its evidence."""
    res, ledger = _molecule("mesh3", tmp_path)
    assert res.returncode == 0, f"molecule test -s mesh3 failed:\n{(res.stdout + res.stderr)[-8000:]}"
    rows = _rows(ledger)
    timing = json.loads((ledger.parent / "mesh-timing.json").read_text())
    assert timing["hosts_2_seconds"] > 0 and timing["hosts_3_seconds"] > 0
    for key, seconds in timing.items():
        if key.endswith("_seconds"):
            _record_timing(f"mesh_verify_{key}", seconds)
    for host in ("node1", "node2", "node3"):
        ev = [json.loads(r["evidence"]) for r in rows if r["host"] == host and r["check_name"] == "mesh_verify" and r["ok"]]
        assert ev and sorted(p["peer"] for p in ev[0]["peers"]) == sorted({"node1", "node2", "node3"} - {host})
        assert any(r["kind"] == "gate" and r["host"] == host and r["ok"] for r in rows)
