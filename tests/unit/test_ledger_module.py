"""fleet.migration.ledger_record as Ansible runs it (ad-hoc, on localhost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))
from ansible_collections.fleet.migration.plugins.module_utils import ledger as L  # noqa: E402


def run_module(module: str, args: dict, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    """Run one module ad hoc; returns (rc, the module's JSON result)."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    cmd = [
        str(Path(sys.executable).with_name("ansible")),
        "localhost",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-m",
        module,
        "-a",
        json.dumps(args),
        *extra,
    ]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    # The minimal callback prints `localhost | STATUS => {json}`.
    assert "=> {" in res.stdout, res.stdout + res.stderr
    # The phase report follows the result when a gate decided: read the JSON only.
    return res.returncode, json.JSONDecoder().raw_decode(res.stdout[res.stdout.index("=> {") + 3 :])[0]


def test_records_one_row_with_evidence(tmp_path):
    path = tmp_path / "l.sqlite"
    rc, result = run_module(
        "fleet.migration.ledger_record",
        {
            "ledger_path": str(path),
            "kind": "health",
            "host": "cinnabar",
            "phase": 1,
            "check": "mesh_verify",
            "ok": True,
            "evidence": {"peers": 2},
            "details": "2 peers online",
        },
        tmp_path,
    )
    assert rc == 0, result
    # Evidence on the controller is not a change to the host: a second converge
    # must report changed=0 even though every run appends evidence.
    assert result["changed"] is False and result["recorded"] is True and isinstance(result["id"], int)
    with L.Ledger(str(path)) as led:
        [event] = led.events()
    assert (event.kind, event.host, event.phase, event.check, event.ok) == (
        "health",
        "cinnabar",
        1,
        "mesh_verify",
        True,
    )
    assert event.evidence == {"peers": 2, "measured_on": "host", "stand_in": False} and event.details == "2 peers online"


def test_check_mode_records_nothing(tmp_path):
    path = tmp_path / "l.sqlite"
    rc, result = run_module(
        "fleet.migration.ledger_record",
        {"ledger_path": str(path), "kind": "deployment", "host": "rosegold", "check": "darwin_rebuild", "ok": True},
        tmp_path,
        "--check",
    )
    assert rc == 0, result
    assert result["changed"] is False and result["recorded"] is False and "id" not in result
    assert not path.exists()


def test_unknown_kind_is_refused_by_the_argument_spec(tmp_path):
    rc, result = run_module(
        "fleet.migration.ledger_record",
        {"ledger_path": str(tmp_path / "l.sqlite"), "kind": "opinion", "host": "x", "check": "y", "ok": True},
        tmp_path,
    )
    assert rc != 0
    assert "value of kind must be one of: deployment, health, gate, problem, provision, toggle, ci, got: opinion" in result["msg"]


def test_unwritable_ledger_names_host_check_and_path(tmp_path):
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"garbage" * 200)
    rc, result = run_module(
        "fleet.migration.ledger_record",
        {"ledger_path": str(bad), "kind": "health", "host": "argentum", "check": "regression_verify", "ok": True},
        tmp_path,
    )
    assert rc != 0
    assert result["msg"].startswith(f"argentum: could not record health 'regression_verify' in the ledger {bad}: ")


def test_a_batch_records_one_row_per_event_in_one_run(tmp_path):
    path = tmp_path / "l.sqlite"
    events = [{"kind": "health", "host": h, "check": "mesh_verify", "ok": h != "h3", "phase": 1,
               "evidence": {"peers": [h]}, "details": f"{h} checked", "run_id": "r1"} for h in ("h1", "h2", "h3")]
    rc, result = run_module("fleet.migration.ledger_record", {"ledger_path": str(path), "events": events}, tmp_path)
    assert rc == 0, result
    assert result["changed"] is False and result["recorded"] is True and "id" not in result
    with L.Ledger(str(path)) as led:
        rows = led.events()
    assert [r.id for r in rows] == result["ids"] == [1, 2, 3]
    assert [(r.host, r.ok, r.phase, r.run_id, r.details) for r in rows] == [
        ("h1", True, 1, "r1", "h1 checked"), ("h2", True, 1, "r1", "h2 checked"), ("h3", False, 1, "r1", "h3 checked")]
    # Each row keeps its own evidence, with where it was measured.
    assert rows[1].evidence == {"peers": ["h2"], "measured_on": "host", "stand_in": False}


def test_a_batch_is_all_or_nothing_and_the_failure_names_its_hosts(tmp_path):
    path = tmp_path / "l.sqlite"
    events = [{"kind": "health", "host": "h1", "check": "mesh_verify", "ok": True},
              {"kind": "health", "host": "h2", "check": "", "ok": True}]
    rc, result = run_module("fleet.migration.ledger_record", {"ledger_path": str(path), "events": events}, tmp_path)
    assert rc != 0
    assert result["msg"] == (
        f"h1, h2: could not record the 2 events of this batch in the ledger {path}: CHECK constraint failed: "
        "check_name <> ''. "
        "None of them was recorded (one transaction); fix the cause and run the task again.")
    with L.Ledger(str(path)) as led:
        assert led.events() == []


def test_a_batch_and_a_single_event_are_mutually_exclusive(tmp_path):
    rc, result = run_module(
        "fleet.migration.ledger_record",
        {"ledger_path": str(tmp_path / "l.sqlite"), "events": [], "kind": "health", "host": "x", "check": "y", "ok": True},
        tmp_path,
    )
    assert rc != 0
    assert "parameters are mutually exclusive: events|kind" in result["msg"]
    assert not (tmp_path / "l.sqlite").exists()


def test_the_row_is_written_on_the_controller_without_starting_a_module_process(tmp_path):
    """The action plugin writes in Ansible's worker: an interpreter that does not exist is never started."""
    path = tmp_path / "l.sqlite"
    rc, result = run_module("fleet.migration.ledger_record",
                            {"ledger_path": str(path), "kind": "health", "host": "cinnabar", "check": "mesh_verify",
                             "ok": True}, tmp_path, "-e", f"ansible_python_interpreter={tmp_path / 'no-python'}")
    assert rc == 0 and result["recorded"] is True, result
    with L.Ledger(str(path)) as led:
        assert [(e.host, e.check) for e in led.events()] == [("cinnabar", "mesh_verify")]


def test_the_module_run_as_a_module_writes_what_the_action_writes(tmp_path):
    """plugins/modules/ledger_record.py (documentation, and the same write) agrees with the action plugin."""
    event = {"kind": "health", "host": "cinnabar", "phase": 1, "check": "mesh_verify", "ok": False,
             "evidence": {"peers": 0}, "details": "no peer answered"}
    action_ledger, module_ledger = tmp_path / "action.sqlite", tmp_path / "module.sqlite"
    rc, by_action = run_module("fleet.migration.ledger_record", dict(event, ledger_path=str(action_ledger)), tmp_path)
    assert rc == 0, by_action
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(event, ledger_path=str(module_ledger))}))
    res = subprocess.run([sys.executable, str(REPO / "plugins" / "modules" / "ledger_record.py"), str(args)],
                         env=dict(os.environ, PYTHONPATH=str(REPO / ".collections")), capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    by_module = json.loads(res.stdout)
    for result in (by_action, by_module):
        result.pop("ledger_path")
        result.pop("invocation", None)
    assert by_module == by_action
    with L.Ledger(str(action_ledger)) as a, L.Ledger(str(module_ledger)) as m:
        strip = [(e.kind, e.host, e.phase, e.check, e.ok, e.evidence, e.details) for e in a.events()]
        assert strip == [(e.kind, e.host, e.phase, e.check, e.ok, e.evidence, e.details) for e in m.events()]
