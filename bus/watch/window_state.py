"""The rules' windows: tumbling windows of event time, kept in a plain changelog-backed table
under `<window start>|<key>`.

Why not faust's windowed tables: each update of one is one changelog message (three per audit
record here, which held the watch to ~850 records/s on this machine), and their expiry runs on
the wall clock and is not re-armed for windows restored from the changelog. Here a batch of
records updates a write-back cache, one changelog message per key touched goes out at the end
of the batch (before faust acknowledges the batch's records, so a commit still covers them), and
windows expire by the newest record's time, the same before and after a restart."""

from collections.abc import MutableMapping
from typing import Any, Protocol

Value = dict[str, Any]


class WindowState(Protocol):
    """One table, relative to the window of the audit record being observed."""

    def get(self, key: str) -> Value | None:
        """`key`'s value in the record's window; None when it has none."""
        ...

    def get_before(self, key: str, windows_back: int) -> Value | None:
        """`key`'s value `windows_back` windows before the record's window; None when none."""
        ...

    def put(self, key: str, value: Value) -> None:
        """Set `key`'s value in the record's window."""
        ...


def window_start(at: float, window_seconds: int) -> int:
    """The start (epoch seconds) of the tumbling window of `window_seconds` holding `at`."""
    return int(at // window_seconds) * window_seconds


class CachedWindows:
    """WindowState over `table` (a faust table, or any mapping) with writes held until `flush`.

    Parameters:
        table: `<window start>|<key>` → value.
        window_seconds: the windows' size.
    """

    def __init__(self, table: MutableMapping[str, Value | None], window_seconds: int) -> None:
        self._table, self._size = table, window_seconds
        self._dirty: dict[str, Value] = {}
        self._start = 0

    def at(self, at: float) -> "CachedWindows":
        """Relative to the window holding the instant `at` (the record's time)."""
        self._start = window_start(at, self._size)
        return self

    def get(self, key: str) -> Value | None:
        """See WindowState."""
        return self._read(f"{self._start}|{key}")

    def get_before(self, key: str, windows_back: int) -> Value | None:
        """See WindowState."""
        return self._read(f"{self._start - windows_back * self._size}|{key}")

    def put(self, key: str, value: Value) -> None:
        """See WindowState."""
        self._dirty[f"{self._start}|{key}"] = value

    def flush(self) -> int:
        """Write the held values to the table (one changelog message each); how many."""
        for stored_key, value in self._dirty.items():
            self._table[stored_key] = value
        written = len(self._dirty)
        self._dirty.clear()
        return written

    def expire(self, before: float) -> int:
        """Delete the windows that start before `before` (a tombstone each); how many."""
        old = [k for k in list(self._table) if int(k.split("|", 1)[0]) < before]
        for stored_key in old:
            del self._table[stored_key]
        return len(old)

    def _read(self, stored_key: str) -> Value | None:
        value = self._dirty.get(stored_key)
        return value if value is not None else self._table.get(stored_key)
