"""The inbox on PostgreSQL: for a back office whose own tables live in PostgreSQL.

The table `bus_inbox` goes in the back office's own database, beside its tables (in the schema
the connection's search_path names first): a handler's writes and the inbox entry commit in one
PostgreSQL transaction, exactly as on SQLite (consumers/inbox.py describes the key and the entries).

The connection is synchronous (psycopg 3's `Connection`), on purpose: the handler gets it inside
the inbox's transaction and does its own database work through it, in that transaction, the same
model as SQLite's. The consumer handles one delivery at a time, so nothing would run meanwhile on
an asynchronous connection anyway.

Isolation: READ COMMITTED, PostgreSQL's default, is enough. Two writers handling the same
delivery both insert the same primary key; the second insert waits for the first transaction and
fails with a unique violation once it commits (`lost_race`), rolling back the second handler's
writes with it. The key, not the isolation level, keeps the effects to one.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.errors import UniqueViolation

from consumers.erasure_queue import InboxEntry
from consumers.inbox_protocol import InboxOutcome

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_inbox (
    source     text NOT NULL,
    event_id   text NOT NULL,
    purpose    text NOT NULL,
    event_type text NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('applied', 'dead-lettered')),
    handled_at timestamptz NOT NULL,
    erase_by   timestamptz,
    erased_at  timestamptz,        -- when the erase handler ran for it
    erasure_sent_at timestamptz,   -- when its erasure record reached the erasures topic
    PRIMARY KEY (source, event_id, purpose)
)
"""
_DUE_INDEX = (
    "CREATE INDEX IF NOT EXISTS bus_inbox_due ON bus_inbox (erase_by) WHERE erased_at IS NULL"
)
# Two processes creating the table at once would collide in the catalog: the second waits here.
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('govbus.bus_inbox'))"
# Queries are made of literals only (psycopg types them LiteralString): values go as parameters.
_ENTRIES = "SELECT source, event_id, purpose, event_type, erase_by, erased_at FROM bus_inbox"


class PostgresInbox:
    """Owns the back office's PostgreSQL connection. Handlers write through `transaction()`.

    Parameters:
        dsn: the back office's database (a libpq connection string or URL); `bus_inbox` is
            created there if missing.
    """

    def __init__(self, dsn: str) -> None:
        # Autocommit: transactions are explicit (`transaction()`); a lookup sees the last commit.
        self.db: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(dsn, autocommit=True)
        self.db.execute("SET TIME ZONE 'UTC'")  # deadlines come back in UTC, as on SQLite
        with self.transaction() as db:
            db.execute(_SCHEMA_LOCK)
            db.execute(_SCHEMA)
            db.execute(_DUE_INDEX)

    def seen(self, source: str, event_id: str, purpose: str) -> InboxOutcome | None:
        """The outcome if this event was handled for this purpose already."""
        row = self.db.execute(
            "SELECT outcome FROM bus_inbox WHERE source = %s AND event_id = %s AND purpose = %s",
            (source, event_id, purpose),
        ).fetchone()
        return None if row is None else InboxOutcome(row[0])

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """Commit everything written inside, or nothing."""
        with self.db.transaction():
            yield self.db

    def record(
        self,
        db: psycopg.Connection[tuple[Any, ...]],
        source: str,
        event_id: str,
        event_type: str,
        purpose: str,
        outcome: InboxOutcome,
        erase_by: datetime | None = None,
    ) -> None:
        """`Inbox.record`: a second record of the same key raises UniqueViolation."""
        db.execute(
            "INSERT INTO bus_inbox"
            " (source, event_id, purpose, event_type, outcome, handled_at, erase_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (source, event_id, purpose, event_type, outcome.value, datetime.now(UTC), erase_by),
        )

    def lost_race(self, error: BaseException) -> bool:
        """Whether `error` is a unique-key violation: the inbox entry's, or a key of the
        handler's own that the winning writer's committed effects hold already."""
        return isinstance(error, UniqueViolation)

    def due_entries(self, now: datetime, limit: int, skip: int = 0) -> list[InboxEntry]:
        """Applied entries due at `now` and not erased yet, the most overdue first."""
        rows = self.db.execute(
            _ENTRIES + " WHERE erased_at IS NULL AND erase_by <= %s AND outcome = 'applied'"
            " ORDER BY erase_by, source, event_id, purpose LIMIT %s OFFSET %s",
            (now, limit, skip),
        )
        return [InboxEntry(*row) for row in rows]

    def mark_erased(
        self, db: psycopg.Connection[tuple[Any, ...]], entry: InboxEntry, at: datetime
    ) -> None:
        """Record that `entry`'s data was erased at `at`, inside the erase handler's transaction."""
        db.execute(
            "UPDATE bus_inbox SET erased_at = %s"
            " WHERE source = %s AND event_id = %s AND purpose = %s",
            (at, entry.source, entry.event_id, entry.purpose),
        )

    def unreported(self) -> list[InboxEntry]:
        """Erased entries whose erasure record has not reached the erasures topic yet."""
        rows = self.db.execute(
            _ENTRIES + " WHERE erased_at IS NOT NULL AND erasure_sent_at IS NULL ORDER BY erased_at"
        )
        return [InboxEntry(*row) for row in rows]

    def mark_reported(self, entries: list[InboxEntry], at: datetime) -> None:
        """Record that the erasure records of `entries` are on the erasures topic."""
        with self.transaction() as db, db.cursor() as cursor:
            cursor.executemany(
                "UPDATE bus_inbox SET erasure_sent_at = %s"
                " WHERE source = %s AND event_id = %s AND purpose = %s",
                [(at, e.source, e.event_id, e.purpose) for e in entries],
            )

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()
