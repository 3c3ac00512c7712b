"""The stability ledger: append-only, transactional, crash-safe."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))
from ansible_collections.fleet.migration.plugins.module_utils import ledger as L  # noqa: E402


@pytest.fixture
def ledger(tmp_path):
    with L.Ledger(str(tmp_path / "ledger.sqlite")) as led:
        yield led


def test_round_trip_keeps_timestamp_evidence_and_order(ledger):
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    first = ledger.record(
        "deployment",
        "rosegold",
        "darwin_rebuild",
        True,
        phase=3,
        at=at,
        evidence={"generation_after": 7},
        details="switch",
        run_id="r1",
    )
    second = ledger.record("health", "rosegold", "regression_verify", False, phase=3)
    events = ledger.events(host="rosegold")
    assert [e.id for e in events] == [first, second]
    assert events[0].recorded_at == at
    assert events[0].evidence == {"generation_after": 7}
    assert (events[0].kind, events[0].check, events[0].ok, events[0].run_id) == (
        "deployment",
        "darwin_rebuild",
        True,
        "r1",
    )
    assert events[1].ok is False and events[1].phase == 3


def test_wal_mode_is_on(ledger):
    assert ledger.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET ok = 1",
        "DELETE FROM events",
        "UPDATE ledger_meta SET value = '0'",
        "DELETE FROM ledger_meta",
    ],
)
def test_history_cannot_be_rewritten_by_any_sqlite_client(ledger, statement):
    ledger.record("health", "cinnabar", "mesh_verify", False)
    # A separate client (not our API) is refused by the triggers in the file.
    other = sqlite3.connect(ledger.path)
    with pytest.raises(sqlite3.IntegrityError, match=L.APPEND_ONLY_MESSAGE):
        other.execute(statement)
    other.close()
    assert [e.ok for e in ledger.events(host="cinnabar")] == [False]


def test_sqlite3_cli_is_refused_too(ledger):
    ledger.record("health", "cinnabar", "mesh_verify", True)
    res = subprocess.run(["sqlite3", ledger.path, "DELETE FROM events;"], capture_output=True, text=True, check=False)
    assert res.returncode != 0
    assert "append-only" in res.stderr
    assert len(ledger.events()) == 1


def test_record_many_is_all_or_nothing(ledger):
    with pytest.raises(L.LedgerError, match="unknown ledger kind 'bogus'"):
        ledger.record_many(
            [
                {"kind": "health", "host": "a", "check": "x", "ok": True},
                {"kind": "bogus", "host": "a", "check": "x", "ok": True},
            ]
        )
    assert ledger.events() == []


def test_constraints_refuse_malformed_rows(ledger):
    with pytest.raises(sqlite3.IntegrityError):
        ledger.conn.execute(
            "INSERT INTO events (recorded_at, kind, host, check_name, ok, evidence)"
            " VALUES ('2026-01-01T00:00:00+00:00', 'health', 'a', 'x', 1, 'not json')"
        )


def test_reader_does_not_create_a_missing_ledger(tmp_path):
    path = tmp_path / "absent.sqlite"
    with L.Ledger(str(path), create=False) as led:
        assert led.events() == []
    assert not path.exists()


def test_default_path_is_embedded_and_configurable(monkeypatch):
    monkeypatch.delenv("FLEET_LEDGER_PATH", raising=False)
    assert L.default_path() == os.path.join(".cache", "ledger.sqlite")
    monkeypatch.setenv("FLEET_LEDGER_PATH", "/elsewhere/l.sqlite")
    assert L.default_path() == "/elsewhere/l.sqlite"


def test_not_a_ledger_file_names_the_path_and_what_to_do(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(L.LedgerError) as info:
        L.Ledger(str(bad))
    assert str(bad) in str(info.value)
    assert "Move the file aside (never delete evidence)" in str(info.value)


WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {utils!r})
    from ansible_collections.fleet.migration.plugins.module_utils import ledger as L
    led = L.Ledger({path!r})
    n = 0
    while True:
        n += 1
        led.record("health", "cinnabar", "mesh_verify", True, evidence={{"n": n, "pad": "x" * 2000}})
        print(n, flush=True)
        if n >= 50:
            # Mid-transaction when killed: a batch that must vanish whole.
            led.conn.execute("BEGIN IMMEDIATE")
            led._insert("health", "partial", "x", True, None, None, "", "", None)
            print("in-transaction", flush=True)
            time.sleep(60)
""")


def test_kill_9_mid_run_keeps_committed_rows_and_a_sound_database(tmp_path):
    path = tmp_path / "ledger.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(utils=str(REPO / ".collections"), path=str(path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    committed = 0
    for line in proc.stdout:
        if line.strip() == "in-transaction":
            break
        committed = int(line)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert committed == 50
    # The WAL file still holds the commits: a fresh reader recovers them.
    with L.Ledger(str(path)) as led:
        assert led.integrity() == "ok"
        events = led.events()
        assert [e.evidence["n"] for e in events] == list(range(1, committed + 1))
        assert all(e.host == "cinnabar" for e in events)
        # Still append-only and writable after the crash.
        led.record("health", "cinnabar", "mesh_verify", True)


def test_open_problem_is_closed_only_by_a_later_ok_record(ledger):
    ledger.record("problem", "rosegold", "casks", False, details="two casks missing")
    assert L.open_problems(ledger)["rosegold"][0].startswith("casks (since ")
    ledger.record("problem", "rosegold", "casks", True, details="fixed")
    assert L.open_problems(ledger) == {}


def test_human_minutes():
    assert L.human_minutes(0) == "0 min"
    assert L.human_minutes(10080) == "1 week"
    assert L.human_minutes(40320 + 1440 + 61) == "4 weeks 1 day 1 h 1 min"


def test_event_as_dict_is_json_serialisable(ledger):
    ledger.record("gate", "argentum", "gate", True, phase=4, evidence={"decision": "GO"})
    data = ledger.events()[0].as_dict()
    assert json.loads(json.dumps(data))["recorded_at"].endswith("+00:00")


@pytest.mark.parametrize("statement", [
    "UPDATE events SET ok = 1",
    "DELETE FROM events",
    "INSERT OR REPLACE INTO events SELECT * FROM events WHERE id = 1",
    "REPLACE INTO events SELECT * FROM events WHERE id = 2",
    "INSERT INTO events (id, recorded_at, kind, host, check_name, ok, run_max, row_hash)"
    " VALUES (3, '2026-01-01T00:00:00+00:00', 'health', 'a', 'c', 1, '', 'forged')",
    "INSERT INTO events (id, recorded_at, kind, host, check_name, ok, run_max, row_hash)"
    " VALUES (5, '2026-01-01T00:00:00+00:00', 'health', 'a', 'c', 1, '', '" + "0" * 64 + "')",
    "UPDATE ledger_meta SET value = '1'",
])
def test_no_sql_statement_rewrites_history(tmp_path, statement):
    import sqlite3

    path = tmp_path / "l.sqlite"
    with L.Ledger(str(path)) as led:
        led.record("health", "a", "c", False)
        led.record("health", "a", "c", True)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="ledger is append-only"):
        conn.execute(statement)
    conn.close()
    with L.Ledger(str(path), create=False) as led:
        assert [e.ok for e in led.events()] == [False, True]


def refusals(path) -> list[str]:
    """Why the ledger at path is refused, opened as a reader and as a writer."""
    out = []
    for create in (False, True):
        with pytest.raises(L.LedgerError) as info:
            L.Ledger(str(path), create=create)
        out.append(str(info.value))
    return out


def test_a_forged_next_row_with_a_well_formed_hash_is_refused_by_every_reader(tmp_path):
    """The trigger cannot compute SHA-256; the readers do, so a forged row poisons nothing silently."""
    path = tmp_path / "l.sqlite"
    with L.Ledger(str(path)) as led:
        led.record("health", "a", "c", False)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO events (id, recorded_at, kind, host, check_name, ok, run_max, row_hash)"
                 " VALUES (2, '2026-01-01T00:00:00+00:00', 'health', 'a', 'c', 1, '', ?)", ("ab" * 32,))
    conn.commit()
    conn.close()
    for message in refusals(path):
        assert message.startswith(f"refusing {path}: the hash chain breaks at row 2 (expected row 2 chained to ")


def test_the_chain_is_stored_once_no_previous_hash_and_no_timestamp_index(ledger):
    """Schema 4: the previous hash is read from the row before, never stored twice."""
    columns = [r[1] for r in ledger.conn.execute("PRAGMA table_info(events)")]
    assert "prev_hash" not in columns and columns[-1] == "row_hash"
    indexes = {r[0] for r in ledger.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")}
    assert indexes == {"events_host_ok", "events_host_check", "events_kind_phase", "events_skew"}
    assert L.SCHEMA_VERSION == 4


def test_a_ledger_of_an_older_schema_is_refused_naming_the_version_and_what_to_do(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA application_id = 1179403335; CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT);"
                       "INSERT INTO ledger_meta VALUES ('schema_version', '3');")
    conn.close()
    before = path.read_bytes()
    assert refusals(path) == [(
        f"refusing {path}: expected ledger schema 4; found schema 3. Ledgers of other schemas are not migrated "
        "(schema 4 came before any production ledger). The file was left untouched. Move the file aside (never "
        "delete evidence) and point fleet_ledger_path or FLEET_LEDGER_PATH at a ledger of schema 4; a missing one "
        "is created by the next run."
    )] * 2
    assert path.read_bytes() == before


def test_a_health_row_costs_under_350_bytes_of_file_beyond_its_evidence(tmp_path):
    """Bytes, not seconds: what a year of daily checks costs per row (the
    hash, the indexes, the B-tree), measured on the file."""
    path = tmp_path / "l.sqlite"
    with L.Ledger(str(path)) as led:
        for day in range(40):
            rows = [{"kind": "health", "host": f"h{h:02d}", "check": c, "ok": True, "evidence": {"day": day}}
                    for h in range(10) for c in ("mesh_verify", "service_health", "ssh_cert_verify", "secrets_verify")]
            led.record_many(rows)
        evidence_bytes = led.conn.execute("SELECT SUM(length(evidence)) FROM events").fetchone()[0]
        led.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    per_row = (path.stat().st_size - evidence_bytes) / 1600
    assert per_row < 350, per_row


def test_dropping_a_trigger_and_rewriting_a_row_is_detected_by_every_reader(tmp_path):
    import sqlite3

    path = tmp_path / "l.sqlite"
    with L.Ledger(str(path)) as led:
        led.record("health", "a", "c", False)
        led.record("health", "a", "c", True)
    from ansible_collections.fleet.migration.plugins.module_utils import ledger_store

    conn = sqlite3.connect(path)
    # The trigger comes back exactly as it was: only the moved schema cookie
    # and the hash chain can tell.
    conn.executescript(
        "DROP TRIGGER events_no_update; UPDATE events SET ok = 1 WHERE id = 1;"
        + ledger_store._EXPECTED_SQL["events_no_update"] + ";"
    )
    conn.close()
    with pytest.raises(L.LedgerError) as info:
        L.Ledger(str(path), create=False)
    assert str(info.value) == (
        f"refusing {path}: the hash chain breaks at row 1 (expected row 1 chained to the start; found content that "
        "does not match its hash), so history was rewritten. Keep the file for inspection, find who altered it, and "
        "start a new ledger."
    )


def test_a_trigger_replaced_by_a_weaker_one_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "l.sqlite"
    L.Ledger(str(path)).close()
    conn = sqlite3.connect(path)
    conn.executescript("DROP TRIGGER events_no_update; CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT 1; END;")
    conn.close()
    with pytest.raises(L.LedgerError, match=r"changed \['trigger events_no_update'\]"):
        L.Ledger(str(path), create=False)


def test_a_vacuum_moves_the_cookie_and_is_accepted_once_the_whole_chain_holds(tmp_path):
    import sqlite3

    path = tmp_path / "l.sqlite"
    with L.Ledger(str(path)) as led:
        led.record("health", "a", "c", True)
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")
    conn.close()
    with L.Ledger(str(path)) as led:
        assert [e.check for e in led.events()] == ["c"]


def test_a_dropped_trigger_is_refused_by_writers_too(tmp_path):
    import sqlite3

    path = tmp_path / "l.sqlite"
    L.Ledger(str(path)).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER events_no_delete")
    conn.close()
    with pytest.raises(L.LedgerError, match=r"the ledger's schema was altered \(missing \['trigger events_no_delete'\]"):
        L.Ledger(str(path))


def test_readers_never_write(tmp_path):
    path = tmp_path / "l.sqlite"
    with L.Ledger(str(path)) as led:
        led.record("health", "a", "c", True)
    with L.Ledger(str(path), create=False) as reader:
        with pytest.raises(L.LedgerError, match="was opened read-only"):
            reader.record("health", "a", "c", True)


def test_an_empty_file_is_not_a_ledger(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.write_bytes(b"")
    with pytest.raises(L.LedgerError, match="found an empty file. The file was left untouched"):
        L.Ledger(str(path))
    assert path.read_bytes() == b""


_OPEN_AT_ONCE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.fleet.migration.plugins.module_utils import ledger as L
start = float(sys.argv[3])
while time.time() < start:
    pass
with L.Ledger(sys.argv[2]) as led:
    led.record("health", sys.argv[4], "reachable", True, phase=1)
"""


def test_many_writers_creating_the_ledger_at_once_all_succeed(tmp_path):
    # A first run opens the ledger from every host's task at the same moment;
    # none may see a half-made file and refuse it.

    for attempt in range(3):
        path = tmp_path / f"race{attempt}" / "ledger.sqlite"
        start = time.time() + 1.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT_ONCE, str(REPO / ".collections"), str(path), str(start), f"h{i}"],
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(12)
        ]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 12, "\n".join(e for e in errors if e)
        with L.Ledger(str(path), create=False, verify=True) as led:
            assert sorted(led.hosts()) == sorted(f"h{i}" for i in range(12))
        assert [n for n in os.listdir(path.parent) if n.startswith(".ledger-new-")] == [], "a private copy was left"
