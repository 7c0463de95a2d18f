"""Back-office databases for the inbox's tests: a fresh SQLite file, or a fresh schema in the
project's PostgreSQL (made as the audit store's tests make theirs), so that one test runs on both.
"""

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString

import psycopg

from consumers import Inbox, PostgresInbox, SqliteInbox
from tests.support.audit_stores import RawSql, postgres_store_url, sqlite_raw
from tests.support.kafka import unique_name

# What a back office's handler writes through: either inbox's connection.
Connection = sqlite3.Connection | psycopg.Connection[tuple[Any, ...]]
# A table that does not exist yet, on either database.
NO_TABLE = (sqlite3.OperationalError, psycopg.errors.UndefinedTable)
UNIQUE_VIOLATION = (sqlite3.IntegrityError, psycopg.errors.UniqueViolation)


def execute(db: Connection, sql: LiteralString, params: tuple[Any, ...]) -> None:
    """A handler's write through either connection, `?` placeholders on both."""
    if isinstance(db, sqlite3.Connection):
        db.execute(sql, params)
    else:
        db.execute(sql.replace("?", "%s"), params)


@dataclass(frozen=True)
class InboxDatabase:
    """`kind`: "sqlite" or "postgres"; `location`: the database file, or the DSN (its search path
    the test's own schema); `raw`: SQL straight at it, `?` placeholders on both, on a connection
    of its own; `application`: the name the back office's PostgreSQL sessions carry."""

    kind: str
    location: str
    raw: RawSql
    application: str = ""

    def open(self) -> Inbox[Any]:
        """An inbox on this database, with a connection of its own."""
        if self.kind == "postgres":
            return PostgresInbox(self.location)
        return SqliteInbox(Path(self.location))

    def process_config(self) -> dict[str, str]:
        """The keys tests/support/back_office_process.py opens this database with."""
        key = "dsn" if self.kind == "postgres" else "database"
        return {"inbox": self.kind, key: self.location}

    def wait_for_sessions_to_end(self, timeout_s: float = 30) -> None:
        """Wait until the sessions of back offices killed with kill -9 are gone: PostgreSQL ends
        a session (rolls its transaction back, or finishes a COMMIT it was sent) once it sees the
        client gone. SQLite has no sessions; what a killed process committed is final."""
        deadline = time.monotonic() + timeout_s
        sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = ?"
        while self.kind == "postgres" and self.raw(sessions, (self.application,))[0][0] > 0:
            assert time.monotonic() < deadline, "a killed back office's session is still open"
            time.sleep(0.05)


def sqlite_inbox_database(directory: Path) -> InboxDatabase:
    """A back office's SQLite file in `directory` (created by the first inbox opened on it)."""
    path = directory / "back-office.db"
    return InboxDatabase("sqlite", str(path), sqlite_raw(path))


@contextmanager
def postgres_inbox_database(server_url: str) -> Iterator[InboxDatabase]:
    """A fresh schema in the project's PostgreSQL, dropped afterwards."""
    with postgres_store_url(server_url, "inbox") as (url, raw):
        application = unique_name("back-office")
        yield InboxDatabase("postgres", f"{url}&application_name={application}", raw, application)
