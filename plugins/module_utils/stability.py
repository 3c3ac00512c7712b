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
    earlier than a row recorded before them, beyond the tolerance.

    No scan when the clock is sound: the writer stored on every row the
    latest time claimed since the acknowledgement (run_max), so the last
    row's run_max says whether any row is dated in the future, and each row's
    skew against the rows before it is found through the partial index
    events_skew (which holds only skewed rows)."""
    if ledger.conn is None:
        return []
    conn, floor = ledger.conn, clock_floor(ledger)
    threshold = to_iso(now + _dt.timedelta(minutes=tolerance_minutes))
    last = conn.execute("SELECT run_max FROM events ORDER BY id DESC LIMIT 1").fetchone()
    future = []
    if last is not None and last["run_max"] > threshold:
        # Only when a future-dated row exists: a scan by id from the acknowledgement.
        future = conn.execute(
            "SELECT id, host, kind, recorded_at, run_max FROM events WHERE id > ? AND recorded_at > ? ORDER BY id LIMIT ?",
            (floor, threshold, limit),
        ).fetchall()
    # skew_minutes > 0 (a literal) lets SQLite use the partial index; INDEXED BY makes that a guarantee.
    backwards = conn.execute(
        "SELECT e.id, e.host, e.kind, e.recorded_at, p.run_max FROM events e INDEXED BY events_skew"
        " JOIN events p ON p.id = e.id - 1 WHERE e.skew_minutes > 0 AND e.skew_minutes > ? AND e.id > ?"
        " ORDER BY e.id LIMIT ?",
        (tolerance_minutes, floor, limit),
    ).fetchall()
    # By id, a row both future-dated and backwards counted once, as future.
    found = sorted([(r["id"], 0, r) for r in future] + [(r["id"], 1, r) for r in backwards], key=lambda t: t[:2])
    seen, out = set(), []
    for row_id, kind_order, r in found[:limit]:
        if row_id in seen:
            continue
        seen.add(row_id)
        problem = "future" if kind_order == 0 else "backwards"
        reference = to_iso(now) if problem == "future" else r["run_max"]
        out.append(ClockAnomaly(row_id, r["host"], r["kind"], r["recorded_at"], problem, reference))
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


def _latest_id(where: str, accept_stand_ins: bool) -> str:
    """SQL for the latest id of the rows matching `where` (and the stand-in
    filter) as one index seek per stand_in value: MAX(id) is a seek only when
    every index column before id is fixed by an equality."""
    if not accept_stand_ins:
        return f"(SELECT MAX(id) FROM events WHERE {where} AND stand_in = 0)"
    both = ", ".join(f"COALESCE((SELECT MAX(id) FROM events WHERE {where} AND stand_in = {v}), 0)" for v in (0, 1))
    return f"NULLIF(MAX({both}), 0)"


def _deployment_sql(accept_stand_ins: bool) -> str:
    """Per host of the JSON array ?1: its latest deployment, the deployment
    its clock starts at (the latest that changed it, else the first that
    succeeded), and the latest failed deployment and failed check after that.
    Correlated subqueries are index seeks, run inside SQLite for every host
    at once: one statement for the fleet, not five per host from Python.
    MATERIALIZED: each step is computed once, not once per reference."""
    failed_check = _latest_id("host = d.host AND kind = 'health' AND ok = 0 AND id > d.dep_id", accept_stand_ins)
    return (
        "WITH h(host) AS MATERIALIZED (SELECT DISTINCT value FROM json_each(?1)),"
        " d AS MATERIALIZED (SELECT host,"
        "  (SELECT MAX(id) FROM events WHERE host = h.host AND kind = 'deployment') AS last_id,"
        "  COALESCE("
        "   (SELECT MAX(id) FROM events WHERE host = h.host AND kind = 'deployment' AND ok = 1"
        "     AND COALESCE(json_extract(evidence, '$.changed'), 1) <> 0),"
        "   (SELECT MIN(id) FROM events WHERE host = h.host AND kind = 'deployment' AND ok = 1)) AS dep_id"
        "  FROM h),"
        " f AS MATERIALIZED (SELECT d.*,"
        "  (SELECT MAX(id) FROM events WHERE host = d.host AND kind = 'deployment' AND ok = 0 AND id > d.dep_id)"
        f"   AS failed_dep_id, {failed_check} AS failed_check_id"
        "  FROM d)"
        " SELECT f.host, f.last_id, l.ok AS last_ok, f.dep_id, s.recorded_at AS dep_at, s.check_name AS dep_check,"
        "  s.evidence AS dep_evidence, fd.id AS failed_dep_id, fd.recorded_at AS failed_dep_at,"
        "  fc.id AS failed_check_id, fc.recorded_at AS failed_check_at, fc.check_name AS failed_check_name"
        " FROM f LEFT JOIN events l ON l.id = f.last_id LEFT JOIN events s ON s.id = f.dep_id"
        " LEFT JOIN events fd ON fd.id = f.failed_dep_id LEFT JOIN events fc ON fc.id = f.failed_check_id"
    )


def _latest_check_sql(accept_stand_ins: bool) -> str:
    """Per host of ?1 ([host, deployment id] pairs) and per health check name
    (found by skip-scan: one seek per name, however many rows it has), the
    latest record after the deployment."""
    latest = _latest_id("host = c.host AND kind = 'health' AND check_name = c.name AND id > c.dep_id", accept_stand_ins)
    return (
        "WITH RECURSIVE h(host, dep_id) AS ("
        "  SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?1)),"
        " c(host, dep_id, name) AS ("
        "  SELECT host, dep_id, (SELECT MIN(check_name) FROM events WHERE host = h.host AND kind = 'health') FROM h"
        "  UNION ALL SELECT host, dep_id, (SELECT MIN(check_name) FROM events WHERE host = c.host AND kind = 'health'"
        "   AND check_name > c.name) FROM c WHERE c.name IS NOT NULL)"
        f" SELECT c.host, c.name, e.id, e.ok, e.recorded_at FROM c JOIN events e ON e.id = {latest}"
        " WHERE c.name IS NOT NULL ORDER BY c.host, c.name"
    )


def _counts_sql(stand: str, accept_stand_ins: bool) -> str:
    """Per host of ?1 ([host, deployment id, clock start id]): healthy checks
    since the clock start (bounded by ?2: a gate needs to know there are
    enough, not how many a year holds) and stand-in rows not counted."""
    ignored = "0" if accept_stand_ins else (
        # ok IN (0, 1) lets the seek reach stand_in in events_host_ok instead of scanning the host's checks.
        "(SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE host = h.host AND kind = 'health' AND ok IN (0, 1)"
        " AND stand_in = 1 AND id > h.dep_id LIMIT 1000))"
    )
    return (
        "WITH h(host, dep_id, start_id) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        "  json_extract(value, '$[2]') FROM json_each(?1))"
        " SELECT h.host,"
        f"  (SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE host = h.host AND kind = 'health' AND ok = 1{stand}"
        f"    AND id > h.start_id LIMIT ?2)) AS healthy, {ignored} AS ignored"
        " FROM h"
    )


def _failures_sql(stand: str) -> str:
    """Per host of ?1 ([host, deployment id]): its latest ?2 failed checks after the deployment, latest first."""
    return (
        "WITH h(host, dep_id) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?1))"
        " SELECT h.host, e.check_name, e.recorded_at FROM h JOIN events e ON e.id IN ("
        f"  SELECT id FROM events WHERE host = h.host AND kind = 'health' AND ok = 0{stand} AND id > h.dep_id"
        "   ORDER BY id DESC LIMIT ?2)"
        " ORDER BY h.host, e.id DESC"
    )


def _start_of_clock(state: HostStability, row, floor: int, floor_at: str | None) -> int:
    """Sets the clock start (the latest of what restarts it) on state; returns its row id."""
    dep_id = row["dep_id"]
    restarts = [(dep_id, state.deployed_at, f"the deployment at {row['dep_at']}")]
    if row["failed_dep_id"] is not None:
        restarts.append((row["failed_dep_id"], from_iso(row["failed_dep_at"]),
                         f"the failed deployment at {row['failed_dep_at']}"))
    if row["failed_check_id"] is not None:
        restarts.append((row["failed_check_id"], from_iso(row["failed_check_at"]),
                         f"the failed check {row['failed_check_name']} at {row['failed_check_at']}"))
    if floor > dep_id and floor_at is not None:
        restarts.append((floor, from_iso(floor_at), f"the clock problem acknowledged at {floor_at}"))
    start_id, state.stable_since, state.restart_reason = max(restarts, key=lambda r: r[0])
    return start_id


def hosts_stability(
    ledger: Ledger, hosts: list[str], *, accept_stand_ins: bool = False, failures_listed: int = 10,
    healthy_needed: int = 1000,
) -> dict[str, HostStability]:
    """What the evidence says about each of hosts, in a fixed number of SQL
    statements for all of them (six or seven, however many hosts): a gate over 100
    hosts must not pay Python's per-statement cost ten times per host."""
    hosts = list(dict.fromkeys(hosts))
    states = {h: HostStability(host=h) for h in hosts}
    if ledger.conn is None or not hosts:
        return states
    conn, stand = ledger.conn, _stand_in_filter(accept_stand_ins)
    problems = open_problems(ledger)
    for host, state in states.items():
        state.open_problems = problems.get(host, [])
    floor = clock_floor(ledger)
    floor_row = conn.execute("SELECT recorded_at FROM events WHERE id = ?", (floor,)).fetchone() if floor else None
    floor_at = floor_row["recorded_at"] if floor_row else None
    starts: dict[str, tuple[int, int]] = {}  # host -> (deployment id, clock start id)
    for row in conn.execute(_deployment_sql(accept_stand_ins), (json.dumps(hosts),)):
        state = states[row["host"]]
        if row["last_id"] is None:
            continue
        state.last_deployment_id = row["last_id"]
        state.last_deployment_failed = not row["last_ok"]
        if row["dep_id"] is None:
            continue
        state.deployed_at = from_iso(row["dep_at"])
        evidence = json.loads(row["dep_evidence"])
        state.deployment = {
            "id": row["dep_id"],
            "recorded_at": row["dep_at"],
            "check": row["dep_check"],
            **{k: v for k, v in evidence.items() if k in ("generation_before", "generation_after", "changed", "running_system")},
        }
        starts[row["host"]] = (row["dep_id"], _start_of_clock(state, row, floor, floor_at))
    if not starts:
        return states
    # Healthy evidence after the clock start: every health row after it is
    # healthy (a failure would have moved the start), so seeks suffice.
    last_ok: dict[str, tuple[int, str]] = {}
    pairs = json.dumps([[h, dep] for h, (dep, _start) in starts.items()])
    for row in conn.execute(_latest_check_sql(accept_stand_ins), (pairs,)):
        state, start_id = states[row["host"]], starts[row["host"]][1]
        if not row["ok"]:
            state.failing_now.append(f"{row['name']} (failed at {row['recorded_at']})")
        elif row["id"] > start_id:
            state.checks_seen.add(row["name"])
            if row["id"] > last_ok.get(row["host"], (0, ""))[0]:
                last_ok[row["host"]] = (row["id"], row["recorded_at"])
    for host, (_id, recorded_at) in last_ok.items():
        states[host].last_ok_health_at = from_iso(recorded_at)
    triples = json.dumps([[h, dep, start] for h, (dep, start) in starts.items()])
    for row in conn.execute(_counts_sql(stand, accept_stand_ins), (triples, healthy_needed)):
        states[row["host"]].healthy_checks = row["healthy"]
        states[row["host"]].stand_in_rows_ignored = row["ignored"]
    failed: dict[str, list[str]] = {}
    for row in conn.execute(_failures_sql(stand), (pairs, failures_listed + 1)):
        failed.setdefault(row["host"], []).append(f"{row['check_name']} at {row['recorded_at']}")
    for host, latest_first in failed.items():
        states[host].failed_checks = list(reversed(latest_first[:failures_listed]))
        if len(latest_first) > failures_listed:
            states[host].failed_checks.insert(0, "earlier failures")
    return states


def host_stability(
    ledger: Ledger, host: str, *, accept_stand_ins: bool = False, failures_listed: int = 10, healthy_needed: int = 1000
) -> HostStability:
    """One host's stability (hosts_stability for a fleet of one)."""
    return hosts_stability(ledger, [host], accept_stand_ins=accept_stand_ins, failures_listed=failures_listed,
                           healthy_needed=healthy_needed)[host]


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
