"""What the consumer SDK needs of a back office's database: the `Inbox` of deliveries handled,
on SQLite (consumers/inbox.py) or PostgreSQL (consumers/inbox_postgres.py).

`C` is the connection handlers and erase handlers write through: `transaction()` hands it out,
and `record` and `mark_erased` write the inbox's own rows through it, so that the back office's
writes and the inbox entry commit together or not at all.
"""

from contextlib import AbstractContextManager
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from consumers.erasure_queue import InboxEntry

# Invariant: C is handed out by `transaction` and taken back by `record` and `mark_erased`.
C = TypeVar("C")


class InboxOutcome(StrEnum):
    """How a delivery was finished: its handler's writes committed, or it was dead-lettered."""

    APPLIED = "applied"
    DEAD_LETTERED = "dead-lettered"


class Inbox(Protocol[C]):
    """The deliveries a back office has handled, keyed by (source, event id, purpose), and the
    erasure bookkeeping of the applied ones (consumers/erasure_queue.py describes its states)."""

    def seen(self, source: str, event_id: str, purpose: str) -> InboxOutcome | None:
        """The outcome if this event was handled for this purpose already, else None."""
        ...

    def transaction(self) -> AbstractContextManager[C]:
        """The connection, in a transaction committed on normal exit, rolled back on an error."""
        ...

    def record(
        self,
        db: C,
        source: str,
        event_id: str,
        event_type: str,
        purpose: str,
        outcome: InboxOutcome,
        erase_by: datetime | None = None,
    ) -> None:
        """Mark the event handled for `purpose` inside the transaction `db`; a second record of
        the same key fails with an error `lost_race` recognises. `erase_by`: the deadline of what
        the handler kept (applied entries)."""
        ...

    def lost_race(self, error: BaseException) -> bool:
        """Whether `error` is this database's unique-key violation on an inbox entry: another
        writer recorded the same delivery first (the consumer also checks that it is there)."""
        ...

    def due_entries(self, now: datetime, limit: int, skip: int = 0) -> list[InboxEntry]:
        """Applied entries whose deadline is `now` or earlier and that are not erased yet, the
        most overdue first; `skip` passes over the first ones (those a purge could not erase)."""
        ...

    def mark_erased(self, db: C, entry: InboxEntry, at: datetime) -> None:
        """Record that `entry`'s data was erased at `at`, inside the erase handler's transaction."""
        ...

    def unreported(self) -> list[InboxEntry]:
        """Erased entries whose erasure record has not reached the erasures topic yet."""
        ...

    def mark_reported(self, entries: list[InboxEntry], at: datetime) -> None:
        """Record, in a transaction of its own, that the erasure records of `entries` are sent."""
        ...

    def close(self) -> None:
        """Close the database connection."""
        ...
