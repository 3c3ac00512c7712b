"""The lookup fleet.migration.ledger as playbooks call it (read-only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))
from ansible_collections.fleet.migration.plugins.module_utils import ledger as L  # noqa: E402


def ask(expr: str, tmp: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp / "t"))
    env.pop("FLEET_LEDGER_PATH", None)
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible")), "localhost", "-i", "localhost,", "-c", "local", "-m", "debug",
         "-a", json.dumps({"msg": "{{ " + expr + " | to_json }}"})],
        cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=120,
    )


def answer(res: subprocess.CompletedProcess):
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(json.loads(res.stdout[res.stdout.index("=> {") + 3:])["msg"])


def test_deployed_hosts_latest_and_path(tmp_path):
    path = tmp_path / "l.sqlite"
    with L.Ledger(str(path)) as led:
        led.record("deployment", "a", "clan_machine", True, evidence={"changed": True, "generation_before": 4})
        led.record("deployment", "b", "clan_machine", False)
        led.record("deployment", "c", "clan_machine", True)
        led.record("toggle", "c", "disabled", True, evidence={"enabled": False})
        led.record("toggle", "c", "enabled", False, evidence={"enabled": True})  # a failed toggle changes nothing
    assert answer(ask(f"query('fleet.migration.ledger', 'deployed_hosts', ledger_path='{path}')", tmp_path)) == ["a"]
    latest = answer(ask(f"lookup('fleet.migration.ledger', 'latest', kind='deployment', host='b', ledger_path='{path}')", tmp_path))
    assert latest["host"] == "b" and latest["ok"] is False
    assert answer(ask(f"lookup('fleet.migration.ledger', 'deployment', host='a', ledger_path='{path}')", tmp_path))["generation_before"] == 4
    assert answer(ask("lookup('fleet.migration.ledger', 'path')", tmp_path)) == str(REPO / ".cache" / "ledger.sqlite")
    assert answer(ask(f"query('fleet.migration.ledger', 'deployed_hosts', ledger_path='{tmp_path / 'none.sqlite'}')", tmp_path)) == []
    assert not (tmp_path / "none.sqlite").exists()


def test_a_file_that_is_not_a_ledger_fails_the_lookup(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a ledger")
    res = ask(f"lookup('fleet.migration.ledger', 'latest', kind='gate', ledger_path='{bad}')", tmp_path)
    assert res.returncode != 0
    assert f"fleet.migration.ledger: refusing {bad}: expected a fleet.migration stability ledger" in res.stdout
