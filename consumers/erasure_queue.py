"""The inbox entries whose retention ran out, and the erasures not yet reported: the queries the
purge (consumers/purge.py) works through, here on SQLite (`SqliteInbox` runs them on its own
connection; consumers/inbox_postgres.py has the same queries for PostgreSQL).

An entry goes through three states: applied with a deadline; erased (the back office's erase
handler ran, in the same transaction that set `erased_at`); reported (its erasure record reached
the agency's erasures topic). Reporting comes after the commit, so a crash in between leaves the
entry erased and unreported, and the next purge sends it again: at least once, never lost.
"""

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from bus.envelope.attributes import format_time, parse_time

_COLUMNS = "source, event_id, purpose, event_type, erase_by, erased_at"


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One applied delivery with a deadline: what an erase handler is given. It names the event
    (source, id, type) and the purpose it was delivered for; the back office knows which of its
    rows that event wrote."""

    source: str
    event_id: str
    purpose: str
    event_type: str
    erase_by: datetime
    erased_at: datetime | None = None


def due_entries(
    db: sqlite3.Connection, now: datetime, limit: int = 500, skip: int = 0
) -> list[InboxEntry]:
    """Applied entries whose deadline is `now` or earlier and that are not erased yet, the most
    overdue first; `skip` passes over the first ones (those a purge could not erase)."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM bus_inbox"  # noqa: S608 - the columns are this module's
        " WHERE erased_at IS NULL AND erase_by IS NOT NULL AND erase_by <= ?"
        " AND outcome = 'applied' ORDER BY erase_by, source, event_id, purpose LIMIT ? OFFSET ?",
        (format_time(now), limit, skip),
    )
    return [_entry(row) for row in rows]


def mark_erased(db: sqlite3.Connection, entry: InboxEntry, at: datetime) -> None:
    """Record that `entry`'s data was erased at `at`, inside the erase handler's transaction."""
    db.execute(
        "UPDATE bus_inbox SET erased_at = ? WHERE source = ? AND event_id = ? AND purpose = ?",
        (format_time(at), entry.source, entry.event_id, entry.purpose),
    )


def unreported(db: sqlite3.Connection) -> list[InboxEntry]:
    """Erased entries whose erasure record has not reached the erasures topic yet."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM bus_inbox"  # noqa: S608 - the columns are this module's
        " WHERE erased_at IS NOT NULL AND erasure_sent_at IS NULL ORDER BY erased_at"
    )
    return [_entry(row) for row in rows]


def mark_reported(db: sqlite3.Connection, entries: list[InboxEntry], at: datetime) -> None:
    """Record that the erasure records of `entries` are on the erasures topic."""
    db.executemany(
        "UPDATE bus_inbox SET erasure_sent_at = ?"
        " WHERE source = ? AND event_id = ? AND purpose = ?",
        [(format_time(at), e.source, e.event_id, e.purpose) for e in entries],
    )


def _entry(row: tuple[str, str, str, str, str, str | None]) -> InboxEntry:
    source, event_id, purpose, event_type, erase_by, erased_at = row
    return InboxEntry(
        source,
        event_id,
        purpose,
        event_type,
        parse_time(erase_by),
        None if erased_at is None else parse_time(erased_at),
    )
