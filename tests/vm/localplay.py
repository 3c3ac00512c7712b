"""Run one verification role on the controller itself (ansible_connection=local).

For the role behaviour that needs no VM: fail-closed messages, parsing, the
probe against local sockets. Each call writes a one-host inventory and a
one-task playbook into a temporary directory.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PLAYBOOK = """---
- name: Run one role on the controller
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the role
      ansible.builtin.include_role:
        name: fleet.migration.{role}
"""


def run_role(role: str, workdir: Path, hostvars: dict, hosts: dict | None = None,
             path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    """ansible-playbook with `role` on host "local" (plus `hosts`, same connection)."""
    base = {
        "ansible_connection": "local",
        "ansible_become": False,
        "ansible_python_interpreter": sys.executable,
        "fleet_record_evidence": False,
    }
    all_hosts = {"local": {**base, **hostvars}}
    for name, extra in (hosts or {}).items():
        all_hosts[name] = {**base, **extra}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "inventory.json").write_text(json.dumps({"all": {"hosts": all_hosts}}))
    (workdir / "play.yml").write_text(PLAYBOOK.format(role=role))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections")}
    if path_prefix:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    return subprocess.run(["ansible-playbook", "-i", str(workdir / "inventory.json"), str(workdir / "play.yml")],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300)


def flat(res: subprocess.CompletedProcess) -> str:
    """The run's output with line wrapping undone, for substring asserts."""
    return " ".join((res.stdout + res.stderr).split())
