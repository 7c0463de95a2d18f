"""The rules' windows over a plain table: held writes, reads through them, expiry by time."""

from bus.watch.window_state import CachedWindows, window_start

HOUR = 3600
T0 = 1_800_000_000 - 1_800_000_000 % HOUR


def test_writes_are_held_until_flushed_and_read_back_meanwhile() -> None:
    table: dict[str, dict[str, object] | None] = {}
    windows = CachedWindows(table, HOUR).at(T0 + 5)
    windows.put("k", {"n": 1})
    windows.put("k", {"n": 2})
    assert table == {}
    assert windows.get("k") == {"n": 2}
    assert windows.flush() == 1  # one write for the key, however often it changed
    assert table == {f"{T0}|k": {"n": 2}}
    assert windows.at(T0 + HOUR).get("k") is None
    assert windows.get_before("k", 1) == {"n": 2}


def test_windows_expire_by_their_start() -> None:
    table: dict[str, dict[str, object] | None] = {f"{T0 + h * HOUR}|k": {"n": h} for h in range(5)}
    assert CachedWindows(table, HOUR).expire(T0 + 3 * HOUR) == 3
    assert sorted(table) == [f"{T0 + 3 * HOUR}|k", f"{T0 + 4 * HOUR}|k"]


def test_keys_may_hold_the_separator() -> None:
    table: dict[str, dict[str, object] | None] = {}
    windows = CachedWindows(table, HOUR).at(T0)
    windows.put("tax|by", {"n": 1})
    windows.flush()
    assert windows.get("tax|by") == {"n": 1}
    assert CachedWindows(table, HOUR).expire(T0) == 0


def test_the_window_start_is_where_faust_would_put_it() -> None:
    assert window_start(T0 + HOUR - 0.001, HOUR) == T0
    assert window_start(T0 + HOUR, HOUR) == T0 + HOUR
