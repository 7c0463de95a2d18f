"""What a reference back office is: an agency, its table, and a handler per subscription."""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bus.kafka.connection import KafkaConnection
from bus.keys import KeyStore
from consumers.consumer import Consumer, Handler
from consumers.inbox import SqliteInbox
from consumers.retry import RetryPolicy


@dataclass(frozen=True)
class Handles:
    event_type: str
    purpose: str
    handler: Handler


@dataclass(frozen=True)
class BackOffice:
    agency_id: str
    title: str
    table: str
    schema: str  # CREATE TABLE IF NOT EXISTS …, person_id the primary key
    handles: tuple[Handles, ...]

    def open_database(self, path: Path) -> SqliteInbox:
        inbox = SqliteInbox(path)
        inbox.db.execute(self.schema)
        return inbox

    def consumer(
        self,
        connection: KafkaConnection,
        keys: KeyStore,
        inbox: SqliteInbox,
        *,
        retry: RetryPolicy | None = None,
    ) -> Consumer:
        consumer = Consumer(self.agency_id, connection, keys, inbox, retry=retry or RetryPolicy())
        for h in self.handles:
            consumer.subscribe(h.event_type, h.purpose, h.handler)
        return consumer

    def columns(self, db: sqlite3.Connection) -> list[str]:
        return [row[1] for row in db.execute(f"PRAGMA table_info({self.table})")]
