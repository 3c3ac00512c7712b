# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Storage of the stability ledger: an append-only, hash-chained SQLite file.

Why SQLite: one file on the controller, transactional writes, WAL mode so that
a run killed half-way (kill -9) loses only the row being written. Why
append-only and chained: the gates decide on history, so no SQL statement may
rewrite it. Triggers refuse UPDATE, DELETE and every INSERT that is not the
next row of the chain (which also defeats INSERT OR REPLACE). DDL cannot be
refused by SQLite, so every row carries the SHA-256 of its content and of the
row before it (the previous row's own hash, read from that row, not stored
twice): dropping a trigger and rewriting a row breaks the chain, and every
reader verifies it before it trusts a single row.

Evidence is ordered by `id`, the order it was recorded in, never by the
timestamp it claims: a controller clock that jumps cannot reorder history.

Standard library only, so scripts can import it without Ansible.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import sqlite3
import tempfile
import urllib.parse
from dataclasses import asdict, dataclass

# 4: no stored previous hash (the chain reads it from the row before) and no
# timestamp index (no query used it): a smaller file. Earlier schemas are refused,
# not migrated: none was ever used for a production ledger.
SCHEMA_VERSION = 4
# PRAGMA application_id: "FLDG". A file that is SQLite but not ours is refused.
APPLICATION_ID = 0x464C4447
KINDS = ("deployment", "health", "gate", "problem", "provision", "toggle", "ci")
# The one place the default path is written. Playbooks get it through the
# group var fleet_ledger_path (which asks the lookup fleet.migration.ledger),
# modules and scripts through default_path(); FLEET_LEDGER_PATH wins for all.
DEFAULT_LEDGER_PATH = os.path.join(".cache", "ledger.sqlite")
APPEND_ONLY_MESSAGE = "ledger is append-only"
GENESIS = ""

_KIND_SQL = ", ".join(f"'{k}'" for k in KINDS)
_SCHEMA = f"""
CREATE TABLE ledger_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    recorded_at TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ({_KIND_SQL})),
    host        TEXT    NOT NULL CHECK (host <> ''),
    phase       INTEGER,
    check_name  TEXT    NOT NULL CHECK (check_name <> ''),
    ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
    evidence    TEXT    NOT NULL DEFAULT '{{}}' CHECK (json_valid(evidence)),
    details     TEXT    NOT NULL DEFAULT '',
    run_id      TEXT    NOT NULL DEFAULT '',
    stand_in    INTEGER NOT NULL DEFAULT 0 CHECK (stand_in IN (0, 1)),
    -- Minutes this row is dated before the latest time claimed by an earlier
    -- row (since the latest clock acknowledgement): clock trouble, found by an
    -- index seek instead of a scan. run_max carries that latest time forward.
    skew_minutes REAL   NOT NULL DEFAULT 0,
    run_max     TEXT    NOT NULL,
    -- SHA-256 of this row's content and the previous row's row_hash.
    row_hash    TEXT    NOT NULL
);
-- The gate's queries are index seeks: a year of evidence costs no more than a week.
CREATE INDEX events_host_ok ON events (host, kind, ok, stand_in, id);
CREATE INDEX events_host_check ON events (host, kind, check_name, stand_in, id, ok);
CREATE INDEX events_kind_phase ON events (kind, phase, check_name, host, id);
CREATE INDEX events_skew ON events (skew_minutes) WHERE skew_minutes > 0;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE of events is refused'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE from events is refused'); END;
-- SQLite has no SHA-256, so the chain itself is checked by every reader; the
-- trigger keeps rows in order and refuses a row_hash that is not a digest.
CREATE TRIGGER events_only_next BEFORE INSERT ON events
WHEN NEW.id IS NOT (SELECT COALESCE(MAX(id), 0) + 1 FROM events)
  OR length(NEW.row_hash) <> 64 OR NEW.row_hash GLOB '*[^0-9a-f]*'
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: only the next row of the hash chain may be inserted'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON ledger_meta
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE of ledger_meta is refused'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON ledger_meta
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE from ledger_meta is refused'); END;
"""
# The statement text SQLite keeps in sqlite_master for each object: from its
# CREATE to its end, comments inside included.
_EXPECTED_SQL = {
    stmt.split()[2]: stmt
    for stmt in (part[part.index("CREATE"):].rstrip().rstrip(";") for part in _SCHEMA.split(";\n") if "CREATE" in part)
}
_EXPECTED_OBJECTS = {
    ("table", "ledger_meta"),
    ("table", "events"),
    ("index", "events_host_ok"),
    ("index", "events_host_check"),
    ("index", "events_kind_phase"),
    ("index", "events_skew"),
    ("trigger", "events_no_update"),
    ("trigger", "events_no_delete"),
    ("trigger", "events_only_next"),
    ("trigger", "meta_no_update"),
    ("trigger", "meta_no_delete"),
}
_MOVE_ASIDE = "Move the file aside (never delete evidence) and point fleet_ledger_path or FLEET_LEDGER_PATH at a ledger"


class LedgerError(Exception):
    """A ledger that cannot be opened, trusted or written; the message says what to do."""


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


def row_digest(prev_hash: str, row: tuple) -> str:
    """SHA-256 over the previous hash and the row's stored columns, in order."""
    text = json.dumps([prev_hash, *row], separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


_ROW_COLUMNS = "id, recorded_at, kind, host, phase, check_name, ok, evidence, details, run_id, stand_in, skew_minutes, run_max"
_N_CONTENT = 13
# Rows whose chain a gate checks on every open; the whole chain is checked by
# the report, scripts/ledger-verify and whenever the schema cookie moved.
TAIL_ROWS = 500
# Pseudo-hosts: names no clan machine can have (clan machine names are host
# names). The controller holds the clock problem; (fleet) a phase's decision.
CONTROLLER = "(controller)"
FLEET = "(fleet)"
CLOCK_CHECK = "clock"


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


def _uri(path: str, **params: str) -> str:
    return "file:" + urllib.parse.quote(path) + "?" + urllib.parse.urlencode(params)


class Ledger:
    """One ledger file. Writers create it; readers (create=False) open it
    read-only, so a ledger on read-only media can still be read and reported.
    Use as a context manager or call close()."""

    def __init__(self, path: str | None = None, *, create: bool = True, timeout: float = 30.0, verify: bool | None = None):
        self.path = os.path.abspath(path or default_path())
        self.read_only = not create
        self.conn: sqlite3.Connection | None = None
        exists = os.path.exists(self.path)
        if not exists and not create:
            # A reader never creates a ledger: missing ledger = missing evidence.
            return
        if exists:
            # Inspect through a read-only handle first: a file that is not a
            # ledger must be left exactly as it was (no WAL switch, no schema).
            self._check_is_ledger(timeout)
        try:
            if self.read_only:
                self.conn = self._open_read_only(timeout)
            else:
                if not exists:
                    self._create_atomically(timeout)
                self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
                self.conn.row_factory = sqlite3.Row
                # FULL: a committed row survives power loss too, not only a killed process.
                self.conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise LedgerError(f"cannot open the stability ledger {self.path}: {exc}. {_MOVE_ASIDE}.") from exc
        # Every open checks the schema and the chain's tail (the whole chain
        # when the schema cookie moved); verify=True checks the whole chain.
        self.verify(chain=bool(verify))

    # -- opening ---------------------------------------------------------
    def _open_read_only(self, timeout: float) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(_uri(self.path, mode="ro"), uri=True, timeout=timeout, isolation_level=None)
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # WAL needs a writable -shm next to the file; on read-only media no
            # writer can exist, so reading it as immutable is safe.
            conn = sqlite3.connect(_uri(self.path, immutable="1"), uri=True, timeout=timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _check_is_ledger(self, timeout: float) -> None:
        found = "an empty file"
        if os.path.getsize(self.path) > 0:
            try:
                probe = self._open_read_only(timeout)
                try:
                    app_id = probe.execute("PRAGMA application_id").fetchone()[0]
                    tables = {r[0] for r in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                finally:
                    probe.close()
            except sqlite3.DatabaseError as exc:
                found = f"a file SQLite cannot read ({exc})"
            else:
                if app_id == APPLICATION_ID:
                    return
                found = f"an SQLite database with application_id {app_id} and tables {sorted(tables) or 'none'}"
        raise LedgerError(
            f"refusing {self.path}: expected a fleet.migration stability ledger (SQLite, application_id "
            f"{APPLICATION_ID}, schema {SCHEMA_VERSION}); found {found}. The file was left untouched. {_MOVE_ASIDE}."
        )

    def _create_atomically(self, timeout: float) -> None:
        """Build the whole ledger in a private file, then link it into place.

        Many hosts' tasks open the ledger at once on a first run; creating it
        in place let another process see the empty file SQLite makes before
        the schema exists (and refuse it as "not a ledger"). link() publishes
        a complete ledger or fails because another writer won the race."""
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ledger-new-", suffix=".sqlite", dir=directory)
        os.close(fd)
        try:
            self.conn = sqlite3.connect(tmp, timeout=timeout, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self._create_schema()
            self.conn.close()  # checkpoints: the WAL is folded into the file
            self.conn = None
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                # Another writer created it first: use theirs, after checking it.
                self._check_is_ledger(timeout)
        finally:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
            for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)

    def _create_schema(self) -> None:
        # One script, one transaction: a ledger is never left half-created.
        self.conn.executescript(
            "BEGIN IMMEDIATE;"
            + f"PRAGMA application_id = {APPLICATION_ID};"
            + _SCHEMA
            + f"INSERT INTO ledger_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');"
            + "COMMIT;"
        )
        cookie = self.conn.execute("PRAGMA schema_version").fetchone()[0]
        with self.transaction():
            self.conn.execute("INSERT INTO ledger_meta (key, value) VALUES ('schema_cookie', ?)", (str(cookie),))

    # -- trust -----------------------------------------------------------
    def _schema_cookie_expected(self) -> int | None:
        rows = self.conn.execute("SELECT value FROM ledger_meta WHERE key LIKE 'schema_cookie%'").fetchall()
        return max((int(r[0]) for r in rows), default=None)

    def verify(self, chain: bool = True) -> int:
        """Check the schema and the hash chain; returns the rows checked.

        Fails closed: a ledger whose triggers were dropped or whose rows were
        rewritten is not evidence of anything. Every open checks the schema
        objects and SQLite's schema cookie, which every DDL statement moves;
        chain=True also checks the whole chain, chain=False its last
        TAIL_ROWS rows. A moved cookie (DDL, or a VACUUM) forces the whole
        chain; if it holds, the new cookie is accepted."""
        if self.conn is None:
            return 0
        # One read transaction, one snapshot: other hosts append while this
        # runs, and reading MAX(id) and the rows apart would see a "gap".
        self.conn.execute("BEGIN")
        try:
            cookie, count = self._verify_snapshot(chain)
        finally:
            self.conn.execute("COMMIT")
        if cookie is not None and not self.read_only:
            # The whole chain held: a VACUUM moved the cookie, not a rewrite.
            with self.transaction():
                n = self.conn.execute("SELECT COUNT(*) FROM ledger_meta WHERE key LIKE 'schema_cookie%'").fetchone()[0]
                self.conn.execute("INSERT INTO ledger_meta (key, value) VALUES (?, ?)", (f"schema_cookie.{n}", str(cookie)))
        return count

    def _verify_snapshot(self, chain: bool) -> tuple[int | None, int]:
        """Returns (the moved schema cookie or None, rows checked)."""
        try:
            objects = {(r[0], r[1]): r[2] for r in self.conn.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
            version = self.conn.execute("SELECT value FROM ledger_meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot read the stability ledger {self.path}: {exc}. {_MOVE_ASIDE}.") from exc
        if version is None or version[0] != str(SCHEMA_VERSION):
            raise LedgerError(
                f"refusing {self.path}: expected ledger schema {SCHEMA_VERSION}; found schema "
                f"{'none' if version is None else version[0]}. Ledgers of other schemas are not migrated (schema "
                f"{SCHEMA_VERSION} came before any production ledger). The file was left untouched. {_MOVE_ASIDE} "
                f"of schema {SCHEMA_VERSION}; a missing one is created by the next run."
            )
        altered = sorted(f"{t} {n}" for (t, n), sql in objects.items() if (t, n) in _EXPECTED_OBJECTS and sql != _EXPECTED_SQL.get(n))
        if set(objects) != _EXPECTED_OBJECTS or altered:
            missing = sorted(f"{t} {n}" for t, n in _EXPECTED_OBJECTS - set(objects))
            extra = sorted(f"{t} {n}" for t, n in set(objects) - _EXPECTED_OBJECTS)
            raise LedgerError(
                f"refusing {self.path}: the ledger's schema was altered (missing {missing or 'nothing'}, "
                f"added {extra or 'nothing'}, changed {altered or 'nothing'}), so its history can no longer be "
                f"trusted. Keep the file for inspection, find who altered it, and start a new ledger."
            )
        cookie = self.conn.execute("PRAGMA schema_version").fetchone()[0]
        moved = cookie != self._schema_cookie_expected()
        count = self._verify_chain(full=chain or moved)
        return (cookie if moved else None), count

    def _verify_chain(self, full: bool) -> int:
        last = self.conn.execute("SELECT MAX(id) FROM events").fetchone()[0] or 0
        start = 1 if full else max(1, last - TAIL_ROWS + 1)
        prev = GENESIS
        if start > 1:
            prev = self.conn.execute("SELECT row_hash FROM events WHERE id = ?", (start - 1,)).fetchone()[0]
        expected = start
        for row in self.conn.execute(f"SELECT {_ROW_COLUMNS}, row_hash FROM events WHERE id >= ? ORDER BY id", (start,)):
            content = tuple(row)[:_N_CONTENT]
            if row[0] != expected or row_digest(prev, content) != row[_N_CONTENT]:
                raise LedgerError(
                    f"refusing {self.path}: the hash chain breaks at row {row[0]} (expected row {expected} chained to "
                    f"{prev[:12] or 'the start'}; found content that does not match its hash), so history was "
                    f"rewritten. Keep the file for inspection, find who altered it, and start a new ledger."
                )
            prev = row[_N_CONTENT]
            expected += 1
        if expected - 1 != last:
            raise LedgerError(
                f"refusing {self.path}: expected rows {start} to {last} in the hash chain; found a gap after row "
                f"{expected - 1}, so rows were removed. Keep the file for inspection and start a new ledger."
            )
        return expected - start

    # -- lifecycle -------------------------------------------------------
    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

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
                    e["kind"], e["host"], e["check"], e["ok"], e.get("phase"), e.get("evidence"),
                    e.get("details", ""), e.get("run_id", ""), e.get("at"),
                )
                for e in events
            ]

    def _insert(self, kind, host, check, ok, phase, evidence, details, run_id, at) -> int:
        if self.conn is None or self.read_only:
            raise LedgerError(f"the stability ledger {self.path} was opened read-only; open it with create=True to write")
        if kind not in KINDS:
            raise LedgerError(f"unknown ledger kind {kind!r}: expected one of {', '.join(KINDS)}")
        last = self.conn.execute("SELECT id, row_hash, run_max FROM events ORDER BY id DESC LIMIT 1").fetchone()
        new_id, prev, run_max = (last[0] + 1, last[1], last[2]) if last else (1, GENESIS, "")
        stamp = to_iso(at or utcnow())
        skew = (from_iso(run_max) - from_iso(stamp)).total_seconds() / 60.0 if run_max else 0.0
        evidence = evidence or {}
        if (host, check) == (CONTROLLER, CLOCK_CHECK) and kind == "problem" and ok:
            # An acknowledged clock problem starts the comparison afresh.
            run_max = stamp
        else:
            run_max = max(run_max, stamp) if run_max else stamp
        content = (
            new_id,
            stamp,
            kind,
            host,
            None if phase is None else int(phase),
            check,
            1 if ok else 0,
            json.dumps(evidence, sort_keys=True, default=str),
            details or "",
            run_id or "",
            1 if evidence.get("stand_in") is True else 0,
            round(max(0.0, skew), 6),
            run_max,
        )
        self.conn.execute(
            f"INSERT INTO events ({_ROW_COLUMNS}, row_hash) VALUES ({', '.join('?' * (_N_CONTENT + 1))})",
            (*content, row_digest(prev, content)),
        )
        return new_id

    # -- reading ---------------------------------------------------------
    def events(
        self,
        *,
        host: str | None = None,
        kind: str | None = None,
        phase: int | None = None,
        check: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        """Events in the order they were recorded (by id), optionally filtered."""
        if self.conn is None:
            return []
        where, args = ["id > ?"], [after_id]
        for column, value in (("host", host), ("kind", kind), ("phase", phase), ("check_name", check)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {_ROW_COLUMNS} FROM events WHERE " + " AND ".join(where)
        sql += " ORDER BY id" + (" DESC" if newest_first else "")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Event.from_row(r) for r in self.conn.execute(sql, args)]

    def latest_per_host(self, hosts: list[str], *, kind: str, phase: int | None = None, check: str | None = None) -> dict[str, Event]:
        """host -> its latest event of that kind (and phase and check), for
        every host at once: one statement, one index seek per host."""
        if self.conn is None or not hosts:
            return {}
        where, args = ["host = h.value", "kind = ?"], [json.dumps(list(hosts)), kind]
        for column, value in (("phase", phase), ("check_name", check)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = (f"SELECT {', '.join('e.' + c.strip() for c in _ROW_COLUMNS.split(','))} FROM json_each(?) h"
               f" JOIN events e ON e.id = (SELECT MAX(id) FROM events WHERE {' AND '.join(where)})")
        return {r["host"]: Event.from_row(r) for r in self.conn.execute(sql, args)}

    def latest(self, **filters) -> Event | None:
        found = self.events(limit=1, newest_first=True, **filters)
        return found[0] if found else None

    def hosts(self) -> list[str]:
        if self.conn is None:
            return []
        # Pseudo-hosts such as (fleet) and (controller) are not machines.
        return [r[0] for r in self.conn.execute("SELECT DISTINCT host FROM events WHERE host NOT LIKE '(%' ORDER BY host")]

    def integrity(self) -> str:
        if self.conn is None:
            return "ok"
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.

    IMMEDIATE takes the write lock up front, so two concurrent writers queue
    (up to the connection timeout) and each chains onto the row before it."""

    def __init__(self, conn: sqlite3.Connection | None):
        self.conn = conn

    def __enter__(self):
        if self.conn is not None:
            self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.conn is None:
            return False
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False
