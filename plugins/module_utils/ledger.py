# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""The stability ledger: an append-only SQLite record of deployments, health
checks, problems and gate decisions, and the gate logic that reads it.

Why SQLite: one file on the controller, transactional writes, and WAL mode so
that a run killed half-way (kill -9) loses only the row being written, never
rows already committed. Why append-only: the gates decide on history, so
history must not be rewritten; triggers make SQLite itself refuse UPDATE and
DELETE, whoever the writer is.

This file uses the standard library only, so the phase report script and the
benchmark can import it without Ansible.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
from dataclasses import asdict, dataclass, field

SCHEMA_VERSION = 1
KINDS = ("deployment", "health", "gate", "problem", "provision", "toggle")
# The embedded default, relative to the working directory (the repository root
# for scripts/ci-phase and the tests). Playbooks pass an explicit path built
# from the group var fleet_ledger_path; FLEET_LEDGER_PATH overrides both.
DEFAULT_LEDGER_PATH = os.path.join(".cache", "ledger.sqlite")
APPEND_ONLY_MESSAGE = "ledger is append-only"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT    NOT NULL,             -- ISO 8601, UTC, e.g. 2026-11-25T20:00:00.000000+00:00
    kind        TEXT    NOT NULL CHECK (kind IN ('deployment', 'health', 'gate', 'problem', 'provision', 'toggle')),
    host        TEXT    NOT NULL CHECK (host <> ''),
    phase       INTEGER,
    check_name  TEXT    NOT NULL CHECK (check_name <> ''),
    ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
    evidence    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(evidence)),
    details     TEXT    NOT NULL DEFAULT '',
    run_id      TEXT    NOT NULL DEFAULT ''
);
-- Covering index: the gate aggregates health checks from the index alone.
CREATE INDEX IF NOT EXISTS events_host_kind_cover ON events (host, kind, recorded_at, check_name, ok);
CREATE INDEX IF NOT EXISTS events_kind_phase ON events (kind, phase, check_name);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE of events is refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE from events is refused'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_update BEFORE UPDATE ON ledger_meta
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE of ledger_meta is refused'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_delete BEFORE DELETE ON ledger_meta
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE from ledger_meta is refused'); END;
"""


class LedgerError(Exception):
    """A ledger that cannot be opened or written; the message says what to do."""


def default_path() -> str:
    return os.environ.get("FLEET_LEDGER_PATH") or DEFAULT_LEDGER_PATH


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def to_iso(moment: _dt.datetime) -> str:
    if moment.tzinfo is None:
        # Naive times are taken as UTC: the ledger never stores local time.
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")


def from_iso(text: str) -> _dt.datetime:
    moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


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


@dataclass(frozen=True)
class Event:
    id: int
    recorded_at: _dt.datetime
    kind: str
    host: str
    phase: int | None
    check: str
    ok: bool
    evidence: dict
    details: str
    run_id: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Event":
        return cls(
            id=row["id"],
            recorded_at=from_iso(row["recorded_at"]),
            kind=row["kind"],
            host=row["host"],
            phase=row["phase"],
            check=row["check_name"],
            ok=bool(row["ok"]),
            evidence=json.loads(row["evidence"]),
            details=row["details"],
            run_id=row["run_id"],
        )

    def as_dict(self) -> dict:
        data = asdict(self)
        data["recorded_at"] = to_iso(self.recorded_at)
        return data


class Ledger:
    """One SQLite ledger file. Use as a context manager or call close()."""

    def __init__(self, path: str | None = None, *, create: bool = True, timeout: float = 30.0):
        self.path = os.path.abspath(path or default_path())
        exists = os.path.exists(self.path)
        if not exists and not create:
            # Readers (gates, reports) must not create a ledger as a side effect:
            # a missing ledger is missing evidence, and the gate says so.
            self.conn = None
            return
        if not exists:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), so
            # a write is either wholly committed or absent.
            self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed row survives power loss too, not only a killed process.
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            if create:
                self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(
                f"cannot open the stability ledger {self.path}: {exc}. Expected an SQLite ledger made by "
                "fleet.migration; move the file aside (never delete evidence) and run again."
            ) from exc

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _ensure_schema(self) -> None:
        # One script, one transaction: a ledger is never left half-created.
        self.conn.executescript(
            "BEGIN IMMEDIATE;"
            + _SCHEMA
            + f"INSERT OR IGNORE INTO ledger_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');"
            + "COMMIT;"
        )

    def transaction(self) -> "_Transaction":
        return _Transaction(self.conn)

    # -- writing ---------------------------------------------------------
    def record(
        self,
        kind: str,
        host: str,
        check: str,
        ok: bool,
        *,
        phase: int | None = None,
        evidence: dict | None = None,
        details: str = "",
        run_id: str = "",
        at: _dt.datetime | None = None,
    ) -> int:
        """Append one event in its own transaction; returns its id."""
        with self.transaction():
            return self._insert(kind, host, check, ok, phase, evidence, details, run_id, at)

    def record_many(self, events: list[dict]) -> list[int]:
        """Append several events atomically: all of them or none."""
        with self.transaction():
            return [
                self._insert(
                    e["kind"],
                    e["host"],
                    e["check"],
                    e["ok"],
                    e.get("phase"),
                    e.get("evidence"),
                    e.get("details", ""),
                    e.get("run_id", ""),
                    e.get("at"),
                )
                for e in events
            ]

    def _insert(self, kind, host, check, ok, phase, evidence, details, run_id, at) -> int:
        if self.conn is None:
            raise LedgerError(f"the stability ledger {self.path} was opened read-only")
        if kind not in KINDS:
            raise LedgerError(f"unknown ledger kind {kind!r}: expected one of {', '.join(KINDS)}")
        cur = self.conn.execute(
            "INSERT INTO events (recorded_at, kind, host, phase, check_name, ok, evidence, details, run_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                to_iso(at or utcnow()),
                kind,
                host,
                phase,
                check,
                1 if ok else 0,
                json.dumps(evidence or {}, sort_keys=True, default=str),
                details or "",
                run_id or "",
            ),
        )
        return int(cur.lastrowid)

    # -- reading ---------------------------------------------------------
    def events(
        self,
        *,
        host: str | None = None,
        kind: str | None = None,
        phase: int | None = None,
        check: str | None = None,
        since: _dt.datetime | None = None,
    ) -> list[Event]:
        """Events in the order they were recorded in time (ties: insertion order)."""
        if self.conn is None:
            return []
        where, args = [], []
        for column, value in (("host", host), ("kind", kind), ("phase", phase), ("check_name", check)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("recorded_at >= ?")
            args.append(to_iso(since))
        sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY recorded_at, id"
        return [Event.from_row(r) for r in self.conn.execute(sql, args)]

    def hosts(self) -> list[str]:
        if self.conn is None:
            return []
        return [r[0] for r in self.conn.execute("SELECT DISTINCT host FROM events ORDER BY host")]

    def integrity(self) -> str:
        if self.conn is None:
            return "ok"
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.

    IMMEDIATE takes the write lock up front, so two concurrent writers queue
    (up to the connection timeout) instead of failing half-way."""

    def __init__(self, conn: sqlite3.Connection | None):
        self.conn = conn

    def __enter__(self):
        if self.conn is not None:
            self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.conn is None:
            return False
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False


# ---------------------------------------------------------------------------
# Stability: what the recorded evidence says about one host.
# ---------------------------------------------------------------------------
@dataclass
class HostStability:
    host: str
    deployed_at: _dt.datetime | None = None
    deployment: dict = field(default_factory=dict)
    last_deployment_failed: bool = False
    healthy_checks: int = 0
    failed_checks: list[str] = field(default_factory=list)
    checks_seen: set[str] = field(default_factory=set)
    last_health_at: _dt.datetime | None = None
    last_ok_health_at: _dt.datetime | None = None
    last_failed_at: _dt.datetime | None = None
    failing_now: list[str] = field(default_factory=list)
    open_problems: list[str] = field(default_factory=list)

    @property
    def stable_since(self) -> _dt.datetime | None:
        """The clock starts at the deployment and restarts at each failed check."""
        if self.deployed_at is None:
            return None
        return max(self.deployed_at, self.last_failed_at or self.deployed_at)

    def stable_minutes(self, now: _dt.datetime) -> float:
        """Minutes of proven stability: from the later of the deployment and
        the latest failed check to the latest healthy check. Evidence, not
        wall-clock time: a host deployed a month ago but never checked since
        has proven nothing."""
        start = self.stable_since
        if start is None or self.last_ok_health_at is None:
            return 0.0
        end = min(self.last_ok_health_at, now)
        return max(0.0, (end - start).total_seconds() / 60.0)


def open_problems(ledger: Ledger, host: str | None = None) -> dict[str, list[str]]:
    """host -> problems whose latest record is not ok (ok=false opens, ok=true closes)."""
    latest: dict[tuple[str, str], Event] = {}
    for event in ledger.events(kind="problem", host=host):
        latest[(event.host, event.check)] = event
    found: dict[str, list[str]] = {}
    for (h, check), event in sorted(latest.items()):
        if not event.ok:
            found.setdefault(h, []).append(
                f"{check} (since {to_iso(event.recorded_at)}: {event.details or 'no details'})"
            )
    return found


def host_stability(ledger: Ledger, host: str) -> HostStability:
    state = HostStability(host=host)
    deployments = ledger.events(host=host, kind="deployment")
    ok_deployments = [d for d in deployments if d.ok]
    if deployments and not deployments[-1].ok:
        state.last_deployment_failed = True
    if ok_deployments:
        # The clock starts at the latest deployment that changed the host: a
        # re-run that found nothing to change does not reset proven stability.
        changing = [d for d in ok_deployments if d.evidence.get("changed", True)]
        start = changing[-1] if changing else ok_deployments[0]
        state.deployed_at = start.recorded_at
        state.deployment = {
            "id": start.id,
            "recorded_at": to_iso(start.recorded_at),
            "check": start.check,
            **{k: v for k, v in start.evidence.items() if k in ("generation_before", "generation_after", "changed")},
        }
        _health_since(ledger, state)
    state.open_problems = open_problems(ledger, host).get(host, [])
    return state


def _health_since(ledger: Ledger, state: HostStability, failures_listed: int = 10) -> None:
    """Aggregate the health checks since the deployment in SQL: a gate over a
    ledger with months of checks must not load every row into Python."""
    since = to_iso(state.deployed_at)
    rows = ledger.conn.execute(
        "SELECT check_name, ok, COUNT(*) AS n, MAX(recorded_at) AS last FROM events"
        " WHERE host = ? AND kind = 'health' AND recorded_at >= ? GROUP BY check_name, ok",
        (state.host, since),
    ).fetchall()
    latest: dict[str, tuple[_dt.datetime, bool]] = {}
    for row in rows:
        last = from_iso(row["last"])
        state.last_health_at = max(filter(None, (state.last_health_at, last)))
        if row["ok"]:
            state.checks_seen.add(row["check_name"])
            state.healthy_checks += row["n"]
            state.last_ok_health_at = max(filter(None, (state.last_ok_health_at, last)))
        else:
            state.last_failed_at = max(filter(None, (state.last_failed_at, last)))
        # A check whose latest record failed is failing now (ties: failed wins).
        seen = latest.get(row["check_name"])
        if seen is None or last > seen[0] or (last == seen[0] and not row["ok"]):
            latest[row["check_name"]] = (last, bool(row["ok"]))
    state.failing_now = sorted(f"{check} (failed at {to_iso(at)})" for check, (at, ok) in latest.items() if not ok)
    failed = ledger.conn.execute(
        "SELECT check_name, recorded_at FROM events WHERE host = ? AND kind = 'health' AND ok = 0"
        " AND recorded_at >= ? ORDER BY recorded_at DESC, id DESC",
        (state.host, since),
    ).fetchall()
    # The most recent failures, oldest first; older ones are counted.
    recent = list(reversed(failed[:failures_listed]))
    state.failed_checks = [f"{r['check_name']} at {to_iso(from_iso(r['recorded_at']))}" for r in recent]
    if len(failed) > failures_listed:
        state.failed_checks.insert(0, f"{len(failed) - failures_listed} earlier")


def latest_gate(ledger: Ledger, host: str, phase: int, gate_name: str = "gate") -> Event | None:
    decisions = ledger.events(host=host, kind="gate", phase=phase, check=gate_name)
    return decisions[-1] if decisions else None


# ---------------------------------------------------------------------------
# Gates: a set of named asserts over the ledger.
# ---------------------------------------------------------------------------
@dataclass
class Assertion:
    """One named criterion for one host: what was expected, what was found."""

    host: str
    criterion: str
    ok: bool
    expected: str
    found: str
    remedy: str = ""

    @property
    def message(self) -> str:
        text = f"{self.host}: {self.criterion}: expected {self.expected}; found {self.found}."
        return text + (f" {self.remedy}" if self.remedy and not self.ok else "")


@dataclass
class GateSpec:
    """What a gate asserts. Every list of hosts comes from the inventory."""

    phase: int
    subjects: list[str]
    gate_name: str = "gate"
    stable_hosts: list[str] = field(default_factory=list)
    min_stable_minutes: float = 0
    min_health_checks: int = 1
    max_health_age_minutes: float = 0
    required_checks: dict[str, list[str]] = field(default_factory=dict)
    previous_gate: dict | None = None  # {"phase": int, "hosts": [...], "gate_name": "gate"}
    cumulative: dict | None = None  # {"hosts": [...], "min_minutes": float}
    problem_hosts: list[str] | None = None  # None: subjects + stable hosts; ["*"]: every host in the ledger
    rollback_plan: dict | None = None  # {"paths": [...], "mentions": [...]}


@dataclass
class GateResult:
    spec: GateSpec
    asserts: list[Assertion]
    evaluated_at: _dt.datetime

    @property
    def passed(self) -> bool:
        # Fail closed: a gate that asserted nothing has proven nothing.
        return bool(self.asserts) and all(a.ok for a in self.asserts)

    @property
    def decision(self) -> str:
        return "GO" if self.passed else "NO-GO"

    @property
    def failures(self) -> list[str]:
        if not self.asserts:
            return [
                f"phase{self.spec.phase} {self.spec.gate_name}: expected at least one criterion to assert; "
                "found none. Check the gate's host groups in the inventory."
            ]
        return [a.message for a in self.asserts if not a.ok]

    def as_dict(self) -> dict:
        return {
            "phase": self.spec.phase,
            "gate": self.spec.gate_name,
            "decision": self.decision,
            "passed": self.passed,
            "evaluated_at": to_iso(self.evaluated_at),
            "asserts": [asdict(a) | {"message": a.message} for a in self.asserts],
            "failures": self.failures,
        }


def _stability_asserts(
    ledger: Ledger, spec: GateSpec, host: str, now: _dt.datetime, cache: dict[str, HostStability]
) -> list[Assertion]:
    state = cache.setdefault(host, host_stability(ledger, host))
    out: list[Assertion] = []
    redeploy = f"Deploy {host} with its phase playbook, then record health with its verify step."
    if state.deployed_at is None:
        found = "only failed deployments" if state.last_deployment_failed else "no deployment recorded"
        out.append(
            Assertion(host, "deployed", False, "a successful deployment recorded in the ledger", found, redeploy)
        )
        return out
    if state.last_deployment_failed:
        out.append(
            Assertion(
                host,
                "deployed",
                False,
                "the latest deployment to have succeeded",
                "the latest deployment failed",
                redeploy,
            )
        )
    else:
        out.append(
            Assertion(
                host, "deployed", True, "a successful deployment recorded", f"deployment at {to_iso(state.deployed_at)}"
            )
        )
    verify = f"Run the phase playbook with --tags verify on {host} to record health checks."
    out.append(
        Assertion(
            host,
            "health_checks",
            state.healthy_checks >= spec.min_health_checks,
            f">= {spec.min_health_checks} healthy checks since the deployment",
            f"{state.healthy_checks}",
            verify,
        )
    )
    out.append(
        Assertion(
            host,
            "checks_passing",
            not state.failing_now,
            "the latest record of every health check to be healthy",
            "failing: " + "; ".join(state.failing_now) if state.failing_now else "all passing",
            f"Fix the failing check on {host} and run --tags verify again; the stability clock restarts "
            "at the latest failure.",
        )
    )
    required = spec.required_checks.get(host) or []
    missing = sorted(set(required) - state.checks_seen)
    if required:
        out.append(
            Assertion(
                host,
                "required_checks",
                not missing,
                f"a healthy record of each of {', '.join(sorted(required))}",
                f"missing {', '.join(missing)}" if missing else "all present",
                verify,
            )
        )
    minutes = state.stable_minutes(now)
    out.append(
        Assertion(
            host,
            "stable_for",
            minutes >= spec.min_stable_minutes,
            f"stable >= {human_minutes(spec.min_stable_minutes)} ({int(spec.min_stable_minutes)} min)",
            f"{human_minutes(minutes)} ({int(minutes)} min) of healthy evidence since "
            + (
                f"the failed check at {to_iso(state.stable_since)}"
                if state.last_failed_at and state.stable_since == state.last_failed_at
                else f"the deployment at {to_iso(state.deployed_at)}"
            ),
            "Keep running --tags verify periodically; the gate passes once enough healthy time is recorded.",
        )
    )
    if spec.max_health_age_minutes:
        age = None if state.last_ok_health_at is None else (now - state.last_ok_health_at).total_seconds() / 60.0
        out.append(
            Assertion(
                host,
                "fresh_evidence",
                age is not None and age <= spec.max_health_age_minutes,
                f"a healthy check within the last {human_minutes(spec.max_health_age_minutes)}",
                "no healthy check" if age is None else f"the latest {human_minutes(age)} ago",
                verify,
            )
        )
    return out


def evaluate_gate(ledger: Ledger, spec: GateSpec, *, now: _dt.datetime | None = None, root: str = ".") -> GateResult:
    """Evaluate every criterion of `spec`; reads the ledger only."""
    now = now or utcnow()
    asserts: list[Assertion] = []
    cache: dict[str, HostStability] = {}
    if not spec.subjects:
        asserts.append(
            Assertion(
                f"phase{spec.phase}",
                "subjects",
                False,
                "at least one host in the phase group",
                "none",
                "Tag the phase's machines phaseN in modules/clan/inventory/machines.nix.",
            )
        )
    subject_label = ",".join(spec.subjects) or f"phase{spec.phase}"

    if spec.previous_gate:
        prev_phase = int(spec.previous_gate["phase"])
        prev_name = spec.previous_gate.get("gate_name", "gate")
        prev_hosts = list(spec.previous_gate.get("hosts") or [])
        if not prev_hosts:
            asserts.append(
                Assertion(
                    f"phase{prev_phase}",
                    "previous_gate",
                    False,
                    f"hosts in phase {prev_phase} whose gate passed",
                    "no hosts in that phase",
                    "Check the phaseN tags in the clan inventory.",
                )
            )
        for host in prev_hosts:
            decision = latest_gate(ledger, host, prev_phase, prev_name)
            found = (
                "no gate decision recorded"
                if decision is None
                else (f"{'GO' if decision.ok else 'NO-GO'} recorded at {to_iso(decision.recorded_at)}")
            )
            asserts.append(
                Assertion(
                    host,
                    f"phase{prev_phase}_gate",
                    bool(decision and decision.ok),
                    f"a recorded GO decision of the phase {prev_phase} gate",
                    found,
                    f"Run playbooks/phase{prev_phase}.yml --tags gate until its gate says GO.",
                )
            )

    for host in spec.stable_hosts:
        asserts.extend(_stability_asserts(ledger, spec, host, now, cache))

    if spec.cumulative:
        hosts = list(spec.cumulative.get("hosts") or [])
        need = float(spec.cumulative.get("min_minutes", 0))
        per_host = {h: cache.setdefault(h, host_stability(ledger, h)).stable_minutes(now) for h in hosts}
        total = sum(per_host.values())
        breakdown = ", ".join(f"{h} {int(m)} min" for h, m in per_host.items()) or "no hosts"
        for subject in spec.subjects or [subject_label]:
            asserts.append(
                Assertion(
                    subject,
                    "cumulative_stability",
                    bool(hosts) and total >= need,
                    f">= {human_minutes(need)} ({int(need)} min) of stability summed over "
                    f"{', '.join(hosts) or 'the earlier hosts'}",
                    f"{human_minutes(total)} ({int(total)} min): {breakdown}",
                    "Wait and keep recording health on the earlier hosts.",
                )
            )

    if spec.problem_hosts is not None or spec.stable_hosts or spec.subjects:
        scope = (
            spec.problem_hosts
            if spec.problem_hosts is not None
            else sorted(set(spec.subjects) | set(spec.stable_hosts))
        )
        problems = open_problems(ledger)
        if scope != ["*"]:
            problems = {h: p for h, p in problems.items() if h in scope}
        listed = "; ".join(f"{h}: {', '.join(p)}" for h, p in sorted(problems.items()))
        for subject in spec.subjects or [subject_label]:
            asserts.append(
                Assertion(
                    subject,
                    "no_open_problems",
                    not problems,
                    "no open problem recorded" + (" on any host" if scope == ["*"] else f" on {', '.join(scope)}"),
                    listed or "none",
                    "Resolve each problem and record it closed (kind=problem, ok=true).",
                )
            )

    if spec.rollback_plan:
        paths = list(spec.rollback_plan.get("paths") or [])
        mentions = list(spec.rollback_plan.get("mentions") or [])
        missing = [p for p in paths if not os.path.isfile(os.path.join(root, p))]
        unmentioned = []
        if not missing:
            text = "".join(open(os.path.join(root, p), encoding="utf-8").read() for p in paths)
            unmentioned = [m for m in mentions if m not in text]
        found = (
            f"missing {', '.join(missing)}"
            if missing
            else f"no mention of {', '.join(unmentioned)}"
            if unmentioned
            else "present"
        )
        for subject in spec.subjects or [subject_label]:
            asserts.append(
                Assertion(
                    subject,
                    "rollback_plan",
                    bool(paths) and not missing and not unmentioned,
                    f"a rollback plan in {', '.join(paths) or '(no path given)'} covering "
                    f"{', '.join(mentions) or 'the host'}",
                    found,
                    "Write the rollback procedure (docs/ROLLBACK.md) and its playbook.",
                )
            )
    return GateResult(spec=spec, asserts=asserts, evaluated_at=now)


def record_gate(ledger: Ledger, result: GateResult, *, run_id: str = "") -> list[int]:
    """One decision row per subject host, atomically, with the asserts as evidence."""
    rows = []
    for subject in result.spec.subjects:
        mine = [a for a in result.asserts if a.host == subject]
        others = [a for a in result.asserts if a.host != subject]
        ok = result.passed
        rows.append(
            {
                "kind": "gate",
                "host": subject,
                "phase": result.spec.phase,
                "check": result.spec.gate_name,
                "ok": ok,
                "run_id": run_id,
                "at": result.evaluated_at,
                "details": "GO" if ok else "NO-GO: " + " | ".join(result.failures),
                "evidence": {"decision": result.decision, "asserts": [asdict(a) for a in mine + others]},
            }
        )
    return ledger.record_many(rows)
