"""Open a store from a URL: `sqlite:///path/to/audit.db` (or a plain path), `postgresql://…`."""

from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from bus.audit.store.audit_store import AuditStore
from bus.audit.store.backend import PostgresBackend, SqliteBackend
from bus.errors import ConfigError
from bus.util.paths import default_state_dir

DEFAULT_STORE_NAME = "audit.db"


def default_store_url() -> str:
    """The SQLite store in the state directory: `sqlite:///<state>/audit/audit.db`."""
    return f"sqlite:///{default_state_dir() / 'audit' / DEFAULT_STORE_NAME}"


def open_store(url: str) -> AuditStore:
    """Open (and on first use create) the store at `url`: `sqlite:///relative.db`,
    `sqlite:////absolute.db`, a plain path, or `postgresql://…`. ConfigError for another kind or
    a database that cannot be reached; messages never show the password."""
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres"):
        where = redacted(url)
        try:
            return AuditStore(PostgresBackend(url), where)
        except psycopg.OperationalError as exc:
            raise ConfigError(f"audit store {where}: cannot connect ({exc})".strip()) from exc
    if scheme == "sqlite":
        if not url.startswith("sqlite:///"):
            raise ConfigError(
                f"audit store {url}: write sqlite:///relative.db or sqlite:////abs.db"
            )
        # As SQLAlchemy reads them: three slashes then a relative path, four for an absolute one.
        path = Path(url.removeprefix("sqlite:///"))
        return AuditStore(SqliteBackend(path), str(path))
    if scheme == "":
        return AuditStore(SqliteBackend(Path(url)), url)
    raise ConfigError(
        f"audit store {redacted(url)}: unknown kind {scheme!r}; use sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    )


def store_directory(url: str) -> Path | None:
    """The folder a SQLite store's files live in (the audit key must not be pinned there); None
    for PostgreSQL, whose files are the database server's."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return Path(url.removeprefix("sqlite:///")).parent
    return Path(url).parent if scheme == "" else None


def redacted(url: str) -> str:
    """`url` with its password, if any, shown as `***`."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
