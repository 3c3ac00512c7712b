# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Recording gate decisions, in O(checks) per host.

A host's gate row holds only its own asserts; the phase-wide decision, with
its failed asserts, is recorded once, under the pseudo-host FLEET. What one
gate run writes therefore grows linearly with the hosts it judges, never with
their square. A clock anomaly found by a gate opens a problem on the
controller, so that it blocks until someone acknowledges it.
"""

from __future__ import annotations

from dataclasses import asdict

from ansible_collections.fleet.migration.plugins.module_utils.gate_rules import GateResult
from ansible_collections.fleet.migration.plugins.module_utils.ledger_store import CLOCK_CHECK, CONTROLLER, FLEET, Ledger
from ansible_collections.fleet.migration.plugins.module_utils.stability import open_problems

# Asserts about the phase as a whole, the same for every subject: recorded
# once, on the (fleet) row, never once per host.
SHARED = ("cumulative_stability", "no_open_problems", "clock")


def _shared(criterion: str) -> bool:
    return criterion in SHARED or criterion.startswith("rollback_plan:")


def _compact(asserts) -> dict:
    """Failed asserts whole; passed ones as criterion -> found, which is all a
    reader needs of them (a year of daily gates stays small)."""
    return {"failed": [asdict(a) for a in asserts if not a.ok], "passed": {a.criterion: a.found for a in asserts if a.ok}}


# Bounded so that one decision row stays small even when every host fails.
MAX_FAILURES_RECORDED = 50
MAX_DETAILS = 2000


def record_gate(ledger: Ledger, result: GateResult, *, run_id: str = "") -> list[int]:
    """One row per subject with its own asserts, one fleet-wide decision row,
    and a clock problem if the gate found one; atomically."""
    spec = result.spec
    rows = []
    for subject in spec.subjects:
        mine = [a for a in result.asserts if a.host == subject and not _shared(a.criterion)]
        own_failures = [a.message for a in mine if not a.ok]
        details = "GO" if result.passed else "NO-GO: " + (
            " | ".join(own_failures) if own_failures else "this host's own asserts hold; the phase's failed (see the (fleet) row)"
        )
        rows.append(
            {
                "kind": "gate",
                "host": subject,
                "phase": spec.phase,
                "check": spec.gate_name,
                # The phase's decision, not the host's: the next phase needs the phase's GO.
                "ok": result.passed,
                "run_id": run_id,
                "at": result.evaluated_at,
                "details": details[:MAX_DETAILS],
                "evidence": {"decision": result.decision, "host_passed": all(a.ok for a in mine), **_compact(mine)},
            }
        )
    failures = result.failures
    # The shared asserts of the first subject stand for all (they are identical).
    first = spec.subjects[0] if spec.subjects else None
    shared = [a for a in result.asserts if _shared(a.criterion) and a.host in (first, f"phase{spec.phase}")]
    rows.append(
        {
            "kind": "gate",
            "host": FLEET,
            "phase": spec.phase,
            "check": spec.gate_name,
            "ok": result.passed,
            "run_id": run_id,
            "at": result.evaluated_at,
            "details": ("GO" if result.passed else "NO-GO: " + " | ".join(failures))[:MAX_DETAILS],
            "evidence": {
                "decision": result.decision,
                "subjects": list(spec.subjects),
                "asserts": len(result.asserts),
                "failed": len(failures) if not result.passed else 0,
                "failures": failures[:MAX_FAILURES_RECORDED] if not result.passed else [],
                "shared": _compact(shared),
            },
        }
    )
    clock = [a for a in result.asserts if a.criterion == "clock" and not a.ok]
    if clock and CLOCK_CHECK not in " ".join(open_problems(ledger, CONTROLLER).get(CONTROLLER, [])):
        rows.append(
            {
                "kind": "problem",
                "host": CONTROLLER,
                "phase": spec.phase,
                "check": CLOCK_CHECK,
                "ok": False,
                "run_id": run_id,
                "at": result.evaluated_at,
                "details": clock[0].found[:MAX_DETAILS],
                "evidence": {"found_by": f"phase {spec.phase} {spec.gate_name}", "remedy": clock[0].remedy},
            }
        )
    return ledger.record_many(rows)


def latest_gate(ledger: Ledger, host: str, phase: int, gate_name: str = "gate"):
    return ledger.latest(host=host, kind="gate", phase=phase, check=gate_name)
