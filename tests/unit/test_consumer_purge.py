"""Storage limitation in the back office, by a clock the test sets: an entry is erased once its
deadline has passed, through the back office's own handler, in one transaction with the mark; a
failing or missing handler leaves it due; erased entries wait to be reported until they are."""

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from consumers import InboxEntry, SqliteInbox
from consumers.erasure_records import erasure_record
from consumers.inbox import InboxOutcome
from consumers.purge import Eraser, purge

TYPE = "population.AddressChanged"
SOURCE = "muni-09162000"
DECIDED = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
DEADLINE = DECIDED + timedelta(days=365)


def office(tmp_path: Path) -> SqliteInbox:
    """A back office that keeps, per person, the event that last wrote the row."""
    inbox = SqliteInbox(tmp_path / "office.db")
    inbox.db.execute("CREATE TABLE people (person_id TEXT PRIMARY KEY, last_event_id TEXT)")
    return inbox


def apply(inbox: SqliteInbox, event_id: str, person: str, erase_by: datetime | None) -> None:
    with inbox.transaction() as db:
        db.execute("INSERT OR REPLACE INTO people VALUES (?, ?)", (person, event_id))
        inbox.record(db, SOURCE, event_id, TYPE, "tax", InboxOutcome.APPLIED, erase_by)


async def forget(entry: InboxEntry, db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM people WHERE last_event_id = ?", (entry.event_id,))


ERASERS: dict[tuple[str, str], Eraser[sqlite3.Connection]] = {("tax", TYPE): forget}


def people(inbox: SqliteInbox) -> list[str]:
    return [r[0] for r in inbox.db.execute("SELECT person_id FROM people ORDER BY 1")]


async def test_an_entry_is_erased_once_its_deadline_has_passed(tmp_path: Path) -> None:
    inbox = office(tmp_path)
    apply(inbox, "e-1", "P-1", DEADLINE)
    apply(inbox, "e-2", "P-2", DEADLINE + timedelta(days=30))

    early = await purge(inbox, ERASERS, None, DEADLINE - timedelta(seconds=1))
    assert early.erased == 0
    assert people(inbox) == ["P-1", "P-2"]

    on_time = await purge(inbox, ERASERS, None, DEADLINE)
    assert (on_time.erased, on_time.failed, on_time.no_eraser) == (1, 0, 0)
    assert people(inbox) == ["P-2"]
    [erased] = inbox.unreported()
    assert (erased.event_id, erased.erase_by, erased.erased_at) == ("e-1", DEADLINE, DEADLINE)
    # The inbox still knows the event: a redelivery after the erasure is skipped, not re-applied.
    assert inbox.seen(SOURCE, "e-1", "tax") is InboxOutcome.APPLIED

    # Erased once: a later purge does not run the handler on it again.
    later = await purge(inbox, ERASERS, None, DEADLINE + timedelta(days=1))
    assert later.erased == 0
    assert people(inbox) == ["P-2"]


async def test_the_erasure_record_names_the_delivery_and_no_person(tmp_path: Path) -> None:
    inbox = office(tmp_path)
    apply(inbox, "e-1", "P-1", DEADLINE)
    await purge(inbox, ERASERS, None, DEADLINE + timedelta(hours=2))
    [entry] = inbox.unreported()
    record = erasure_record(entry)
    assert (record.source, record.event_id, record.purpose, record.event_type) == (
        SOURCE,
        "e-1",
        "tax",
        TYPE,
    )
    assert record.erase_by == "2027-01-01T09:30:00.000000Z"
    assert record.erased_at == "2027-01-01T11:30:00.000000Z"
    assert b"P-1" not in record.to_json_bytes()
    inbox.mark_reported([entry], DEADLINE + timedelta(hours=3))
    assert inbox.unreported() == []


async def test_a_failing_or_missing_erase_handler_leaves_the_entry_due(tmp_path: Path) -> None:
    inbox = office(tmp_path)
    apply(inbox, "e-1", "P-1", DEADLINE)
    inbox.db.execute(
        "INSERT INTO bus_inbox VALUES ('muni-x', 'e-2', 'tax', 'other.Type', 'applied', '', ?,"
        " NULL, NULL)",
        ("2026-12-01T00:00:00.000000Z",),
    )

    async def broken(entry: InboxEntry, db: sqlite3.Connection) -> None:
        await forget(entry, db)  # written, then rolled back with the failure
        raise RuntimeError("the legacy system is down")

    result = await purge(inbox, {("tax", TYPE): broken}, None, DEADLINE)
    assert (result.erased, result.failed, result.no_eraser) == (0, 1, 1)
    assert people(inbox) == ["P-1"]
    assert [e.event_id for e in inbox.due_entries(DEADLINE, limit=10)] == ["e-2", "e-1"]

    retried = await purge(inbox, ERASERS, None, DEADLINE)
    assert (retried.erased, retried.no_eraser) == (1, 1)
    assert people(inbox) == []


async def test_entries_without_a_deadline_or_not_applied_are_never_due(tmp_path: Path) -> None:
    inbox = office(tmp_path)
    apply(inbox, "e-old", "P-1", None)  # applied before the bus stamped deadlines
    with inbox.transaction() as db:
        inbox.record(db, SOURCE, "e-dl", TYPE, "tax", InboxOutcome.DEAD_LETTERED, DEADLINE)
    assert inbox.due_entries(DEADLINE + timedelta(days=10_000), limit=10) == []


def test_an_inbox_of_the_second_schema_gets_the_deadline_columns(tmp_path: Path) -> None:
    path = tmp_path / "office.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE bus_inbox (source TEXT NOT NULL, event_id TEXT NOT NULL, purpose TEXT"
            " NOT NULL, event_type TEXT NOT NULL, outcome TEXT NOT NULL, handled_at TEXT NOT NULL,"
            " PRIMARY KEY (source, event_id, purpose))"
        )
        old.execute(
            "INSERT INTO bus_inbox VALUES (?, 'e-old', 'tax', ?, 'applied', '')", (SOURCE, TYPE)
        )
    old.close()
    inbox = SqliteInbox(path)
    assert inbox.seen(SOURCE, "e-old", "tax") is InboxOutcome.APPLIED
    assert inbox.due_entries(DEADLINE, limit=10) == []
    with inbox.transaction() as db:
        inbox.record(db, SOURCE, "e-new", TYPE, "tax", InboxOutcome.APPLIED, DEADLINE)
    assert [e.event_id for e in inbox.due_entries(DEADLINE, limit=10)] == ["e-new"]
    SqliteInbox(path).close()  # opened again: nothing left to migrate
