"""clan_vars and clan_machine through ansible: in the worker on the controller, as modules elsewhere.

The module tests (test_module_clan_*.py) run every case both ways through the
harness; these run the real action plugins under ansible-playbook, with a
host interpreter that does not exist, so that only a module process would
notice it (plugins/plugin_utils/in_worker.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fakes import install, path_with
from support import procs

from ansible_collections.fleet.migration.plugins.plugin_utils.in_worker import run_in_worker

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clan(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    config = {"machines": {"web": {"targetHost": "root@web.fleet", "toplevel": "/nix/store/x-nixos-system-web",
                                   "generators": {"openssh": {"files": {"ssh.id_ed25519": {"secret": True}}}}}}}
    (state / "flake.json").write_text(json.dumps(config))
    env = dict(os.environ, FAKE_CLAN_STATE=str(state), PATH=path_with(install(tmp_path / "bin")),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    return env


def play(tmp_path: Path, env: dict, tasks: list[dict]) -> dict:
    """Run the tasks on localhost (local connection, a missing interpreter); the registered results by name."""
    for task in tasks:
        task["register"] = "r_" + task.pop("id")
        task["ignore_errors"] = True
    registered = ", ".join(f"'{t['register']}': {t['register']}" for t in tasks)
    tasks.append({"ansible.builtin.copy": {"dest": str(tmp_path / "results.json"),
                                           "content": "{{ {" + registered + "} | to_json }}"},
                  # The copy is a module too: it alone runs with the controller's interpreter.
                  "vars": {"ansible_python_interpreter": sys.executable}})
    playbook = tmp_path / "play.yml"
    play_vars = {"ansible_python_interpreter": str(tmp_path / "no-python")}
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks,
                                         "vars": play_vars}]))
    res = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
                          str(playbook)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert (tmp_path / "results.json").exists(), res.stdout + res.stderr
    return json.loads((tmp_path / "results.json").read_text())


def test_clan_vars_and_clan_machine_run_without_a_module_process(clan, tmp_path):
    tasks = [{"id": "vars", "fleet.migration.clan_vars": {"machine": "web", "flake": str(tmp_path)}},
             {"id": "machine", "fleet.migration.clan_machine": {"machine": "web", "flake": str(tmp_path),
                                                                "target_host": "root@web.fleet"}}]
    results = play(tmp_path, clan, tasks)
    assert results["r_vars"].get("failed") is not True, results["r_vars"]
    assert results["r_vars"]["generators_ran"] == ["openssh"] and results["r_vars"]["missing_after"] == []
    assert results["r_machine"].get("failed") is not True, results["r_machine"]
    assert results["r_machine"]["running_matches_profile"] is True


def test_the_task_environment_reaches_the_tool_under_the_modules_own(clan, tmp_path):
    """A module process inherits the task's `environment:`; in the worker it reaches the tool the same way,
    and the module's own `environment` option still wins."""
    echo = tmp_path / "bin" / "echo-clan"
    echo.write_text('#!/bin/sh\necho "task=$FLEET_FROM_TASK option=$FLEET_FROM_BOTH" >&2\nexit 3\n')
    echo.chmod(0o755)
    tasks = [{"id": "vars", "fleet.migration.clan_vars": {"machine": "web", "clan_bin": str(echo), "action": "list",
                                                          "environment": {"FLEET_FROM_BOTH": "option"}},
              "environment": {"FLEET_FROM_TASK": "task", "FLEET_FROM_BOTH": "task"}}]
    results = play(tmp_path, clan, tasks)
    assert results["r_vars"]["failed"] is True
    assert "task=task option=option" in results["r_vars"]["msg"], results["r_vars"]["msg"]


def test_async_runs_the_module_as_a_module(clan, tmp_path):
    """Only a synchronous local task runs in the worker; with async the module process starts, and here it
    cannot: the interpreter does not exist, which is what the error says."""
    tasks = [{"id": "vars", "fleet.migration.clan_vars": {"machine": "web", "flake": str(tmp_path)},
              "async": 60, "poll": 2}]
    results = play(tmp_path, clan, tasks)
    assert results["r_vars"]["failed"] is True
    assert "no-python" in json.dumps(results["r_vars"]), results["r_vars"]


def test_invalid_arguments_fail_as_the_modules_do(clan, tmp_path):
    tasks = [{"id": "vars", "fleet.migration.clan_vars": {"machine": "web", "bogus": 1}},
             {"id": "machine", "fleet.migration.clan_machine": {"machine": "web", "action": "reinstall"}}]
    results = play(tmp_path, clan, tasks)
    assert results["r_vars"]["msg"].startswith("Unsupported parameters for (fleet.migration.clan_vars) module: bogus")
    assert "value of action must be one of: install, update, got: reinstall" in results["r_machine"]["msg"]


def test_a_task_timeout_stops_the_tool_and_its_children(clan, tmp_path):
    """Ansible raises the task's `timeout:` inside the worker, where the tool now runs: the tool and what it
    started are stopped, not left running after the task failed."""
    pids = tmp_path / "pids"
    hang = tmp_path / "bin" / "hanging-clan"
    hang.write_text(f'#!/bin/sh\nsleep 300 &\necho "$$ $!" > {pids}\nwait\n')
    hang.chmod(0o755)
    tasks = [{"id": "vars", "fleet.migration.clan_vars": {"machine": "web", "clan_bin": str(hang), "action": "list"},
              "timeout": 3}]
    results = play(tmp_path, clan, tasks)
    assert results["r_vars"]["failed"] is True
    assert "timed out" in results["r_vars"]["msg"].lower(), results["r_vars"]["msg"]
    for pid in pids.read_text().split():
        assert procs.gone(int(pid)), f"process {pid} of the hanging tool outlived the task"


def test_phase0_check_runs_without_a_module_process(clan, tmp_path):
    """playbooks/phase0.yml runs phase0_check on the controller: in the worker, with its own error text."""
    args = {"flake": str(tmp_path / "no-flake"), "seed": {}, "service_requirements": {}, "criteria": {}}
    tasks = [{"id": "p0", "fleet.migration.phase0_check": args}]
    results = play(tmp_path, clan, tasks)
    assert results["r_p0"]["msg"] == (f"phase0_check: expected a flake checkout at {tmp_path / 'no-flake'} (with "
                                      "flake.nix), found none; set flake to the repository root"), results["r_p0"]


def test_a_module_that_returns_without_a_result_fails_naming_the_bug():
    """exit_json or fail_json ends every run of a module; one that returns instead is not taken as success."""
    result = run_in_worker("fleet.migration.example", {"name": {"type": "str"}}, lambda module: None,
                           {"name": "x"}, check_mode=False, diff=False)
    assert result["failed"] is True
    assert result["msg"] == "fleet.migration.example: the module ended without a result; this is a bug in it"
