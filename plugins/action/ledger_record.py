# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Action fleet.migration.ledger_record: the row is written in the controller's worker process.

Why an action plugin: the ledger lives on the controller, and each phase run
records several rows per host (the deployment, whether the host answered,
each verification role's evidence). As a module, every row cost a new Python
process on the controller (AnsiballZ: build, copy, start, unpack) for one
SQLite transaction; here the worker Ansible has already forked writes it.
The options, the checks and the write are the module's
(plugins/module_utils/ledger_events.py); the module holds the documentation.
"""
from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.fleet.migration.plugins.module_utils.ledger_events import ARGUMENT_SPEC, CONSTRAINTS, record


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    # Nothing is written in check mode (record() returns recorded=false).
    _supports_check_mode = True

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, **CONSTRAINTS)
        result = super().run(tmp, task_vars or {})
        del tmp  # unused: nothing goes to a host
        outcome, error = record(args, bool(self._play_context.check_mode))
        result.update(outcome)
        if error:
            result.update(failed=True, msg=error)
        return result
