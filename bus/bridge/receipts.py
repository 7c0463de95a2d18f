"""The reference receiver's store: one row per idempotency key, so a delivery POSTed twice (a retry
after a lost answer, a redelivery after the bridge restarted) is kept once and counted."""

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from bus.envelope.attributes import format_time
from consumers.delivery_check import CheckedDelivery

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    idempotency_key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    purpose TEXT NOT NULL,
    erase_by TEXT NOT NULL,
    fields TEXT NOT NULL,     -- the disclosed fields, JSON
    token BLOB NOT NULL,      -- the SD-JWT as received, to verify again at any time
    received_at TEXT NOT NULL,
    posts INTEGER NOT NULL DEFAULT 1  -- how often it was POSTed: more than 1 is a duplicate
)
"""


class ReceiptStore:
    """The deliveries received, in SQLite at `path` (created if missing).

    Parameters:
        path: the database file.
    """

    def __init__(self, path: Path) -> None:
        # One connection, shared by the server's threads behind a lock; each write commits.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")  # a 2xx promises the row survives a crash
        self._db.execute(_SCHEMA)

    def store(self, key: str, purpose: str, checked: CheckedDelivery) -> bool:
        """Keep the delivery under `key` once, committed before this returns; False if it was kept
        already (then only its POST count grows)."""
        a = checked.verified.attributes
        row = (
            key,
            a.source,
            a.id,
            a.type,
            purpose,
            format_time(checked.erase_by),
            json.dumps(dict(checked.verified.fields), default=str),
            checked.token,
            format_time(datetime.now(UTC)),
        )
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (idempotency_key) DO UPDATE SET posts = posts + 1 "
                "RETURNING posts",
                row,
            )
            (posts,) = cursor.fetchone()
        return bool(posts == 1)

    def close(self) -> None:
        """Close the database."""
        self._db.close()
