"""Which events wrote a reference back office's row, so that a row can be erased when the
retention of everything in it has run out.

Each row (one person) may be written by several events (a move, then a death). Every handler's
write is recorded in `<table>_sources` with the event's source, id and purpose; when an event's
deadline passes, its link goes, and the row goes with the last link: no row outlives the data the
bus delivered into it, and no row is erased while a younger delivery still justifies it.
"""

import sqlite3
from typing import Any

from consumers.consumer import Handler
from consumers.erasure_queue import InboxEntry
from consumers.purge import Eraser
from consumers.view import ReleasedEvent


def sources_schema(table: str) -> str:
    """The CREATE TABLE statement of `table`'s sources."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table}_sources (source TEXT NOT NULL, event_id TEXT NOT NULL,"
        " purpose TEXT NOT NULL, person_id TEXT NOT NULL, PRIMARY KEY (source, event_id, purpose))"
    )


def recording_sources(
    table: str, handler: Handler[sqlite3.Connection]
) -> Handler[sqlite3.Connection]:
    """`handler`, and then the link from the event to the row it wrote, in its transaction."""

    async def handle(event: ReleasedEvent[Any], db: sqlite3.Connection) -> None:
        await handler(event, db)
        db.execute(
            f"INSERT OR IGNORE INTO {table}_sources VALUES (?, ?, ?, ?)",  # noqa: S608 - ours
            (event.source, event.id, event.purpose, event.data.subject_id),
        )

    return handle


def erasing_rows(table: str) -> Eraser[sqlite3.Connection]:
    """The erase handler of `table`: drop the event's links, and each row left with none."""

    async def erase(entry: InboxEntry, db: sqlite3.Connection) -> None:
        key = (entry.source, entry.event_id, entry.purpose)
        where = "source = ? AND event_id = ? AND purpose = ?"
        people = [
            row[0]
            for row in db.execute(
                f"SELECT person_id FROM {table}_sources WHERE {where}",  # noqa: S608 - ours
                key,
            )
        ]
        db.execute(f"DELETE FROM {table}_sources WHERE {where}", key)  # noqa: S608 - ours
        for person in people:
            db.execute(
                f"DELETE FROM {table} WHERE person_id = ? AND NOT EXISTS"  # noqa: S608 - ours
                f" (SELECT 1 FROM {table}_sources WHERE person_id = ?)",
                (person, person),
            )

    return erase
