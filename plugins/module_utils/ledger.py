# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""The stability ledger, in four parts, re-exported here for callers that
want one import:

- ledger_store: the append-only, hash-chained SQLite file (storage);
- stability: what the evidence says about one host (arithmetic);
- gate_rules: the named asserts a gate evaluates (rules);
- gate_record: how a decision is written back (recording).
"""

from __future__ import annotations

from ansible_collections.fleet.migration.plugins.module_utils.gate_record import latest_gate, record_gate
from ansible_collections.fleet.migration.plugins.module_utils.gate_rules import (
    Assertion,
    GateResult,
    GateSpec,
    GateSpecError,
    evaluate_gate,
)
from ansible_collections.fleet.migration.plugins.module_utils.ledger_store import (
    CLOCK_CHECK,
    CONTROLLER,
    FLEET,
    APPEND_ONLY_MESSAGE,
    DEFAULT_LEDGER_PATH,
    KINDS,
    SCHEMA_VERSION,
    Event,
    Ledger,
    LedgerError,
    default_path,
    from_iso,
    to_iso,
    utcnow,
)
from ansible_collections.fleet.migration.plugins.module_utils.stability import (
    HostStability,
    clock_anomalies,
    deployed_hosts,
    enabled,
    host_stability,
    hosts_stability,
    human_minutes,
    open_problems,
)

__all__ = [
    "APPEND_ONLY_MESSAGE", "DEFAULT_LEDGER_PATH", "KINDS", "SCHEMA_VERSION", "Event", "Ledger", "LedgerError",
    "default_path", "from_iso", "to_iso", "utcnow", "CLOCK_CHECK", "CONTROLLER", "FLEET", "HostStability",
    "clock_anomalies", "deployed_hosts", "enabled", "host_stability", "hosts_stability", "human_minutes", "open_problems",
    "Assertion", "GateResult", "GateSpec", "GateSpecError", "evaluate_gate", "latest_gate", "record_gate",
]
