"""Fixtures shared by the integration tests of the audit trail."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audit_stores import RawSql, postgres_store_url, sqlite_store_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, RawSql]]:
    """A fresh audit store on each database: its URL, and raw SQL past the store."""
    if request.param == "sqlite":
        location = sqlite_store_url(tmp_path)
    else:
        location = postgres_store_url(request.getfixturevalue("postgres_url"))
    with location as url_and_raw:
        yield url_and_raw
