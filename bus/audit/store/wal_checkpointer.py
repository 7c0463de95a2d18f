"""Copies SQLite's write-ahead log into the database file on a thread of its own.

SQLite's automatic checkpoint runs inside COMMIT, on the writer's thread: at the indexer's batch
size nearly every commit paid for copying and syncing the previous batch's pages, a large share
of the indexer's time. Here the copy runs on its own connection
while the writer prepares its next batch (the checkpoint holds no GIL), and the writer waits for
it only before its next transaction, so the log is reset and stays about one batch long. Small
writes (the API's access log, a row per request) trigger no copy until enough rows have gathered:
a request never waits for the previous one's copy and sync.
"""

import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

# Rows written since the last copy that make the next one worth it (SQLite's own threshold is
# 1,000 pages; an indexer batch is 5,000 rows).
COPY_AFTER_ROWS = 1_000


class WalCheckpointer:
    """The log copier of one SQLite database: the writer calls `before_write` before each
    transaction and `after_commit` after it.

    Parameters:
        path: the database file; the copier opens a connection of its own.
    """

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")
        self._running: Future[None] | None = None
        self._rows_at_last_copy = 0

    def after_commit(self, rows_written: int) -> None:
        """Start copying the log once `rows_written` (the writer connection's running total) has
        grown enough since the last copy, unless a copy is under way."""
        if rows_written - self._rows_at_last_copy < COPY_AFTER_ROWS:
            return
        if self._running is None or self._running.done():
            self._rows_at_last_copy = rows_written
            self._running = self._worker.submit(self._checkpoint)

    def before_write(self) -> None:
        """Wait for the copy in progress: a write that begins after a complete checkpoint
        starts the log over instead of growing it."""
        if self._running is not None:
            self._running.result()
            self._running = None

    def close(self) -> None:
        """Wait for the copy in progress, then stop the thread and close the connection."""
        try:
            self.before_write()
        finally:
            self._worker.shutdown()
            self._db.close()

    def _checkpoint(self) -> None:
        # PASSIVE: never waits for, nor blocks, readers or the writer.
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
