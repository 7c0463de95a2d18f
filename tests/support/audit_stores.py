"""Audit stores for tests: a fresh SQLite file, or a fresh schema in the project's PostgreSQL;
plus raw SQL on the same database, the way someone tampering with it would write."""

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from tests.support.kafka import unique_name

Rows = list[tuple[Any, ...]]


class RawSql:
    """SQL straight at the store's database, past the store: `raw(sql, params)` and
    `raw.many(sql, rows)`; `?` placeholders on both databases."""

    def __init__(
        self,
        one: Callable[[str, tuple[Any, ...]], Rows],
        many: Callable[[str, Rows], None],
    ) -> None:
        self._one, self.many = one, many

    def __call__(self, sql: str, params: tuple[Any, ...] = ()) -> Rows:
        return self._one(sql, params)


def sqlite_raw(path: Path) -> RawSql:
    """Raw SQL on the SQLite database in `path`, a connection per statement."""

    def one(sql: str, params: tuple[Any, ...]) -> Rows:
        with sqlite3.connect(path) as db:
            return db.execute(sql, params).fetchall()

    def many(sql: str, rows: Rows) -> None:
        with sqlite3.connect(path) as db:
            db.executemany(sql, rows)

    return RawSql(one, many)


@contextmanager
def sqlite_store_url(directory: Path) -> Iterator[tuple[str, RawSql]]:
    path = directory / "audit.db"
    yield f"sqlite:///{path}", sqlite_raw(path)


@contextmanager
def postgres_store_url(server_url: str, name: str = "audit") -> Iterator[tuple[str, RawSql]]:
    """A fresh schema named after `name` in the server's database, dropped afterwards: the URL
    that makes it the search path, and raw SQL on it."""
    schema = unique_name(name).replace("-", "_").lower()
    with psycopg.connect(server_url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in server_url else "?"
    url = f"{server_url}{separator}options={quote(f'-csearch_path={schema}')}"

    def one(sql: str, params: tuple[Any, ...]) -> Rows:
        with psycopg.connect(url, autocommit=True) as db, db.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def many(sql: str, rows: Rows) -> None:
        with psycopg.connect(url) as db, db.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    try:
        yield url, RawSql(one, many)
    finally:
        with psycopg.connect(server_url, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")
