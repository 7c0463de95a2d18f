"""The integration tier: every test here is marked `integration` (so none can miss the mark), and
the fixtures the audit trail's tests and the crash tests share."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audit_stores import RawSql, postgres_store_url, sqlite_store_url
from tests.support.child_processes import ChildProcesses
from tests.support.inbox_databases import (
    InboxDatabase,
    postgres_inbox_database,
    sqlite_inbox_database,
)

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Called with the whole session's items, unit tests too: mark only those collected here.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def children() -> Iterator[ChildProcesses]:
    """The test's child processes: whatever still runs when the test ends is stopped."""
    with ChildProcesses() as tracked:
        yield tracked


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, RawSql]]:
    """A fresh audit store on each database: its URL, and raw SQL past the store."""
    if request.param == "sqlite":
        location = sqlite_store_url(tmp_path)
    else:
        location = postgres_store_url(request.getfixturevalue("postgres_url"))
    with location as url_and_raw:
        yield url_and_raw


@pytest.fixture(params=["sqlite", "postgres"])
def inbox_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InboxDatabase]:
    """A fresh back-office database on each of the inbox's databases."""
    if request.param == "sqlite":
        yield sqlite_inbox_database(tmp_path)
    else:
        with postgres_inbox_database(request.getfixturevalue("postgres_url")) as database:
            yield database
