"""Time mesh_verify as the number of hosts grows, without VMs.

Every "host" is the controller itself (ansible_connection=local) with its own
mesh address 127.0.x.y, where a listener accepts each connection and closes
it (tests/bench/mesh_harness.py). An earlier version never accepted, so past
its backlog (about 500 probes) every probe waited out its timeout. What this
measures is the role's own cost: one probe task per host, each probing all
its peers in parallel (n tasks, n * (n - 1) connections); network latency is
left out. scripts/bench runs the same harness as part of its table.

    python3 tests/vm/bench_mesh.py [--hosts 2,4,8,16] [--forks 5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from bench import mesh_harness  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="2,4,8,16", help="comma-separated host counts")
    parser.add_argument("--forks", type=int, default=5)
    args = parser.parse_args()
    print(f"| hosts | ordered pairs | probe tasks | connections accepted | seconds (forks={args.forks}) "
          "| CPU seconds |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.hosts.split(",")):
            with mesh_harness.Listeners([mesh_harness.address_of(i) for i in range(1, n + 1)]) as listeners:
                proc, counts, seconds = mesh_harness.run_playbook(
                    mesh_harness.inventory(n, listeners.port), Path(tmp) / str(n), forks=args.forks)
                accepted = listeners.accepted
            if proc.returncode:
                sys.exit(f"bench_mesh.py: n={n} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
            probe = mesh_harness.probe_counts(counts)
            print(f"| {n} | {n * (n - 1)} | {probe['runs'] + probe['items']} | {accepted} | {seconds:.1f} | "
                  f"{counts['_cpu_seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
