"""The age of the state in force: time since the last successful refresh of policy and
subscriptions. Past the limit the enforcer may not rely on it (it pauses consumption)."""

import math
import time
from collections.abc import Callable


class StalenessClock:
    def __init__(self, limit_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit_s = limit_s
        self._clock = clock
        self._refreshed_at: float | None = None

    def refreshed(self) -> None:
        self._refreshed_at = self._clock()

    def age_s(self) -> float:
        """Seconds since the last successful refresh; infinite before the first."""
        if self._refreshed_at is None:
            return math.inf
        return self._clock() - self._refreshed_at

    def fresh(self) -> bool:
        return self.age_s() <= self.limit_s
