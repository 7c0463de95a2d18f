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

RawSql = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


@contextmanager
def sqlite_store_url(directory: Path) -> Iterator[tuple[str, RawSql]]:
    path = directory / "audit.db"

    def raw(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as db:
            return db.execute(sql, params).fetchall()

    yield f"sqlite:///{path}", raw


@contextmanager
def postgres_store_url(server_url: str) -> Iterator[tuple[str, RawSql]]:
    schema = unique_name("audit").replace("-", "_").lower()
    with psycopg.connect(server_url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in server_url else "?"
    url = f"{server_url}{separator}options={quote(f'-csearch_path={schema}')}"

    def raw(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(url, autocommit=True) as db, db.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    try:
        yield url, raw
    finally:
        with psycopg.connect(server_url, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")
