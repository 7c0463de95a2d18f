"""One contract for both inboxes, SQLite and PostgreSQL: an entry per (source, event id, purpose),
the handler's writes and the entry commit together or not at all, a second writer of the same
delivery loses the race recognisably, and the erasure queue goes applied → erased → reported."""

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers import Inbox, InboxEntry, InboxOutcome
from consumers.purge import purge
from tests.support.inbox_databases import (
    NO_TABLE,
    UNIQUE_VIOLATION,
    Connection,
    InboxDatabase,
    execute,
)

SOURCE, TYPE, PURPOSE = "muni-09162000", "population.AddressChanged", "tax"
DEADLINE = datetime(2027, 1, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def inbox(inbox_database: InboxDatabase) -> Iterator[Inbox[Any]]:
    """The contract speaks of the protocol only: what the consumer SDK knows of an inbox."""
    opened = inbox_database.open()
    with opened.transaction() as db:
        db.execute("CREATE TABLE people (person_id TEXT PRIMARY KEY, event_id TEXT)")
    yield opened
    opened.close()


def write_person(db: Connection, person: str, event_id: str) -> None:
    """The back office's own write, in the inbox's transaction."""
    execute(db, "INSERT INTO people VALUES (?, ?)", (person, event_id))


def apply(inbox: Inbox[Any], event_id: str, person: str, erase_by: datetime | None) -> None:
    with inbox.transaction() as db:
        write_person(db, person, event_id)
        inbox.record(db, SOURCE, event_id, TYPE, PURPOSE, InboxOutcome.APPLIED, erase_by)


def people(database: InboxDatabase) -> list[str]:
    return [row[0] for row in database.raw("SELECT person_id FROM people ORDER BY 1")]


def test_an_event_is_handled_once_per_source_and_purpose(
    inbox: Inbox[Any],
) -> None:
    assert inbox.seen(SOURCE, "e-1", PURPOSE) is None
    with inbox.transaction() as db:
        inbox.record(db, SOURCE, "e-1", TYPE, PURPOSE, InboxOutcome.APPLIED, DEADLINE)
    assert inbox.seen(SOURCE, "e-1", PURPOSE) is InboxOutcome.APPLIED
    assert inbox.seen(SOURCE, "e-1", "tax-audit") is None  # another purpose: other work
    assert inbox.seen("muni-08111000", "e-1", PURPOSE) is None  # ids are unique per source
    with inbox.transaction() as db:
        inbox.record(db, "muni-08111000", "e-1", TYPE, PURPOSE, InboxOutcome.DEAD_LETTERED)
    assert inbox.seen("muni-08111000", "e-1", PURPOSE) is InboxOutcome.DEAD_LETTERED


def test_the_handlers_writes_and_the_entry_commit_together_or_not_at_all(
    inbox: Inbox[Any], inbox_database: InboxDatabase
) -> None:
    def handle_and_fail() -> None:
        with inbox.transaction() as db:
            write_person(db, "P-1", "e-1")
            inbox.record(db, SOURCE, "e-1", TYPE, PURPOSE, InboxOutcome.APPLIED, DEADLINE)
            raise RuntimeError("the legacy system is down")

    with pytest.raises(RuntimeError, match="legacy system"):
        handle_and_fail()
    assert inbox.seen(SOURCE, "e-1", PURPOSE) is None
    assert people(inbox_database) == []

    apply(inbox, "e-1", "P-1", DEADLINE)
    # Committed: another connection sees both.
    assert people(inbox_database) == ["P-1"]
    assert inbox_database.raw("SELECT event_id, outcome FROM bus_inbox") == [("e-1", "applied")]


def test_a_second_writer_of_the_same_delivery_loses_the_race(
    inbox: Inbox[Any], inbox_database: InboxDatabase
) -> None:
    """Two back-office processes handle the same delivery at once: the rival's transaction waits
    for the first one and fails once it commits, its own writes rolled back with it."""
    opened, go = threading.Event(), threading.Event()
    outcome: list[tuple[bool, InboxOutcome | None]] = []  # (lost_race, seen afterwards)

    def rival() -> None:
        other = inbox_database.open()  # a connection of its own, used in this thread only
        opened.set()
        go.wait(10)
        try:
            with other.transaction() as db:
                write_person(db, "P-2", "e-1")
                other.record(db, SOURCE, "e-1", TYPE, PURPOSE, InboxOutcome.APPLIED, DEADLINE)
        except Exception as exc:
            outcome.append((other.lost_race(exc), other.seen(SOURCE, "e-1", PURPOSE)))
        finally:
            other.close()

    thread = threading.Thread(target=rival)
    thread.start()
    assert opened.wait(10)
    with inbox.transaction() as db:
        write_person(db, "P-1", "e-1")
        inbox.record(db, SOURCE, "e-1", TYPE, PURPOSE, InboxOutcome.APPLIED, DEADLINE)
        go.set()
        time.sleep(0.3)  # the rival is waiting on this transaction by now
    thread.join(30)
    assert outcome == [(True, InboxOutcome.APPLIED)]
    assert people(inbox_database) == ["P-1"]


def test_a_key_violation_is_a_lost_race_and_other_errors_are_not(inbox: Inbox[Any]) -> None:
    apply(inbox, "e-1", "P-1", DEADLINE)
    # The handler's own key, held by the winner's committed write, counts too.
    with pytest.raises(UNIQUE_VIOLATION) as own_key, inbox.transaction() as db:
        write_person(db, "P-1", "e-1")
    assert inbox.lost_race(own_key.value)
    with pytest.raises(NO_TABLE) as no_table, inbox.transaction() as db:
        db.execute("SELECT * FROM no_such_table")
    assert not inbox.lost_race(no_table.value)
    assert not inbox.lost_race(RuntimeError("the legacy system is down"))


def test_due_entries_come_most_overdue_first_and_only_applied_ones(
    inbox: Inbox[Any],
) -> None:
    apply(inbox, "e-late", "P-1", DEADLINE + timedelta(days=1))
    apply(inbox, "e-first", "P-2", DEADLINE - timedelta(days=1))
    apply(inbox, "e-due", "P-3", DEADLINE)
    apply(inbox, "e-none", "P-4", None)  # applied before the bus stamped deadlines
    with inbox.transaction() as db:
        inbox.record(db, SOURCE, "e-dl", TYPE, PURPOSE, InboxOutcome.DEAD_LETTERED, DEADLINE)

    due = inbox.due_entries(DEADLINE, limit=10)
    assert [e.event_id for e in due] == ["e-first", "e-due"]
    assert due[1] == InboxEntry(SOURCE, "e-due", PURPOSE, TYPE, DEADLINE)
    assert due[1].erase_by.utcoffset() == timedelta(0)
    assert [e.event_id for e in inbox.due_entries(DEADLINE, limit=1, skip=1)] == ["e-due"]
    assert inbox.due_entries(DEADLINE - timedelta(days=2), limit=10) == []


async def test_a_purge_erases_marks_and_reports_through_either_inbox(
    inbox: Inbox[Any], inbox_database: InboxDatabase
) -> None:
    apply(inbox, "e-1", "P-1", DEADLINE)
    apply(inbox, "e-2", "P-2", DEADLINE)
    erased_at = DEADLINE + timedelta(hours=2)

    async def forget(entry: InboxEntry, db: Connection) -> None:
        if entry.event_id == "e-2":
            raise RuntimeError("the legacy system is down")  # rolled back: stays due
        execute(db, "DELETE FROM people WHERE event_id = ?", (entry.event_id,))

    result = await purge(inbox, {(PURPOSE, TYPE): forget}, None, erased_at)
    assert (result.erased, result.failed, result.no_eraser) == (1, 1, 0)
    assert people(inbox_database) == ["P-2"]
    assert [e.event_id for e in inbox.due_entries(erased_at, limit=10)] == ["e-2"]

    [erased] = inbox.unreported()
    assert (erased.event_id, erased.erase_by, erased.erased_at) == ("e-1", DEADLINE, erased_at)
    inbox.mark_reported([erased], erased_at + timedelta(minutes=1))
    assert inbox.unreported() == []
    # Erased, the event stays known: a redelivery is skipped, never applied again.
    assert inbox.seen(SOURCE, "e-1", PURPOSE) is InboxOutcome.APPLIED
