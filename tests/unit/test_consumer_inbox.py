"""The inbox key (source, event id, purpose), and an inbox of the first schema kept working."""

import sqlite3
from pathlib import Path

import pytest

from consumers import SqliteInbox
from consumers.inbox import InboxOutcome

TYPE = "population.AddressChanged"
# The inbox as the first release created it: keyed by the event id alone.
FIRST_SCHEMA = """
CREATE TABLE bus_inbox (
    event_id   TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    handled_at TEXT NOT NULL
)
"""


def test_an_event_is_handled_once_per_source_and_purpose(tmp_path: Path) -> None:
    inbox = SqliteInbox(tmp_path / "office.db")
    with inbox.transaction() as db:
        inbox.record(db, "muni-09162000", "e-1", TYPE, "tax", InboxOutcome.APPLIED)
    assert inbox.seen("muni-09162000", "e-1", "tax") is InboxOutcome.APPLIED
    # The same event for another purpose is another piece of work.
    assert inbox.seen("muni-09162000", "e-1", "tax-audit") is None
    # Another agency reusing the id does not make the first one's event look handled, nor the
    # other way round: ids are unique per source only.
    assert inbox.seen("muni-08111000", "e-1", "tax") is None
    with inbox.transaction() as db:
        inbox.record(db, "muni-08111000", "e-1", TYPE, "tax", InboxOutcome.DEAD_LETTERED)
        inbox.record(db, "muni-09162000", "e-1", TYPE, "tax-audit", InboxOutcome.APPLIED)
    assert inbox.seen("muni-08111000", "e-1", "tax") is InboxOutcome.DEAD_LETTERED


def test_an_inbox_of_the_first_schema_is_migrated_and_keeps_what_it_handled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "office.db"
    with sqlite3.connect(path) as old:
        old.execute(FIRST_SCHEMA)
        old.execute("CREATE TABLE taxpayers (person_id TEXT PRIMARY KEY)")
        old.execute("INSERT INTO taxpayers VALUES ('P-1234-5678')")
        old.execute(
            "INSERT INTO bus_inbox VALUES ('e-old', ?, 'tax', 'applied', '2026-11-01T00:00:00')",
            (TYPE,),
        )
    old.close()

    inbox = SqliteInbox(path)
    # Handled before the upgrade, whichever source it came from: a redelivery stays a no-op.
    assert inbox.seen("muni-09162000", "e-old", "tax") is InboxOutcome.APPLIED
    # It was recorded for one purpose only: the other purpose's handler may still run.
    assert inbox.seen("muni-09162000", "e-old", "tax-audit") is None
    with inbox.transaction() as db:
        inbox.record(db, "muni-09162000", "e-old", TYPE, "tax-audit", InboxOutcome.APPLIED)
        inbox.record(db, "muni-09162000", "e-new", TYPE, "tax", InboxOutcome.APPLIED)
    assert inbox.db.execute("SELECT person_id FROM taxpayers").fetchall() == [("P-1234-5678",)]
    inbox.close()

    # Opening it again (the next start) changes nothing.
    again = SqliteInbox(path)
    rows = again.db.execute(
        "SELECT source, event_id, purpose, outcome, handled_at FROM bus_inbox ORDER BY 2, 3"
    ).fetchall()
    assert [row[:4] for row in rows] == [
        ("muni-09162000", "e-new", "tax", "applied"),
        ("", "e-old", "tax", "applied"),
        ("muni-09162000", "e-old", "tax-audit", "applied"),
    ]
    assert rows[1][4] == "2026-11-01T00:00:00"
    tables = {row[0] for row in again.db.execute("SELECT name FROM sqlite_master")}
    assert "bus_inbox_by_event_id" not in tables


def test_an_inbox_in_memory_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    inbox = SqliteInbox.in_memory()
    with inbox.transaction() as db:
        inbox.record(db, "muni-09162000", "e-1", TYPE, "tax", InboxOutcome.APPLIED)
    assert inbox.seen("muni-09162000", "e-1", "tax") is InboxOutcome.APPLIED
    # Each is a database of its own.
    assert SqliteInbox.in_memory().seen("muni-09162000", "e-1", "tax") is None
    inbox.close()
    assert list(tmp_path.iterdir()) == []
