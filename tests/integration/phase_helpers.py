"""Helpers for the phase playbook tests: a test inventory derived from the
clan inventory, a scratch ledger, and ansible-playbook
runs that use the fake CLIs of tests/fakes.

No helper here writes evidence: every ledger row in these tests comes from a
playbook. The test inventory is not a copy of the machine list: it is built from
`nix eval .#clan.inventory.machines` (the single source of truth) with the
same groups and host variables the fleet.migration.clan inventory plugin
makes (a group per tag, fleet_phase from phaseN), and every host reached
over the local connection.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from support import ansible_json
from support import nix as nixsupport

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))
from ansible_collections.fleet.migration.plugins.module_utils import ledger as ledger_mod  # noqa: E402  pylint: disable=unused-import

_CACHE: dict[str, dict] = {}


def machines() -> dict:
    return nixsupport.inventory()


def phase_of(machine: dict) -> int | None:
    phases = [int(t[5:]) for t in machine["tags"] if t.startswith("phase") and t[5:].isdigit()]
    return phases[0] if phases else None


def hosts_in_phase(phase: int) -> list[str]:
    return sorted(name for name, m in machines().items() if phase_of(m) == phase)


def hosts_tagged(tag: str) -> list[str]:
    return sorted(name for name, m in machines().items() if tag in m["tags"])


def plugin_inventory() -> dict:
    """`ansible-inventory --list` of the real inventory (the fleet.migration.clan
    plugin over the real flake), so the tests see exactly its groups and hostvars."""
    if "_plugin_inventory" not in _CACHE:
        bindir = Path(sys.executable).parent
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_INVENTORY_CACHE": "False"}
        proc = subprocess.run(
            [str(bindir / "ansible-inventory"), "-i", str(REPO / "inventory" / "clan.yml"), "--list", "--export"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
        )
        assert proc.returncode == 0, f"ansible-inventory failed:\n{proc.stderr[-3000:]}"
        # --export keeps group_vars on their groups (the static inventory links
        # the real group_vars instead) but marks plugin strings as unsafe.
        _CACHE["_plugin_inventory"] = ansible_json.loads(proc.stdout)
    return _CACHE["_plugin_inventory"]


def write_inventory(directory: Path, extra_hostvars: dict[str, dict] | None = None) -> Path:
    """A static YAML inventory with the clan plugin's own groups and hostvars,
    every host reached over the local connection, next to a link to the real
    group_vars (so thresholds are the real ones unless a test overrides them
    with -e)."""
    directory.mkdir(parents=True, exist_ok=True)
    listing = plugin_inventory()
    hosts = {
        name: {**hostvars, "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
               **(extra_hostvars or {}).get(name, {})}
        for name, hostvars in listing["_meta"]["hostvars"].items()
    }
    groups = {
        group: {"hosts": {h: None for h in body.get("hosts", [])}}
        for group, body in listing.items()
        if group not in ("_meta", "all", "ungrouped") and body.get("hosts")
    }
    inventory = {"all": {"hosts": hosts, "children": groups}}
    path = directory / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=True), encoding="utf-8")
    link = directory / "group_vars"
    if not link.exists():
        link.symlink_to(REPO / "inventory" / "group_vars")
    return path


def required_checks(host: str) -> list[str]:
    """The verify roles of the host's class, from group_vars (which the gate requires)."""
    klass = machines()[host].get("machineClass", "nixos")
    return yaml.safe_load((REPO / "inventory" / "group_vars" / f"{klass}.yml").read_text())["fleet_verify_roles"]


def run_playbook(
    playbook: str, inventory: Path, ledger_path: Path, tmp: Path, *extra: str, env: dict | None = None,
    fakes: list[str] | None = None,
) -> subprocess.CompletedProcess:
    from fakes import install

    bin_dir = install(tmp / "bin", fakes or ["clan", "darwin-rebuild", "ssh"])
    environ = dict(os.environ)
    environ.update(
        {
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_INVENTORY": str(inventory),
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp / "facts"),
            "ANSIBLE_INVENTORY_CACHE": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_CLAN_STATE": str(tmp / "clan-state"),
            "FAKE_DARWIN_STATE": str(tmp / "darwin-state"),
        }
    )
    environ.update(env or {})
    cmd = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        str(REPO / "playbooks" / playbook),
        "-i",
        str(inventory),
        "-e",
        f"fleet_ledger_path={ledger_path}",
        "-e",
        f"fleet_reports_dir={tmp / 'reports'}",
        "-e",
        f"fleet_flake={tmp / 'flake'}",
        *extra,
    ]
    return subprocess.run(cmd, cwd=REPO, env=environ, capture_output=True, text=True, timeout=600, check=False)


def fake_clan_state(state: Path, hosts: list[str]) -> dict:
    """The fake clan's flake.json for `hosts`: each with its deploy target
    from the clan inventory, a system to switch to, and one secret and one
    public var to generate (see tests/fakes/fake_clan.py)."""
    config = {"machines": {}}
    for index, host in enumerate(hosts):
        config["machines"][host] = {
            "targetHost": machines()[host]["deploy"]["targetHost"],
            "toplevel": f"/nix/store/{index:032d}-nixos-system-{host}",
            "build_error": None,
            "generators": {
                "openssh": {"files": {"ssh.id_ed25519": {"secret": True}, "ssh.id_ed25519.pub": {"secret": False}}}
            },
        }
    state.mkdir(parents=True, exist_ok=True)
    (state / "flake.json").write_text(__import__("json").dumps(config), encoding="utf-8")
    return config
