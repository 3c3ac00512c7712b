# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Stability arithmetic: what the recorded evidence says about one host.

The evidence model (docs/PHASES.md, "What counts as evidence"):
- Evidence is ordered by when it was recorded (row id), not by the time it claims.
- A host's stability clock starts at its latest deployment that changed it and
  restarts at every later failed deployment, every failed health check, and the
  acknowledgement of a clock problem: evidence from before a clock problem is doubtful.
- Stable time is measured from that start to the latest healthy check after it.
- A check's latest record decides whether it is failing now: a later pass supersedes a failure.
- Rows written against stand-in hosts count only where the gate accepts stand-ins.

SQL does the aggregation, so a gate over a year of evidence stays cheap.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field

from ansible_collections.fleet.migration.plugins.module_utils.ledger_store import (  # noqa: F401  re-exported
    CLOCK_CHECK,
    CONTROLLER,
    Ledger,
    from_iso,
    to_iso,
)
# A row may claim a time this far before the latest earlier row (or ahead of
# now) before it counts as clock trouble: NTP slews, not jumps, within this.
DEFAULT_CLOCK_TOLERANCE_MINUTES = 5.0


def human_minutes(minutes: float) -> str:
    """1 week 2 days 3 h 4 min -- thresholds are minutes, people think in weeks."""
    total = int(round(minutes))
    if total <= 0:
        return "0 min"
    parts = []
    for label, size in (("week", 10080), ("day", 1440), ("h", 60), ("min", 1)):
        count, total = divmod(total, size)
        if count:
            plural = "s" if count > 1 and label in ("week", "day") else ""
            parts.append(f"{count} {label}{plural}")
    return " ".join(parts)


@dataclass
class ClockAnomaly:
    id: int
    host: str
    kind: str
    recorded_at: str
    problem: str  # "future" or "backwards"
    reference: str  # now, or the latest time claimed before it

    def describe(self) -> str:
        if self.problem == "future":
            return f"row {self.id} ({self.kind} of {self.host}) dated {self.recorded_at}, after now ({self.reference})"
        return f"row {self.id} ({self.kind} of {self.host}) dated {self.recorded_at}, before the earlier row dated {self.reference}"


def clock_floor(ledger: Ledger) -> int:
    """Id of the latest acknowledgement of a clock problem; 0 if none."""
    if ledger.conn is None:
        return 0
    row = ledger.conn.execute(
        "SELECT MAX(id) FROM events WHERE kind = 'problem' AND host = ? AND check_name = ? AND ok = 1",
        (CONTROLLER, CLOCK_CHECK),
    ).fetchone()
    return int(row[0] or 0)


def clock_anomalies(
    ledger: Ledger, now: _dt.datetime, tolerance_minutes: float = DEFAULT_CLOCK_TOLERANCE_MINUTES, limit: int = 10
) -> list[ClockAnomaly]:
    """Rows after the latest acknowledgement that are dated in the future or
    earlier than a row recorded before them, beyond the tolerance. Two index
    seeks: the writer stored each row's skew against the rows before it."""
    if ledger.conn is None:
        return []
    floor = clock_floor(ledger)
    ahead = _dt.timedelta(minutes=tolerance_minutes)
    rows = ledger.conn.execute(
        "SELECT id, host, kind, recorded_at, run_max, 'future' AS problem FROM events"
        " WHERE recorded_at > ? AND id > ?"
        " UNION ALL"
        " SELECT e.id, e.host, e.kind, e.recorded_at, p.run_max, 'backwards' FROM events e"
        " JOIN events p ON p.id = e.id - 1 WHERE e.skew_minutes > ? AND e.id > ?"
        " ORDER BY 1 LIMIT ?",
        (to_iso(now + ahead), floor, tolerance_minutes, floor, limit),
    ).fetchall()
    seen, out = set(), []
    for r in rows:
        if r["id"] in seen:
            continue
        seen.add(r["id"])
        reference = to_iso(now) if r["problem"] == "future" else r["run_max"]
        out.append(ClockAnomaly(r["id"], r["host"], r["kind"], r["recorded_at"], r["problem"], reference))
    return out


@dataclass
class HostStability:
    host: str
    deployed_at: _dt.datetime | None = None
    deployment: dict = field(default_factory=dict)
    last_deployment_failed: bool = False
    last_deployment_id: int = 0
    healthy_checks: int = 0
    failed_checks: list[str] = field(default_factory=list)
    checks_seen: set[str] = field(default_factory=set)
    last_ok_health_at: _dt.datetime | None = None
    failing_now: list[str] = field(default_factory=list)
    open_problems: list[str] = field(default_factory=list)
    stable_since: _dt.datetime | None = None
    restart_reason: str = ""
    stand_in_rows_ignored: int = 0

    def stable_minutes(self, now: _dt.datetime) -> float:
        """Minutes of proven stability: from the clock start to the latest
        healthy check after it. Evidence, not wall-clock time: a host deployed
        a month ago but never checked since has proven nothing."""
        if self.stable_since is None or self.last_ok_health_at is None:
            return 0.0
        end = min(self.last_ok_health_at, now)
        return max(0.0, (end - self.stable_since).total_seconds() / 60.0)


def open_problems(ledger: Ledger, host: str | None = None) -> dict[str, list[str]]:
    """host -> problems whose latest record (by id) is not ok (ok=false opens, ok=true closes)."""
    if ledger.conn is None:
        return {}
    sql = (
        "SELECT e.host, e.check_name, e.ok, e.recorded_at, e.details FROM events e JOIN ("
        " SELECT host, check_name, MAX(id) AS last FROM events WHERE kind = 'problem'"
        + (" AND host = ?" if host is not None else "")
        + " GROUP BY host, check_name) l ON e.id = l.last WHERE e.ok = 0 ORDER BY e.host, e.check_name"
    )
    found: dict[str, list[str]] = {}
    for r in ledger.conn.execute(sql, (host,) if host is not None else ()):
        found.setdefault(r["host"], []).append(f"{r['check_name']} (since {r['recorded_at']}: {r['details'] or 'no details'})")
    return found


def _stand_in_filter(accept_stand_ins: bool) -> str:
    return " AND stand_in IN (0, 1)" if accept_stand_ins else " AND stand_in = 0"


def _check_names(conn, host: str) -> list[str]:
    """Distinct health check names of a host by skip-scan: one index seek per
    name, however many rows each name has."""
    return [r[0] for r in conn.execute(
        "WITH RECURSIVE c(name) AS ("
        " SELECT (SELECT MIN(check_name) FROM events WHERE host = ?1 AND kind = 'health')"
        " UNION ALL SELECT (SELECT MIN(check_name) FROM events WHERE host = ?1 AND kind = 'health' AND check_name > c.name)"
        " FROM c WHERE c.name IS NOT NULL) SELECT name FROM c WHERE name IS NOT NULL",
        (host,),
    )]


def host_stability(
    ledger: Ledger, host: str, *, accept_stand_ins: bool = False, failures_listed: int = 10, healthy_needed: int = 1000
) -> HostStability:
    """healthy_needed bounds the count of healthy checks: a gate needs to know
    that there are enough, not how many a year holds."""
    state = HostStability(host=host)
    state.open_problems = open_problems(ledger, host).get(host, [])
    if ledger.conn is None:
        return state
    conn = ledger.conn
    latest = conn.execute(
        "SELECT MAX(id) AS id FROM events WHERE host = ? AND kind = 'deployment'", (host,)
    ).fetchone()
    latest = None if latest["id"] is None else conn.execute("SELECT id, ok FROM events WHERE id = ?", (latest["id"],)).fetchone()
    if latest is None:
        return state
    state.last_deployment_id = latest["id"]
    state.last_deployment_failed = not latest["ok"]
    # The clock starts at the latest deployment that changed the host: a rerun
    # that found nothing to change does not reset proven stability.
    start = conn.execute(
        "SELECT id, recorded_at, check_name, evidence FROM events WHERE host = ? AND kind = 'deployment' AND ok = 1"
        " AND COALESCE(json_extract(evidence, '$.changed'), 1) <> 0 ORDER BY id DESC LIMIT 1",
        (host,),
    ).fetchone() or conn.execute(
        "SELECT id, recorded_at, check_name, evidence FROM events WHERE host = ? AND kind = 'deployment' AND ok = 1"
        " ORDER BY id LIMIT 1",
        (host,),
    ).fetchone()
    if start is None:
        return state
    dep_id = start["id"]
    state.deployed_at = from_iso(start["recorded_at"])
    evidence = json.loads(start["evidence"])
    state.deployment = {
        "id": dep_id,
        "recorded_at": start["recorded_at"],
        "check": start["check_name"],
        **{k: v for k, v in evidence.items() if k in ("generation_before", "generation_after", "changed", "running_system")},
    }
    stand = _stand_in_filter(accept_stand_ins)
    # What restarts the clock after that deployment, latest first.
    restarts = [(dep_id, state.deployed_at, f"the deployment at {start['recorded_at']}")]
    failed_dep = conn.execute(
        "SELECT id, recorded_at FROM events WHERE host = ? AND kind = 'deployment' AND ok = 0 AND id > ?"
        " ORDER BY id DESC LIMIT 1",
        (host, dep_id),
    ).fetchone()
    if failed_dep:
        restarts.append((failed_dep["id"], from_iso(failed_dep["recorded_at"]), f"the failed deployment at {failed_dep['recorded_at']}"))
    failed_check = conn.execute(
        f"SELECT id, recorded_at, check_name FROM events WHERE host = ? AND kind = 'health' AND ok = 0 AND id > ?{stand}"
        " ORDER BY id DESC LIMIT 1",
        (host, dep_id),
    ).fetchone()
    if failed_check:
        restarts.append(
            (failed_check["id"], from_iso(failed_check["recorded_at"]),
             f"the failed check {failed_check['check_name']} at {failed_check['recorded_at']}")
        )
    floor = clock_floor(ledger)
    if floor > dep_id:
        floor_row = conn.execute("SELECT recorded_at FROM events WHERE id = ?", (floor,)).fetchone()
        restarts.append((floor, from_iso(floor_row["recorded_at"]), f"the clock problem acknowledged at {floor_row['recorded_at']}"))
    start_id, state.stable_since, state.restart_reason = max(restarts, key=lambda r: r[0])

    # Healthy evidence after the clock start: every health row after it is
    # healthy (a failure would have moved the start), so seeks suffice.
    names = _check_names(conn, host)
    last_ok = 0
    for name in names:
        latest_row = conn.execute(
            f"SELECT id, ok, recorded_at FROM events WHERE host = ? AND kind = 'health' AND check_name = ?{stand}"
            " AND id > ? ORDER BY id DESC LIMIT 1",
            (host, name, dep_id),
        ).fetchone()
        if latest_row is None:
            continue
        if not latest_row["ok"]:
            state.failing_now.append(f"{name} (failed at {latest_row['recorded_at']})")
        elif latest_row["id"] > start_id:
            state.checks_seen.add(name)
            last_ok = max(last_ok, latest_row["id"])
    if last_ok:
        state.last_ok_health_at = from_iso(conn.execute("SELECT recorded_at FROM events WHERE id = ?", (last_ok,)).fetchone()[0])
    state.healthy_checks = conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE host = ? AND kind = 'health' AND ok = 1{stand} AND id > ? LIMIT ?)",
        (host, start_id, healthy_needed),
    ).fetchone()[0]
    failed = conn.execute(
        f"SELECT check_name, recorded_at FROM events WHERE host = ? AND kind = 'health' AND ok = 0{stand} AND id > ?"
        " ORDER BY id DESC LIMIT ?",
        (host, dep_id, failures_listed + 1),
    ).fetchall()
    state.failed_checks = [f"{r['check_name']} at {r['recorded_at']}" for r in reversed(failed[:failures_listed])]
    if len(failed) > failures_listed:
        state.failed_checks.insert(0, "earlier failures")
    if not accept_stand_ins:
        state.stand_in_rows_ignored = conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE host = ? AND kind = 'health' AND stand_in = 1 AND id > ? LIMIT 1000)",
            (host, dep_id),
        ).fetchone()[0]
    return state


def enabled(ledger: Ledger, host: str) -> bool:
    """False once the host's latest successful toggle switched it off (phase 6
    nodes); a failed toggle changed nothing."""
    if ledger.conn is None:
        return True
    row = ledger.conn.execute(
        "SELECT evidence FROM events WHERE host = ? AND kind = 'toggle' AND ok = 1 ORDER BY id DESC LIMIT 1", (host,)
    ).fetchone()
    return row is None or bool(json.loads(row["evidence"]).get("enabled", True))


def deployed_hosts(ledger: Ledger) -> list[str]:
    """Hosts with a successful deployment that are not switched off."""
    if ledger.conn is None:
        return []
    hosts = [r[0] for r in ledger.conn.execute("SELECT DISTINCT host FROM events WHERE kind = 'deployment' AND ok = 1 ORDER BY host")]
    return [h for h in hosts if enabled(ledger, h)]
