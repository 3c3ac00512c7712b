"""A synthetic mesh of N local hosts for mesh_verify tests and benchmarks.

Every host is the controller itself (ansible_connection=local) with its own
mesh address 127.0.0.<i>, on which a listener accepts each connection and
closes it at once. (An accept queue that is never drained fills up: past
about its backlog, every further probe waits out its timeout instead of
measuring the role.) Used by tests/unit/test_mesh_verify.py (task counts, not
seconds) and by scripts/bench (seconds).
"""
from __future__ import annotations

import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
CALLBACKS = Path(__file__).resolve().parent / "callback"
PROBE_TASK = "Probe every peer over the mesh from"

PLAYBOOK = """---
- name: Run mesh_verify over the synthetic mesh
  hosts: all
  gather_facts: false
  tasks:
    - name: Run mesh_verify
      ansible.builtin.include_role:
        name: fleet.migration.mesh_verify
"""


def address_of(i: int) -> str:
    """127.0.<hi>.<lo> for host i (1-based): 127.0.0.0/8 is all loopback on Linux."""
    return f"127.0.{i // 250}.{i % 250 + 1}"


class Listeners:
    """One accept-and-close TCP listener per address, on one shared port, served by one thread.

    ``silent`` addresses get a listener whose accept queue is full and never
    drained: Linux then drops further SYNs, so a probe there hears nothing
    until its timeout, like a peer that is off the mesh.
    """

    def __init__(self, addresses: list[str], silent: list[str] | None = None) -> None:
        self.addresses = addresses
        self.silent = silent or []
        self.port = 0
        self.accepted = 0
        self._socks: list[socket.socket] = []
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "Listeners":
        for attempt in range(20):
            try:
                self._bind_all()
                break
            except OSError:
                self._close_all()
                if attempt == 19:
                    raise
        self._thread.start()
        return self

    def _bind_all(self) -> None:
        for address in self.addresses:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, self.port))
            sock.listen(128)
            sock.setblocking(False)
            self.port = sock.getsockname()[1]
            self._socks.append(sock)
        for address in self.silent:
            sock = socket.socket()
            sock.bind((address, self.port))
            sock.listen(0)
            self._held.append(sock)
            for _fill in range(3):  # fill the queue (backlog 0 holds one) so later SYNs are dropped
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex((address, self.port))
                self._held.append(filler)
        time.sleep(0.1)

    def _close_all(self) -> None:
        for sock in self._socks + self._held:
            sock.close()
        self._socks, self._held, self.port = [], [], 0

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        for sock in self._socks:
            sel.register(sock, selectors.EVENT_READ)
        while not self._stop.is_set():
            for key, _mask in sel.select(timeout=0.2):
                try:
                    conn, _addr = key.fileobj.accept()
                except BlockingIOError:
                    continue
                conn.close()
                self.accepted += 1
        sel.close()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._close_all()


def inventory(n: int, port: int, extra_hosts: dict | None = None, extra_vars: dict | None = None) -> dict:
    hosts = {
        f"h{i:03d}": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                      "fleet_mesh_address": address_of(i)}
        for i in range(1, n + 1)
    }
    hosts.update(extra_hosts or {})
    return {"all": {"hosts": hosts, "vars": {
        "fleet_record_evidence": False,
        "mesh_verify_port": port,
        "fleet_ports": {"ssh": port},
        "mesh_verify_timeout": 2,
        "mesh_verify_python": sys.executable,
        **(extra_vars or {}),
    }}}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_playbook(inv: dict, work: Path, forks: int = 5, extra_args: list[str] | None = None,
                 limit: str | None = None) -> tuple[subprocess.CompletedProcess, dict, float]:
    """(process, task counts from the task_count callback, seconds).

    The counts also hold "_cpu_seconds": user+system CPU of ansible-playbook and
    everything it ran, which a loaded machine inflates far less than wall time.
    """
    work.mkdir(parents=True, exist_ok=True)
    inv_path, book, counts = work / "inventory.json", work / "mesh.yml", work / "counts.json"
    inv_path.write_text(json.dumps(inv))
    book.write_text(PLAYBOOK)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_FORKS": str(forks),
           "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "task_count",
           "FLEET_TASK_COUNT_FILE": str(counts), "ANSIBLE_CACHE_PLUGIN": "memory"}
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(inv_path), str(book)] + (["--limit", limit] if limit else [])
    cmd += extra_args or []
    started, cpu = time.monotonic(), children_cpu()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=1800)
    seconds = time.monotonic() - started
    data = json.loads(counts.read_text()) if counts.exists() else {}
    data["_cpu_seconds"] = round(children_cpu() - cpu, 2)
    return proc, data, seconds


def probe_counts(counts: dict) -> dict:
    """The probe task's entry: host runs and loop items (items > 0 would mean one task per pair)."""
    for name, entry in counts.items():
        if name.startswith("_"):
            continue
        if name.startswith(PROBE_TASK) or PROBE_TASK in name:
            return entry
    return {"runs": 0, "items": 0, "hosts": []}
