"""Run a fleet.migration module in-process and return its JSON result.

The module reads its arguments through ansible's own test hook
(ansible.module_utils.testing.patch_module_args), so argument_spec
validation, check mode and diff mode behave exactly as under ansible.

A module that its action plugin also runs in Ansible's worker
(plugins/plugin_utils/in_worker.py: clan_vars, clan_machine) is run that way
instead while the ``each_way`` fixture's second parameter is active, so one
test proves both.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fleet.migration.plugins.plugin_utils.in_worker import run_in_worker

# Set by the each_way fixture: run through the action plugin's in-worker path.
IN_WORKER = {"on": False}


def run_module(name: str, args: dict, check_mode: bool = False, diff: bool = False) -> dict:
    """Run fleet.migration.<name>; the result dict has `failed` set when the module failed."""
    module = importlib.import_module("ansible_collections.fleet.migration.plugins.modules.%s" % name)
    if IN_WORKER["on"]:
        result = run_in_worker("fleet.migration." + name, module.ARGUMENT_SPEC, module.execute, args,
                               check_mode=check_mode, diff=diff)
        # JSON, as the module's result reaches Ansible.
        result = json.loads(json.dumps(result))
        result.setdefault("failed", False)
        return result
    full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    out = io.StringIO()
    with patch_module_args(full), contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    text = out.getvalue()
    try:
        result = json.loads(text)
    except ValueError as exc:
        raise AssertionError("module %s printed no JSON result: %r" % (name, text)) from exc
    result.setdefault("failed", False)
    return result


@pytest.fixture(params=["module", "in_worker"])
def each_way(request, monkeypatch):
    """Run the test twice: the module as a module, then as its action plugin runs it in the worker."""
    monkeypatch.setitem(IN_WORKER, "on", request.param == "in_worker")
    return request.param
