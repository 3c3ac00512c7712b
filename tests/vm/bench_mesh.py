"""Time mesh_verify as the number of hosts grows, without VMs.

Every "host" is the controller itself (ansible_connection=local) and every
mesh address is 127.0.0.1, where one TCP listener answers. What this measures
is the role's own cost, which grows with the number of ordered pairs
(n * (n - 1) probes, one Ansible task each); network latency is left out.
The VM numbers (2 and 3 hosts over a QEMU mesh) come from the mesh3
molecule scenario. Results go to docs/BENCHMARKS.md by hand.

    python3 tests/vm/bench_mesh.py [--hosts 2,4,8,16] [--forks 5]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PLAYBOOK = """---
- name: Time mesh_verify
  hosts: all
  gather_facts: false
  tasks:
    - name: Run mesh_verify
      ansible.builtin.include_role:
        name: fleet.migration.mesh_verify
"""


def run(n: int, forks: int, port: int, work: Path) -> float:
    hosts = {
        f"h{i:02d}": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "fleet_mesh_address": "127.0.0.1",
        }
        for i in range(1, n + 1)
    }
    inventory = {"all": {"hosts": hosts, "vars": {
        "fleet_record_evidence": False,
        "mesh_verify_port": port,
        "mesh_verify_python": sys.executable,
        "fleet_ports": {"ssh": port},
    }}}
    inv = work / f"inventory-{n}.json"
    inv.write_text(json.dumps(inventory))
    book = work / "bench.yml"
    book.write_text(PLAYBOOK)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_FORKS": str(forks), "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections")}
    started = time.monotonic()
    res = subprocess.run(["ansible-playbook", "-i", str(inv), str(book)], cwd=REPO, env=env,
                         capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if res.returncode:
        sys.exit(f"bench_mesh.py: n={n} failed:\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="2,4,8,16")
    parser.add_argument("--forks", type=int, default=5)
    args = parser.parse_args()
    with socket.socket() as listener, tempfile.TemporaryDirectory() as tmp:
        listener.bind(("127.0.0.1", 0))
        listener.listen(512)
        port = listener.getsockname()[1]
        print(f"| hosts | ordered pairs | seconds (forks={args.forks}) | seconds per pair |")
        print("|---:|---:|---:|---:|")
        for n in (int(x) for x in args.hosts.split(",")):
            seconds = run(n, args.forks, port, Path(tmp))
            pairs = n * (n - 1)
            print(f"| {n} | {pairs} | {seconds:.1f} | {seconds / pairs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
