"""scripts/bench measures what it says: each synthetic host is a machine of its own, and the
phase run's CPU is split into the control plane's, the hosts' and the tools'."""
from __future__ import annotations

import importlib.util
import json
import resource
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
from support import procs

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "scripts" / "bench"


def load_bench():
    spec = importlib.util.spec_from_loader("fleet_bench", SourceFileLoader("fleet_bench", str(BENCH)))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.nix
def test_each_synthetic_host_is_a_machine_of_its_own(tmp_path):
    """Clones that shared the template's target host shared its system profile in the fake clan,
    and a deployment then read another host's generation and failed (9 of 10 deployed)."""
    bench = load_bench()
    inventory, hosts = bench.phase_inventory(3, tmp_path)
    hostvars = json.loads(inventory.read_text())["all"]["hosts"]
    flake = json.loads((tmp_path / "clan-state-3" / "flake.json").read_text())["machines"]
    assert len({hostvars[h]["ansible_host"] for h in hosts}) == 3, {h: hostvars[h]["ansible_host"] for h in hosts}
    assert len({flake[h]["targetHost"] for h in hosts}) == 3, flake
    for h in hosts:
        assert h in hostvars[h]["ansible_host"] and h in flake[h]["targetHost"]
        assert hostvars[h]["clan_machine_name"] == h


def test_metered_wrappers_count_their_children_once(tmp_path):
    bench = load_bench()
    log = tmp_path / "cpu.log"
    busy = tmp_path / "busy"
    busy.write_text("#!/bin/sh\nexec python3 -c 'sum(range(3_000_000))'\n")
    busy.chmod(0o755)
    outer = bench.metered(tmp_path / "outer", str(busy), log)
    inner = bench.metered(tmp_path / "inner", str(outer), log)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert subprocess.run([str(inner)], check=False).returncode == 0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Only the outermost wrapper logs: a tool started by a metered tool is counted once.
    assert len(log.read_text().splitlines()) == 2
    # What the wrapper logged is the CPU its tool used (bash's `times` has 10 ms steps), not a fixed
    # figure: the same work takes less on a faster or idler machine.
    assert abs(bench.metered_seconds(log) - used) <= max(0.03, 0.25 * used), (bench.metered_seconds(log), used)
    assert bench.metered_seconds(log) > 0


@pytest.mark.nix
@pytest.mark.slow
def test_the_phase_part_deploys_every_host_and_splits_the_cpu(tmp_path):
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, str(BENCH), "--hosts", "2", "--parts", "phase", "--json", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=1200, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    row = json.loads(out.read_text())["2"]
    for leg in ("noverify", "verify"):
        assert row[f"phase_{leg}_deployed"] == 2, row
        # The gate says NO-GO minutes after a deploy: exit 2, not a crash.
        assert row[f"phase_{leg}_rc"] == 2, row
        assert row[f"phase_{leg}_tool_cpu"] > 0, row
        assert 0 < row[f"phase_{leg}_control_per_host"] < row[f"phase_{leg}_cpu"] / 2, row
    assert row["phase_verify_host_cpu"] > 0, row
    assert "| 2 | " in res.stdout and " 2 deployed" in res.stdout


def test_a_stopped_benchmark_stops_the_run_and_every_process_it_started(tmp_path):
    """SIGTERM ends the measuring (the table of what was measured is printed); the run it was
    measuring and that run's children must not go on in the background."""
    import os
    import signal
    import threading
    import time

    bench = load_bench()
    script = tmp_path / "run"
    script.write_text(f"#!/bin/sh\nsleep 1000 &\necho $! > {tmp_path / 'child'}\nsleep 1000\n")
    script.chmod(0o755)

    def interrupt() -> None:
        while not (tmp_path / "child").exists():
            time.sleep(0.05)
        time.sleep(0.2)
        # To the main thread, which waits in os.wait4 (a signal raised here would reach only this thread).
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        bench.run_measured([str(script)])
    child = int((tmp_path / "child").read_text())
    if procs.gone(child):
        return
    os.kill(child, signal.SIGKILL)
    raise AssertionError(f"the measured run's child {child} was still running after the benchmark stopped")


@pytest.mark.nix
def test_bench_inventory_prints_every_row_and_checks_the_hosts():
    """scripts/bench-inventory (docs/BENCHMARKS.md, "Inventory"): every row measured, each run's hosts the
    fleet's, and the plugin's overhead given against a static file of the same hosts."""
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "bench-inventory"), "--runs", "1"], cwd=REPO,
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line for line in res.stdout.splitlines() if line.startswith("| `") or line.startswith("| the plugin")]
    assert len(rows) == 6, res.stdout
    for line in rows:
        median = line.split("|")[2].strip()
        assert float(median) > 0, line
    cold = next(line for line in rows if "--flush-cache" in line)
    assert cold.rstrip(" |").split("|")[-1].strip().startswith(("+", "-")), cold


def test_bench_inventory_refuses_zero_runs():
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "bench-inventory"), "--runs", "0"], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2 and "--runs: expected at least 1; found 0" in res.stderr, res.stderr
