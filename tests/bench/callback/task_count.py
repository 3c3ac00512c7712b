# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Count what each task ran: per task, its action, host runs and loop items.

Test and benchmark aid only (tests/bench): enabled with
ANSIBLE_CALLBACK_PLUGINS=tests/bench/callback ANSIBLE_CALLBACKS_ENABLED=task_count,
it writes JSON to $FLEET_TASK_COUNT_FILE at the end of the run. Counting
results, not parsing the screen output, keeps the count independent of the
stdout callback.
"""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_count
type: aggregate
short_description: Count host runs and loop items of every task (tests only)
description:
  - "Writes C({task name: {action, runs, items, hosts}}) to the file named by E(FLEET_TASK_COUNT_FILE)."
requirements:
  - enable in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.tasks: dict[str, dict] = {}
        self._current: str | None = None
        self._started = 0.0

    def _close_current(self) -> None:
        if self._current is not None:
            entry = self.tasks.setdefault(self._current, {"action": "", "runs": 0, "items": 0, "skipped": 0,
                                                          "hosts": []})
            entry["seconds"] = round(entry.get("seconds", 0.0) + time.monotonic() - self._started, 3)
        self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._close_current()
        self._current, self._started = task.get_name(), time.monotonic()

    def _entry(self, result) -> dict:
        task = result._task
        fresh = {"action": task.action, "runs": 0, "items": 0, "skipped": 0, "hosts": []}
        entry = self.tasks.setdefault(task.get_name(), fresh)
        return entry

    def _host_done(self, result, skipped: bool = False) -> None:
        entry = self._entry(result)
        if skipped:
            entry["skipped"] += 1
            return
        entry["runs"] += 1
        entry["hosts"].append(result._host.get_name())

    def v2_runner_on_ok(self, result) -> None:
        self._host_done(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._host_done(result)

    def v2_runner_on_skipped(self, result) -> None:
        self._host_done(result, skipped=True)

    def v2_runner_item_on_ok(self, result) -> None:
        self._entry(result)["items"] += 1

    def v2_runner_item_on_failed(self, result) -> None:
        self._entry(result)["items"] += 1

    def v2_playbook_on_stats(self, stats) -> None:
        self._close_current()
        path = os.environ.get("FLEET_TASK_COUNT_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self.tasks, handle, indent=1, sort_keys=True)
