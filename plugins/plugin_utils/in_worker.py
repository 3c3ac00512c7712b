# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Run a controller-side module of this collection inside Ansible's worker process.

Why: clan_vars and clan_machine always run on the controller (the playbooks
delegate them to localhost), once per host and deploy. As modules, each run
cost a new Python process that unpacks AnsiballZ and compiles Ansible's
module_utils from the zip again (zipimport keeps no bytecode): about half a
CPU-second per run, most of a deploy's control-plane cost (issue 13,
docs/BENCHMARKS.md). ansible.netcommon runs its modules in the worker for the
same reason (ansible.module_utils.basic, ``AnsibleModule._record_module_result``).

How: the module's logic is a function ``execute(module)`` that needs only
``params``, ``check_mode``, ``_diff``, ``fail_json`` and ``exit_json``. The
module's ``main`` hands it an AnsibleModule; :class:`ControllerModuleAction`
hands it an :class:`InWorkerModule` with the same arguments validated by the
same argument spec, and the result is what the module would have returned
(no_log values removed, ``invocation`` added).

It runs in the worker only where the module would run on the controller
itself, as the same user, synchronously: a local connection, no become, no
async. Anywhere else the task runs the module as usual, so a task aimed at
another host still runs the tool there.
"""
from __future__ import annotations

from typing import Any, Callable, NoReturn

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.fleet.migration.plugins.module_utils.module_like import ModuleLike

LOCAL_TRANSPORTS = ("local", "ansible.builtin.local", "ansible.legacy.local")


class ModuleExit(Exception):
    """Raised by InWorkerModule.exit_json and fail_json: the module's result, which ends its run."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result


class InWorkerModule:
    """What ``execute(module)`` uses of AnsibleModule, for a run in the worker."""

    def __init__(self, params: dict[str, Any], check_mode: bool, diff: bool,
                 task_environment: dict[str, str] | None = None) -> None:
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        # The task's `environment:`, which a module process would inherit;
        # runner.runner_for puts it under the module's own environment.
        self.task_environment = dict(task_environment or {})

    def exit_json(self, **result: Any) -> NoReturn:
        raise ModuleExit(result)

    def fail_json(self, msg: str, **result: Any) -> NoReturn:
        raise ModuleExit(dict(result, failed=True, msg=msg))


def invalid_arguments(module_name: str, validation: Any) -> str:
    """The error AnsibleModule gives for invalid arguments (ansible.module_utils.basic, AnsibleModule.__init__),
    or '' when they are valid."""
    try:
        error = validation.errors[0]
    except IndexError:
        return ""
    msg = validation.errors.msg
    if isinstance(error, UnsupportedError):
        msg = f"Unsupported parameters for ({module_name}) module: {msg}"
    return msg


def run_in_worker(module_name: str, spec: dict[str, Any], execute: Callable[[ModuleLike], None], args: dict[str, Any],
                  check_mode: bool, diff: bool, task_environment: dict[str, str] | None = None) -> dict[str, Any]:
    """The result ``execute`` gives for ``args``, as the module would return it."""
    validation = ArgumentSpecValidator(spec).validate(dict(args))
    no_log_values = validation._no_log_values  # pylint: disable=protected-access
    invalid = invalid_arguments(module_name, validation)
    if invalid:
        return dict(failed=True, msg=invalid)
    params = validation.validated_parameters
    module = InWorkerModule(params, check_mode, diff, task_environment)
    try:
        execute(module)
    except ModuleExit as done:
        result = done.result
    else:
        result = dict(failed=True, msg=f"{module_name}: the module ended without a result; this is a bug in it")
    result.setdefault("invocation", {"module_args": params})
    # As AnsibleModule._return_formatted: mask no_log values, keep booleans and None.
    preserved = {k: v for k, v in result.items() if v is None or isinstance(v, bool)}
    result = remove_values(result, no_log_values)
    result.update(preserved)
    return result


class ControllerModuleAction(ActionBase):
    """Base of an action plugin that runs its module's ``execute`` in the worker where it can.

    A subclass sets MODULE (the FQCN), SPEC (the module's argument spec) and
    EXECUTE (the module's ``execute``).
    """

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True
    MODULE = ""
    SPEC: dict[str, Any] = {}
    EXECUTE: Callable[[ModuleLike], None]  # set as staticmethod(the module's execute)

    def in_worker(self) -> bool:
        """Whether the module would run here, on the controller, as this user, and wait for its result."""
        transport = getattr(self._connection, "transport", "")
        return (transport in LOCAL_TRANSPORTS and not self._play_context.become
                and not self._task.async_val)

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp  # unused: nothing is copied anywhere
        if not self.in_worker():
            wrap_async = self._task.async_val and not self._connection.has_native_async
            result.update(self._execute_module(module_name=self.MODULE, task_vars=task_vars,
                                               wrap_async=wrap_async))
            if not wrap_async:
                # As ansible.builtin.normal does: an async job still needs its directory.
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        environment: dict[str, str] = {}
        self._compute_environment_string(raw_environment_out=environment)
        result.update(run_in_worker(self.MODULE, self.SPEC, self.EXECUTE, self._task.args,
                                    check_mode=bool(self._task.check_mode), diff=bool(self._task.diff),
                                    task_environment=environment))
        return result
