# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""What fleet.migration.ledger_record accepts and writes, shared by its action plugin and its module.

The action plugin (plugins/action/ledger_record.py) writes in the controller's
worker process; the module (plugins/modules/ledger_record.py) holds the
documentation and does the same when run as a module. One argument spec and
one write, so both answer alike.
"""
from __future__ import annotations

import os
import sqlite3
from typing import Any

from ansible_collections.fleet.migration.plugins.module_utils.ledger_store import KINDS, Ledger, LedgerError, default_path

# The options of one event: top-level for a single event, suboptions of each
# element of `events` for a batch.
EVENT_OPTIONS: dict[str, dict[str, Any]] = dict(
    kind=dict(type="str", choices=list(KINDS)),
    host=dict(type="str"),
    phase=dict(type="int"),
    check=dict(type="str"),
    ok=dict(type="bool"),
    evidence=dict(type="dict", default={}),
    details=dict(type="str", default=""),
    run_id=dict(type="str", default=""),
    measured_on=dict(type="str", default="host", choices=["host", "controller"]),
    stand_in=dict(type="bool", default=False),
)
IDENTITY = ("kind", "host", "check", "ok")
# Hosts named in a failed batch's message before "and N more".
HOSTS_NAMED = 10

ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    ledger_path=dict(type="path"),
    **EVENT_OPTIONS,
    events=dict(type="list", elements="dict",
                options={k: dict(v, required=True) if k in IDENTITY else v for k, v in EVENT_OPTIONS.items()}),
)
# Keyword arguments of AnsibleModule and of ActionBase.validate_argument_spec alike.
CONSTRAINTS: dict[str, list] = dict(
    mutually_exclusive=[("events", k) for k in IDENTITY],
    required_one_of=[("events", "kind")],
    required_together=[IDENTITY],
)


def as_event(params: dict) -> dict:
    event = {k: params[k] for k in ("kind", "host", "phase", "check", "ok", "details", "run_id")}
    # Where and on what the evidence was measured travels with it.
    event["evidence"] = dict(params["evidence"] or {}, measured_on=params["measured_on"], stand_in=params["stand_in"])
    return event


def batch_failure(events: list[dict], path: str, exc: Exception) -> str:
    hosts = list(dict.fromkeys(e["host"] for e in events))
    named = ", ".join(hosts[:HOSTS_NAMED]) + (f" and {len(hosts) - HOSTS_NAMED} more" if len(hosts) > HOSTS_NAMED else "")
    return (f"{named}: could not record the {len(events)} events of this batch in the ledger {path}: {exc}. "
            "None of them was recorded (one transaction); fix the cause and run the task again.")


def record(params: dict, check_mode: bool) -> tuple[dict, str]:
    """(result, error message or ''): the events of validated params, written unless in check mode."""
    path = os.path.abspath(params["ledger_path"] or default_path())
    batch = params["events"] is not None
    events = [as_event(e) for e in params["events"]] if batch else [as_event(params)]
    # changed stays false: the ledger is the controller's record of what was
    # observed, not a change to the host (see the module's DOCUMENTATION).
    result: dict[str, Any] = dict(changed=False, recorded=False, ledger_path=path)
    if batch:
        result["events"] = events
    else:
        result["event"] = events[0]
    if check_mode or not events:
        return result, ""
    try:
        with Ledger(path) as ledger:
            ids = ledger.record_many(events)
    except (LedgerError, OSError, sqlite3.Error) as exc:
        if batch:
            return result, batch_failure(events, path, exc)
        return result, f"{params['host']}: could not record {params['kind']} {params['check']!r} in the ledger {path}: {exc}"
    if batch:
        result["ids"] = ids
    else:
        result["id"] = ids[0]
    result["recorded"] = True
    return result, ""
