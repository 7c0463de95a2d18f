"""The few things the store needs from a database, for SQLite and for PostgreSQL.

SQL is written once, with `?` placeholders; the PostgreSQL backend turns them into `%s`. No SQL
text here contains a literal `%` or `?` otherwise (LIKE patterns are passed as parameters).
"""

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg

from bus.audit.store.wal_checkpointer import WalCheckpointer
from bus.util.private_files import create_private_file

Row = tuple[Any, ...]


class Backend(Protocol):
    """A database connection as the audit store uses it, and the column types of its dialect."""

    name: str
    blob: str  # the binary column type
    bigint: str
    serial_key: str  # an auto-numbered primary key column definition

    def transaction(self) -> Any:
        """A context manager: commit on success, roll back on error."""
        ...

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a query (`?` placeholders)."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (`?` placeholders)."""
        ...

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert `rows` into `columns` of `table`, inside the caller's transaction."""
        ...

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 5_000) -> Iterator[Row]:
        """The rows of a query, fetched `batch` at a time on a connection of their own, so a
        long read holds neither the writer nor the store's lock."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class SqliteBackend:
    """The embedded store: one SQLite file (WAL mode), created readable by its owner only.

    Parameters:
        path: the database file.
    """

    name = "sqlite"
    blob = "BLOB"
    bigint = "INTEGER"
    serial_key = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: Path) -> None:
        create_private_file(path)  # 0600 (its -wal and -shm follow): decisions about people
        self._path = path
        # Transactions are explicit (BEGIN IMMEDIATE below); the API calls from worker threads,
        # serialised by the store's lock.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a crash of the process; a power cut may lose the last commits,
        # and with them the stored source positions, so they are read again: still exactly once.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        # The indexes of a million decisions: keep their hot pages (128 MiB at most).
        self._db.execute("PRAGMA cache_size=-131072")
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's thread does it
        self._checkpointer = WalCheckpointer(path)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT, after the log copy in progress; a commit may start the next."""
        self._checkpointer.before_write()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._checkpointer.after_commit(self._db.total_changes)

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """As Backend.fetch."""
        return self._db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """As Backend.execute."""
        self._db.execute(sql, params)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """As Backend.insert_many (executemany)."""
        marks = ", ".join("?" * len(columns))
        self._db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 5_000) -> Iterator[Row]:
        """As Backend.stream."""
        # Its own read-only connection: a long verification neither holds up nor sees half of
        # the API's and the indexer's transactions.
        with closing(sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)) as db:
            cursor = db.execute(sql, params)
            while rows := cursor.fetchmany(batch):
                yield from rows

    def close(self) -> None:
        """Finish the log copy in progress, then close."""
        try:
            self._checkpointer.close()
        finally:
            self._db.close()  # the last connection: SQLite checkpoints and removes the log


class PostgresBackend:
    """The store in a PostgreSQL database.

    Parameters:
        url: a libpq connection URL (`postgresql://user:password@host:port/database`).
    """

    name = "postgresql"
    blob = "BYTEA"
    bigint = "BIGINT"
    serial_key = "BIGSERIAL PRIMARY KEY"

    def __init__(self, url: str) -> None:
        self._url = url
        self._db = psycopg.connect(url, autocommit=True)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """As Backend.transaction."""
        with self._db.transaction():
            yield

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """As Backend.fetch."""
        with self._db.cursor() as cursor:
            cursor.execute(_pg(sql), params)
            return cursor.fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """As Backend.execute."""
        self._db.execute(_pg(sql), params)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """As Backend.insert_many (COPY)."""
        # COPY: faster than executemany for the indexer's batches.
        with (
            self._db.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 5_000) -> Iterator[Row]:
        """As Backend.stream."""
        # Its own connection (one snapshot, not interleaved with the API's statements) and a
        # server-side cursor, so that verifying a million records does not load them all.
        with (
            psycopg.connect(self._url) as db,
            db.transaction(),
            db.cursor(name="stream") as cursor,
        ):
            cursor.itersize = batch
            cursor.execute(_pg(sql), params)
            yield from cursor

    def close(self) -> None:
        """As Backend.close."""
        self._db.close()


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")
