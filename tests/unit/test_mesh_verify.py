"""mesh_verify in n tasks: one probe run per host for all its peers, bounded fan-out, evidence per pair.

Runs the real role with ansible-playbook over a synthetic mesh of local hosts
(tests/bench/mesh_harness.py: 127.0.x.y addresses, each with a listener that
accepts and closes). Counts tasks and connections, never seconds.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench import mesh_harness as mh
from ansible_collections.fleet.migration.plugins.module_utils.ledger import Ledger

PROBE = mh.REPO / "roles/firewall_verify/files/port_probe.py"
# A loopback address whose listener never accepts (mesh_harness.Listeners silent=): it stays silent.
DEAD = "127.1.0.1"


def load_probe():
    spec = importlib.util.spec_from_file_location("port_probe_under_test", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mesh_run(tmp_path: Path, n: int, *, extra_hosts=None, extra_vars=None, limit=None, record=False, silent=None):
    ledger = tmp_path / "ledger.sqlite"
    extra_vars = dict(extra_vars or {})
    if record:
        extra_vars.update(fleet_record_evidence=True, fleet_ledger_path=str(ledger))
    with mh.Listeners([mh.address_of(i) for i in range(1, n + 1)], silent=silent) as listeners:
        inv = mh.inventory(n, listeners.port, extra_hosts=extra_hosts, extra_vars=extra_vars)
        proc, counts, _seconds = mh.run_playbook(inv, tmp_path / "work", limit=limit)
        accepted = listeners.accepted
    return proc, counts, accepted, ledger


def record_runs(counts: dict) -> int:
    """Module runs of fleet.migration.ledger_record in the whole play."""
    return sum(e["runs"] for name, e in counts.items()
               if not name.startswith("_") and e["action"] == "fleet.migration.ledger_record")


@pytest.mark.parametrize("n", [3, 6])
def test_probe_tasks_grow_with_hosts_not_pairs(tmp_path, n):
    proc, counts, accepted, ledger = mesh_run(tmp_path, n, record=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    probe = mh.probe_counts(counts)
    # n probe tasks (one per host), no loop items: not n(n-1) tasks.
    assert probe["action"] == "fleet.migration.mesh_probe"
    assert probe["runs"] == n and probe["items"] == 0
    assert sorted(probe["hosts"]) == [f"h{i:03d}" for i in range(1, n + 1)]
    # ...which still reach every ordered pair.
    assert accepted == n * (n - 1)
    # All n rows are written by one controller task (one module run), not one per host.
    assert record_runs(counts) == 1
    with Ledger(str(ledger)) as led:
        rows = led.events(kind="health", check="mesh_verify")
    assert sorted(r.host for r in rows) == [f"h{i:03d}" for i in range(1, n + 1)]
    for row in rows:
        assert row.ok
        peers = row.evidence["peers"]
        assert len(peers) == n - 1
        assert {p["peer"] for p in peers} == {f"h{i:03d}" for i in range(1, n + 1)} - {row.host}
        for peer in peers:
            assert set(peer) == {"peer", "address", "reachable", "latency_ms", "error"}
            assert peer["reachable"] is True and isinstance(peer["latency_ms"], (int, float)) and peer["error"] == ""
        assert row.evidence["unreachable"] == []


def host_task_runs(counts: dict) -> int:
    """Host runs of every task of the play, skipped ones included: Ansible's cost grows with these."""
    return sum(e["runs"] + e["skipped"] for name, e in counts.items() if not name.startswith("_"))


def test_each_host_runs_five_tasks_and_the_play_two(tmp_path):
    """Counted, not timed: Ansible's own cost per task and host (about 0.05 CPU-s with the
    local connection) is what mesh_verify's time grows with. Per host: the include, the role's
    argument validation, the address check, the probe (which also builds the evidence and the
    ledger row) and the final assert; once for the play: the address map and the batch write.
    The role ran seven per host before (a reset and a summary of its own)."""
    totals = {}
    for n in (3, 6):
        proc, counts, _accepted, _ledger = mesh_run(tmp_path / str(n), n, record=True)
        assert proc.returncode == 0, proc.stdout[-3000:]
        totals[n] = host_task_runs(counts)
        assert totals[n] == 5 * n + 2, {k: (v["runs"], v["skipped"]) for k, v in counts.items() if k[0] != "_"}
    assert totals[6] - totals[3] == 5 * 3


def test_a_host_whose_probe_fails_unexpectedly_still_gets_a_failed_row(tmp_path):
    """The batch records the hosts that got their result; block/rescue records
    the one that stopped before it, as failed, naming the task."""
    broken = {"h002": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "fleet_mesh_address": mh.address_of(2), "mesh_verify_python": "/nonexistent/python3"}}
    proc, counts, _accepted, ledger = mesh_run(tmp_path, 3, extra_hosts=broken, record=True)
    assert proc.returncode != 0
    with Ledger(str(ledger)) as led:
        rows = {r.host: r for r in led.events(kind="health", check="mesh_verify")}
    assert sorted(rows) == ["h001", "h002", "h003"]
    assert rows["h001"].ok and rows["h003"].ok and len(rows["h001"].evidence["peers"]) == 2
    assert not rows["h002"].ok
    assert rows["h002"].evidence["failed_task"].startswith("Probe every peer over the mesh from")
    # One batch for the two hosts that finished, one rescue row for the one that did not.
    assert record_runs(counts) == 2


def test_scope_beyond_the_play_names_the_dead_peer(tmp_path):
    """A one-host play checked against the fleet's scope: a silent peer outside the play is named."""
    dead = {"dead01": {"ansible_connection": "local", "fleet_mesh_address": DEAD}}
    scope = ["h001", "h002", "dead01"]
    proc, counts, accepted, ledger = mesh_run(
        tmp_path, 2, extra_hosts=dead, limit="h001", record=True, silent=[DEAD],
        extra_vars={"fleet_mesh_scope": scope, "mesh_verify_timeout": 1})
    assert proc.returncode != 0
    assert mh.probe_counts(counts)["runs"] == 1
    assert ("h001: mesh_verify: expected to reach every peer over the mesh on port" in proc.stdout)
    assert f"found no answer from dead01 ({DEAD}, " in proc.stdout
    assert "zerotier-cli listnetworks" in proc.stdout
    assert accepted == 1  # h001 -> h002
    with Ledger(str(ledger)) as led:
        (row,) = led.events(kind="health", check="mesh_verify")
    assert row.host == "h001" and not row.ok
    assert row.evidence["unreachable"] == ["dead01"]
    by_peer = {p["peer"]: p for p in row.evidence["peers"]}
    assert by_peer["dead01"]["reachable"] is False and by_peer["dead01"]["error"]
    assert by_peer["h002"]["reachable"] is True


def test_lone_host_fails_naming_what_to_do(tmp_path):
    proc, counts, _accepted, _ledger = mesh_run(tmp_path, 1)
    assert proc.returncode != 0
    assert ("h001: mesh_verify: expected at least 1 peer(s) besides this host in the mesh scope" in proc.stdout)
    assert 'found 0 (scope ["h001"])' in proc.stdout
    assert "set mesh_verify_min_peers=0" in proc.stdout
    assert mh.probe_counts(counts)["runs"] == 0


def test_lone_host_accepted_with_min_peers_zero_is_recorded_as_unproven(tmp_path):
    proc, _counts, _accepted, ledger = mesh_run(tmp_path, 1, record=True, extra_vars={"mesh_verify_min_peers": 0})
    assert proc.returncode == 0, proc.stdout[-3000:]
    with Ledger(str(ledger)) as led:
        (row,) = led.events(kind="health", check="mesh_verify")
    assert row.evidence["peers"] == [] and row.evidence["min_peers"] == 0
    assert "no peer in scope: membership not proven" in row.details


def test_host_without_mesh_address_is_named(tmp_path):
    ghost = {"ghost01": {"ansible_connection": "local"}}
    proc, _counts, _accepted, _ledger = mesh_run(tmp_path, 2, extra_hosts=ghost, limit="h001",
                                                 extra_vars={"fleet_mesh_scope": ["h001", "h002", "ghost01"]})
    assert proc.returncode != 0
    assert "h001: mesh_verify: expected a mesh address (fleet_mesh_address) for this host" in proc.stdout
    assert 'found none for ["ghost01"]' in proc.stdout


def test_a_probe_that_fails_outright_marks_every_peer_unreachable(tmp_path):
    """Fail closed: rc 2 and no per-target rows must not read as 'nobody unreachable'."""
    extra = {"mesh_verify_max_parallel": 0, "fleet_mesh_scope": ["h001", "h002", "h003"]}
    proc, _counts, accepted, _ledger = mesh_run(tmp_path, 3, limit="h001", extra_vars=extra)
    assert proc.returncode != 0
    assert accepted == 0
    assert "found no answer from h002 (127.0.0.3, ValueError: --max-parallel: expected a positive number" in proc.stdout


def test_fan_out_is_bounded(monkeypatch):
    probe = load_probe()
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def fake_target(name, address, ports, timeout):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return {"name": name, "address": address, "reachable": True, "latency_ms": 1.0, "error": "", "tcp": None}

    monkeypatch.setattr(probe, "probe_target", fake_target)
    targets = [(f"p{i:02d}", f"10.0.0.{i}") for i in range(20)]
    rows = probe.probe_targets(targets, [22], 1.0, max_parallel=3)
    assert [r["name"] for r in rows] == [t[0] for t in targets]
    assert state["max"] == 3


def run_probe(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, check=False, timeout=60)
    return proc.returncode, json.loads(proc.stdout)


def test_cli_multi_target_rows_and_errors():
    rc, out = run_probe("--targets", json.dumps({"a": "127.0.0.1", "bad": "no-such-host.invalid"}),
                        "--tcp", "1", "--timeout", "1", "--max-parallel", "2")
    assert rc == 0 and out["max_parallel"] == 2
    rows = {r["name"]: r for r in out["targets"]}
    assert rows["a"]["reachable"] is True  # a reset proves reachability
    assert rows["bad"]["reachable"] is False and rows["bad"]["error"].startswith("gaierror")
    rc, out = run_probe("--targets", "[]", "--tcp", "1", "--max-parallel", "0")
    assert rc == 2 and "--max-parallel: expected a positive number, found 0" in out["error"]


def test_cli_single_host_is_unchanged_for_firewall_verify():
    rc, out = run_probe("--host", "127.0.0.1", "--tcp", "1", "--udp", "9", "--timeout", "0.5")
    assert rc == 0 and set(out) == {"host", "tcp", "udp", "seconds"}
    assert out["tcp"]["closed"] == [1]
