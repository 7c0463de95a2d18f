"""The SQLite audit store checkpoints its write-ahead log on its own thread (SQLite's automatic
checkpoint is off): the log must still start over between batches instead of growing, and
closing the store must leave everything in the database file."""

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bus.audit.store import open_store
from tests.support.audit_records import source_records

BATCH, BATCHES = 2_000, 15
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_the_log_stays_about_one_batch_long_and_close_leaves_no_log(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    log = tmp_path / "audit.db-wal"
    store = open_store(f"sqlite:///{database}")
    store.append(source_records(BATCH), NOW)
    one_batch = log.stat().st_size
    for first in range(BATCH, BATCH * BATCHES, BATCH):
        store.append(source_records(BATCH, first=first), NOW)
    # Never reset, the log would hold all 15 batches; reset before each write, about one.
    assert log.stat().st_size < 3 * one_batch, (log.stat().st_size, one_batch)
    store.close()

    assert not log.exists()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM decisions").fetchone() == (BATCH * BATCHES,)
