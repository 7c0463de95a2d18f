"""The back office's own SQLite database, with the inbox of deliveries already handled (the
`Inbox` on SQLite; consumers/inbox_postgres.py is the one on PostgreSQL).

A handler's writes and the inbox entry commit in one SQLite transaction, so a redelivered event
(after a crash, a rebalance, a replay) is recognised and skipped: effects happen exactly once even
though Kafka delivers at least once.

An entry is keyed by (source, event id, purpose). The source: an id is unique only per producer
(CloudEvents), and another agency must not be able to suppress an event by reusing its id. The
purpose: one event delivered for two purposes is two pieces of work, each with its own handler. A
producer that republishes an event with the same id (a retry after a lost acknowledgement) hits
the same key, and the copy is skipped.

An applied entry also keeps the deadline the bus set for the delivery (`erase_by`), and when the
back office's copy was erased and the erasure reported (consumers/erasure_queue.py, purge.py).
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from bus.envelope.attributes import format_time
from bus.util.private_files import create_private_file
from consumers import erasure_queue
from consumers.erasure_queue import InboxEntry
from consumers.inbox_protocol import Inbox, InboxOutcome

__all__ = ["UNKNOWN_SOURCE", "Inbox", "InboxEntry", "InboxOutcome", "SqliteInbox"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_inbox (
    source     TEXT NOT NULL,   -- '' on entries kept from before the inbox knew the source
    event_id   TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    event_type TEXT NOT NULL,
    outcome    TEXT NOT NULL,   -- applied | dead-lettered
    handled_at TEXT NOT NULL,
    erase_by   TEXT,            -- RFC 3339 UTC; NULL on entries from before the inbox kept it
    erased_at  TEXT,            -- when the erase handler ran for it
    erasure_sent_at TEXT,       -- when its erasure record reached the erasures topic
    PRIMARY KEY (source, event_id, purpose)
)
"""
# Entries of the second schema have no deadline columns; see _add_retention_columns.
_RETENTION_COLUMNS = ("erase_by", "erased_at", "erasure_sent_at")
_DUE_INDEX = (
    "CREATE INDEX IF NOT EXISTS bus_inbox_due ON bus_inbox (erase_by) WHERE erased_at IS NULL"
)
# Entries of the first schema (keyed by event id alone) carry no source; see _migrate.
UNKNOWN_SOURCE = ""
# SQLite's name for a database that lives in memory only (no file to create or protect).
_IN_MEMORY = Path(":memory:")


class SqliteInbox:
    """Owns the back office's database connection. Handlers write through `transaction()`.

    The database holds personal data: it is created readable by its owner only (0600, and SQLite
    gives its -wal and -shm files the same mode), and an existing one is tightened to that.

    Parameters:
        path: the database file; created if missing, an inbox of the first schema is migrated.
    """

    def __init__(self, path: Path) -> None:
        if path != _IN_MEMORY:
            create_private_file(path)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE … COMMIT) below.
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a committed event survives a power cut
        with self.transaction() as db:  # a second process opening the database waits here
            _migrate(db)
            db.execute(_SCHEMA)
            _add_retention_columns(db)
            db.execute(_DUE_INDEX)

    @classmethod
    def in_memory(cls) -> Self:
        """An inbox in a database of its own that lives in memory and goes with `close()`."""
        return cls(_IN_MEMORY)

    def seen(self, source: str, event_id: str, purpose: str) -> InboxOutcome | None:
        """The outcome if this event was handled for this purpose already; an entry kept from the
        first schema matches any source (it was recorded before the inbox kept one)."""
        row = self.db.execute(
            "SELECT outcome FROM bus_inbox WHERE source IN (?, ?) AND event_id = ? AND purpose = ?",
            (source, UNKNOWN_SOURCE, event_id, purpose),
        ).fetchone()
        return None if row is None else InboxOutcome(row[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Commit everything written inside, or nothing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def record(
        self,
        db: sqlite3.Connection,
        source: str,
        event_id: str,
        event_type: str,
        purpose: str,
        outcome: InboxOutcome,
        erase_by: datetime | None = None,
    ) -> None:
        """Mark the event handled for `purpose`, inside the transaction `db` of `transaction()`
        (an event already recorded for the same source and purpose raises IntegrityError);
        `erase_by`: the deadline of what the handler kept (applied entries)."""
        db.execute(
            "INSERT INTO bus_inbox"
            " (source, event_id, purpose, event_type, outcome, handled_at, erase_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                source,
                event_id,
                purpose,
                event_type,
                outcome.value,
                datetime.now(UTC).isoformat(),
                None if erase_by is None else format_time(erase_by),
            ),
        )

    def lost_race(self, error: BaseException) -> bool:
        """Whether `error` is a constraint violation: the inbox entry's key, or a key of the
        handler's own that the winning writer's committed effects hold already. (Any
        IntegrityError: the consumer counts it as a lost race only if the entry is there.)"""
        return isinstance(error, sqlite3.IntegrityError)

    def due_entries(self, now: datetime, limit: int, skip: int = 0) -> list[InboxEntry]:
        """Applied entries due at `now` and not erased yet, the most overdue first."""
        return erasure_queue.due_entries(self.db, now, limit, skip)

    def mark_erased(self, db: sqlite3.Connection, entry: InboxEntry, at: datetime) -> None:
        """Record that `entry`'s data was erased at `at`, inside the erase handler's transaction."""
        erasure_queue.mark_erased(db, entry, at)

    def unreported(self) -> list[InboxEntry]:
        """Erased entries whose erasure record has not reached the erasures topic yet."""
        return erasure_queue.unreported(self.db)

    def mark_reported(self, entries: list[InboxEntry], at: datetime) -> None:
        """Record that the erasure records of `entries` are on the erasures topic."""
        with self.transaction() as db:
            erasure_queue.mark_reported(db, entries, at)

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()


def _migrate(db: sqlite3.Connection) -> None:
    """Rebuild an inbox of the first schema (event id alone as key) under the new key.

    Its entries keep their event id and purpose; their source is unknown, so they match every
    source (see `seen`): an event handled before the upgrade stays handled when it comes again.
    """
    columns = [row[1] for row in db.execute("PRAGMA table_info(bus_inbox)")]
    if not columns or "source" in columns:
        return
    db.execute("ALTER TABLE bus_inbox RENAME TO bus_inbox_by_event_id")
    db.execute(_SCHEMA)
    db.execute(
        "INSERT INTO bus_inbox (source, event_id, purpose, event_type, outcome, handled_at)"
        " SELECT ?, event_id, purpose, event_type, outcome, handled_at FROM bus_inbox_by_event_id",
        (UNKNOWN_SOURCE,),
    )
    db.execute("DROP TABLE bus_inbox_by_event_id")


def _add_retention_columns(db: sqlite3.Connection) -> None:
    """Give an inbox of the second schema the deadline columns. Its entries keep NULL deadlines:
    they were applied before the bus sent one, and a purge leaves them to the back office."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(bus_inbox)")}
    for column in _RETENTION_COLUMNS:
        if column not in columns:
            db.execute(f"ALTER TABLE bus_inbox ADD COLUMN {column} TEXT")
