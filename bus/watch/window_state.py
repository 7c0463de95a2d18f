"""What a rule sees of its table: the values of the record's own window and of earlier ones.

The faust app binds this to a changelog-backed windowed table (app.py); the unit tests to a dict
(tests/unit/watch_windows.py). Values are JSON objects, as the changelog keeps them."""

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


def window_start(at: float, window_seconds: int) -> float:
    """The start of the tumbling window of `window_seconds` that holds the instant `at` (as
    faust's TumblingWindow places it)."""
    return at - at % window_seconds
