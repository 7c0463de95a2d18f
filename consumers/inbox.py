"""The back office's own SQLite database, with the inbox of event ids already handled.

A handler's writes and the event id commit in one SQLite transaction, so a redelivered event (after
a crash, a rebalance, a replay) is recognised and skipped: effects happen exactly once even though
Kafka delivers at least once.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_inbox (
    event_id   TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    outcome    TEXT NOT NULL,   -- applied | dead-lettered
    handled_at TEXT NOT NULL
)
"""


class InboxOutcome(StrEnum):
    APPLIED = "applied"
    DEAD_LETTERED = "dead-lettered"


class SqliteInbox:
    """Owns the back office's database connection. Handlers write through `transaction()`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE … COMMIT) below.
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a committed event survives a power cut
        self.db.execute(_SCHEMA)

    def seen(self, event_id: str) -> InboxOutcome | None:
        row = self.db.execute(
            "SELECT outcome FROM bus_inbox WHERE event_id = ?", (event_id,)
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
        self, db: sqlite3.Connection, event_id: str, event_type: str, purpose: str,
        outcome: InboxOutcome,
    ) -> None:  # fmt: skip
        db.execute(
            "INSERT INTO bus_inbox (event_id, event_type, purpose, outcome, handled_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (event_id, event_type, purpose, outcome.value, datetime.now(UTC).isoformat()),
        )

    def close(self) -> None:
        self.db.close()
