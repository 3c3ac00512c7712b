"""The ledger path is set once per play, with module_defaults for the action group
fleet.migration.ledger (meta/runtime.yml), not on every ledger_record / stability_gate task.

Every play under playbooks/ is walked with the task files it imports or includes (statically
named ones). A ledger task in a task file that only plays with the defaults reach must omit
ledger_path; one that a play without them reaches must keep it, or it would write the module's
own default ledger instead of fleet_ledger_path. The last test runs a playbook whose ledger task
omits the option and finds the row in fleet_ledger_path, not in the module's default.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
GROUP = "group/fleet.migration.ledger"
LEDGER_MODULES = {
    f"{prefix}{m}" for m in yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["action_groups"]["ledger"]
    for prefix in ("", "fleet.migration.")
}
# Plays in files another change owns, which still pass ledger_path per task. Each entry must
# still be true (a play there without the defaults that reaches a ledger task): when the file
# gains module_defaults, remove it here and drop ledger_path from the task files it shares.
PENDING: dict[str, str] = {}
TASK_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")
INCLUDES = {f"{p}{k}" for k in ("import_tasks", "include_tasks") for p in ("", "ansible.builtin.")}


def _load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def _tasks(tasks, source: Path, seen: tuple = ()):
    """(file, task) for every task, through blocks and statically named task files."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            if key in task:
                yield from _tasks(task[key], source, seen)
        include = next((task[k] for k in INCLUDES if k in task), None)
        if isinstance(include, dict):
            include = include.get("file")
        if isinstance(include, str) and "{{" not in include:
            target = (source.parent / include).resolve()
            if target.is_file() and target not in seen:
                yield from _tasks(_load(target), target, (*seen, target))
            continue
        yield source, task


def _ledger_tasks(play: dict, source: Path):
    for key in TASK_KEYS:
        for where, task in _tasks(play.get(key), source):
            module = next((k for k in task if k in LEDGER_MODULES), None)
            if module:
                yield where, task.get("name", "?"), task[module] if isinstance(task[module], dict) else {}


def _plays():
    """(playbook file name, play) for every play of every playbook, imported playbooks included."""
    for path in sorted(PLAYBOOKS.glob("*.yml")):
        for play in _load(path):
            if isinstance(play, dict) and "hosts" in play:
                yield path, play


def _has_defaults(play: dict) -> bool:
    return "ledger_path" in ((play.get("module_defaults") or {}).get(GROUP) or {})


def test_every_play_with_a_ledger_task_sets_the_ledger_path_once() -> None:
    missing, stale = [], set(PENDING)
    for path, play in _plays():
        name = path.name
        if not list(_ledger_tasks(play, path)) or _has_defaults(play):
            continue
        if name in PENDING:
            stale.discard(name)
            continue
        missing.append(f"playbooks/{name}: play {play.get('name')!r}")
    assert not missing, (
        f"expected every play that runs a ledger module to set module_defaults: {{{GROUP}: {{ledger_path: "
        f"'{{{{ fleet_ledger_path }}}}'}}}}; found none in: " + "; ".join(missing)
        + ". Add it to the play (once per play, a YAML anchor for the others of the file).")
    assert not stale, (
        f"expected each PENDING playbook of {__name__} to still lack the ledger module_defaults; found them set in "
        f"{sorted(stale)}. Remove it from PENDING and drop ledger_path from the task files it shares.")


def test_a_ledger_task_names_the_path_only_where_no_default_reaches_it() -> None:
    # Per ledger task (file, name): does a play without the defaults reach it, and does it set the path?
    without: dict[tuple, bool] = {}
    sets_path: dict[tuple, bool] = {}
    for path, play in _plays():
        for where, task_name, args in _ledger_tasks(play, path):
            key = (os.path.relpath(where, REPO), task_name)
            without[key] = without.get(key, False) or not _has_defaults(play)
            sets_path[key] = "ledger_path" in args
    redundant = [f"{w}: {n!r}" for (w, n), bare in without.items() if sets_path[(w, n)] and not bare]
    unset = [f"{w}: {n!r}" for (w, n), bare in without.items() if bare and not sets_path[(w, n)]]
    assert not redundant, (
        "expected ledger tasks reached only by plays with the ledger module_defaults to omit ledger_path; found it "
        "set in: " + "; ".join(sorted(redundant)) + ". Remove the option: the play's module_defaults sets it.")
    assert not unset, (
        "expected ledger tasks that a play without the ledger module_defaults reaches to set ledger_path; found it "
        "unset in: " + "; ".join(sorted(unset)) + ". Add module_defaults to that play.")


def test_the_defaults_apply_to_a_task_that_omits_the_path(tmp_path: Path) -> None:
    ledger, decoy = tmp_path / "ledger.sqlite", tmp_path / "decoy.sqlite"
    play = _load(PLAYBOOKS / "ledger-problem.yml")[0]
    record = next(t for t in play["tasks"] if "fleet.migration.ledger_record" in t)
    assert "ledger_path" not in record["fleet.migration.ledger_record"], "the test needs a task that omits ledger_path"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               FLEET_LEDGER_PATH=str(decoy))  # the module's own default, were module_defaults not applied
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "playbooks/ledger-problem.yml",
         "-e", f"fleet_ledger_path={ledger}", "-e", "problem_host=(controller)", "-e", "problem=clock",
         "-e", "problem_ok=false", "-e", "problem_details=skew"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert not decoy.exists(), f"expected nothing written to the module's default {decoy}; found the file"
    sys.path.insert(0, str(REPO / ".collections"))
    from ansible_collections.fleet.migration.plugins.module_utils.ledger import Ledger

    rows = Ledger(str(ledger)).events(kind="problem", host="(controller)")
    assert [(r.check, r.ok) for r in rows] == [("clock", False)]
