"""What a reference back office is: an agency, its table, and a handler per subscription; each
row is erased when the retention of every delivery that wrote it has run out (sources.py)."""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bus.kafka.connection import KafkaConnection
from bus.keys import KeyStore
from consumers.back_offices.sources import erasing_rows, recording_sources, sources_schema
from consumers.consumer import PURGE_EVERY_S, Clock, Consumer, Handler, utc_now
from consumers.inbox import SqliteInbox
from consumers.retry import RetryPolicy


@dataclass(frozen=True)
class Handles:
    """One subscription of a back office: `handler` runs for `event_type` delivered for
    `purpose`."""

    event_type: str
    purpose: str
    handler: Handler[sqlite3.Connection]


@dataclass(frozen=True)
class BackOffice:
    """A reference back office, as data.

    Parameters:
        agency_id: the consuming agency.
        title: its name for people (logs, the CLI).
        table: the table of the people it serves, one row per person.
        schema: the CREATE TABLE IF NOT EXISTS statement of `table`, person_id the primary key.
        handles: its subscriptions, each with its handler.
    """

    agency_id: str
    title: str
    table: str
    schema: str  # CREATE TABLE IF NOT EXISTS …, person_id the primary key
    handles: tuple[Handles, ...]

    def open_database(self, path: Path) -> SqliteInbox:
        """Open (or create) the back office's database at `path`, with its table."""
        inbox = SqliteInbox(path)
        inbox.db.execute(self.schema)
        inbox.db.execute(sources_schema(self.table))
        return inbox

    def consumer(
        self,
        connection: KafkaConnection,
        keys: KeyStore,
        inbox: SqliteInbox,
        *,
        retry: RetryPolicy | None = None,
        purge_every_s: float | None = PURGE_EVERY_S,
        clock: Clock = utc_now,
    ) -> Consumer[sqlite3.Connection]:
        """A Consumer for this agency with every handler and its erase handler subscribed,
        writing into `inbox` (see Consumer for the parameters; `retry` defaults to
        RetryPolicy())."""
        consumer = Consumer(
            self.agency_id,
            connection,
            keys,
            inbox,
            retry=retry or RetryPolicy(),
            purge_every_s=purge_every_s,
            clock=clock,
        )
        erase = erasing_rows(self.table)
        for h in self.handles:
            handler = recording_sources(self.table, h.handler)
            consumer.subscribe(h.event_type, h.purpose, handler, erase=erase)
        return consumer

    def columns(self, db: sqlite3.Connection) -> list[str]:
        """The column names of the back office's table in `db`, in table order."""
        return [row[1] for row in db.execute(f"PRAGMA table_info({self.table})")]
