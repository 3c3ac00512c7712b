"""Local stand-in hosts for the phase playbook tests.

Each machine under test is this machine under its own loopback address
(127.0.3.N), reached over Ansible's local connection, with what the
verification roles probe made real:

- a real OpenSSH sshd listening on <address>:<fleet_ports.ssh>, presenting a
  host certificate for <machine>.<fleet_domain> signed by a CA made for the
  test, password logins off (ssh_cert_verify, mesh_verify, firewall_verify);
- the machine's expected secrets (fleet_expected_secrets, from the inventory)
  as files with their owner and mode under a per-host secrets root
  (secrets_verify);
- labelled stand-ins of `systemctl` and `launchctl` that print the real
  tools' output formats from a per-host unit table, so a test can make a unit
  fail (service_health).

Nothing here writes to the ledger: every row comes from the playbooks.
The addresses, ports, domain and secrets are read from the inventory.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
# Mesh and public addresses of the stand-ins: two loopback subnets, so that
# firewall_verify probes a public address that is not the mesh.
MESH = "127.0.3."
PUBLIC = "127.0.4."

SYSTEMCTL = r'''#!{python}
# STAND-IN for systemctl(1) on a fleet.migration test host (not systemd).
# Output formats: systemd's `list-units --plain --no-legend` columns
# (UNIT LOAD ACTIVE SUB DESCRIPTION) and `show --property=...` (key=value
# blocks separated by a blank line), from systemd's src/systemctl.
import json, sys
units = json.load(open({units!r}))["systemd"]
args = sys.argv[1:]
if args[:1] == ["list-units"]:
    failed_only = "--state=failed" in args
    for name, u in sorted(units.items()):
        if failed_only and u["active"] != "failed":
            continue
        print(f"{{name}} loaded {{u['active']}} {{u['sub']}} stand-in unit {{name}}")
    sys.exit(0)
if args[:1] == ["show"]:
    names = [a for a in args[1:] if not a.startswith("--")]
    blocks = []
    for name in names:
        u = units.get(name, {{"active": "inactive", "sub": "dead", "restarts": 0}})
        blocks.append(f"Id={{name}}\nNRestarts={{u.get('restarts', 0)}}\nSubState={{u['sub']}}")
    print("\n\n".join(blocks))
    sys.exit(0)
print(f"systemctl stand-in: unsupported arguments {{args}}", file=sys.stderr)
sys.exit(1)
'''

LAUNCHCTL = r'''#!{python}
# STAND-IN for launchctl(1) on a fleet.migration test host: a Linux host
# standing in for a darwin workstation, never a Mac. `launchctl list` prints
# "PID<TAB>Status<TAB>Label" (launchctl(1), LEGACY SUBCOMMANDS, list).
import json, sys
jobs = json.load(open({units!r}))["launchd"]
if sys.argv[1:] == ["list"]:
    print("PID\tStatus\tLabel")
    for label, j in sorted(jobs.items()):
        print(f"{{j['pid']}}\t{{j['status']}}\t{{label}}")
    sys.exit(0)
print(f"launchctl stand-in: unsupported arguments {{sys.argv[1:]}}", file=sys.stderr)
sys.exit(64)
'''


def _free(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


class LocalFleet:
    """Stand-ins for `hosts` (name -> the inventory's hostvars of that host)."""

    def __init__(self, root: Path, hosts: dict[str, dict]):
        self.root = root
        self.hosts = hosts
        self.procs: dict[str, subprocess.Popen] = {}
        self.address = {name: f"{MESH}{i + 10}" for i, name in enumerate(sorted(hosts))}
        self.public = {name: f"{PUBLIC}{i + 10}" for i, name in enumerate(sorted(hosts))}
        self.ca = root / "ca" / "fleet_ca"

    # -- bring up ----------------------------------------------------------
    def start(self) -> "LocalFleet":
        # sshd's privilege separation directory (Debian's package makes it at boot).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.ca.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleet test CA", "-f", str(self.ca)], check=True)
        for name in sorted(self.hosts):
            self._host(name)
        return self

    def dir(self, name: str) -> Path:
        return self.root / "hosts" / name

    def _host(self, name: str) -> None:
        hv, d, addr = self.hosts[name], self.dir(name), self.address[name]
        (d / "bin").mkdir(parents=True, exist_ok=True)
        port = int(hv["fleet_ports"]["ssh"])
        principal = f"{name}.{hv['fleet_domain']}"
        key = d / "ssh_host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        subprocess.run(["ssh-keygen", "-q", "-s", str(self.ca), "-I", principal, "-h", "-n", principal, f"{key}.pub"], check=True)
        config = d / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {addr}:{port}",
                    f"ListenAddress {self.public[name]}:{port}",
                    f"HostKey {key}",
                    f"HostCertificate {key}-cert.pub",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    f"PidFile {d / 'sshd.pid'}",
                    f"AuthorizedKeysFile {d / 'authorized_keys'}",
                ]
            )
            + "\n"
        )
        wrapper = d / "bin" / "sshd"
        wrapper.write_text(f'#!/bin/sh\nexec {SSHD} -f {config} "$@"\n')
        wrapper.chmod(0o755)
        self.units(name, {})
        for tool, text in (("systemctl", SYSTEMCTL), ("launchctl", LAUNCHCTL)):
            path = d / "bin" / tool
            path.write_text(text.format(python=sys.executable, units=str(d / "units.json")))
            path.chmod(0o755)
        secrets = d / "secrets"
        for item in hv.get("fleet_expected_secrets") or []:
            target = secrets / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"stand-in secret of {name}: {item['path']}\n")
            shutil.chown(target, item.get("owner") or "root", item.get("group") or None)
            target.chmod(int(str(item.get("mode") or "0400"), 8))
        self.start_sshd(name)

    def start_sshd(self, name: str) -> None:
        d, addr = self.dir(name), self.address[name]
        port = int(self.hosts[name]["fleet_ports"]["ssh"])
        self.procs[name] = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=open(d / "sshd.log", "ab")
        )
        for _attempt in range(100):
            try:
                with socket.create_connection((addr, port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{name}: sshd did not listen on {addr}:{port}; see {d / 'sshd.log'}")

    def stop_sshd(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc:
            proc.terminate()
            proc.wait(timeout=10)

    def units(self, name: str, failing: dict[str, str]) -> None:
        """Write the host's unit table; `failing` maps a unit/job to its failure."""
        systemd = {"sshd.service": {"active": "active", "sub": "running", "restarts": 0}}
        launchd = {"org.nixos.activate-system": {"pid": "-", "status": "0"},
                   "fleet.stand-in.launchctl": {"pid": str(os.getpid()), "status": "0"}}
        for unit in failing:
            systemd[unit] = {"active": "failed", "sub": "failed", "restarts": 0}
            launchd[unit] = {"pid": "-", "status": "78"}
        (self.dir(name) / "units.json").write_text(json.dumps({"systemd": systemd, "launchd": launchd}))

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_sshd(name)

    # -- what the inventory says about each stand-in ---------------------------
    def hostvars(self, name: str) -> dict:
        d, addr = self.dir(name), self.address[name]
        return {
            "fleet_stand_in": True,
            "fleet_mesh_address": addr,
            "fleet_public_address": self.public[name],
            "fleet_ssh_ca_public_key": f"{self.ca}.pub",
            "ssh_cert_verify_address": addr,
            "ssh_cert_verify_port": int(self.hosts[name]["fleet_ports"]["ssh"]),
            "ssh_cert_verify_sshd_bin": str(d / "bin" / "sshd"),
            "ssh_cert_verify_ssh_bin": shutil.which("ssh") or "/usr/bin/ssh",
            "secrets_verify_root": str(d / "secrets"),
            "service_health_systemctl": str(d / "bin" / "systemctl"),
            "service_health_launchctl": str(d / "bin" / "launchctl"),
        }
