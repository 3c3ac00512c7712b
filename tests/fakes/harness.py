"""Run a fleet.migration module in-process and return its JSON result.

The module reads its arguments through ansible's own test hook
(ansible.module_utils.testing.patch_module_args), so argument_spec
validation, check mode and diff mode behave exactly as under ansible.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json

from ansible.module_utils.testing import patch_module_args


def run_module(name: str, args: dict, check_mode: bool = False, diff: bool = False) -> dict:
    """Run fleet.migration.<name>; the result dict has `failed` set when the module failed."""
    module = importlib.import_module("ansible_collections.fleet.migration.plugins.modules.%s" % name)
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
