"""WindowState over a dict, with the observation's timestamp choosing the window, as faust's
tumbling tables do: the rules' unit tests run on it."""

from bus.watch.window_state import Value, window_start


class DictWindows:
    """One table: (key, window start) → value."""

    def __init__(self, window_seconds: int) -> None:
        self.size = window_seconds
        self.data: dict[tuple[str, float], Value] = {}
        self.at = 0.0

    def at_time(self, at: float) -> "DictWindows":
        self.at = at
        return self

    def get(self, key: str) -> Value | None:
        return self.data.get((key, window_start(self.at, self.size)))

    def get_before(self, key: str, windows_back: int) -> Value | None:
        return self.data.get((key, window_start(self.at, self.size) - windows_back * self.size))

    def put(self, key: str, value: Value) -> None:
        self.data[(key, window_start(self.at, self.size))] = value
