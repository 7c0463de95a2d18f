"""The age of the state in force: time since the last successful refresh of policy and
subscriptions. Past the limit the enforcer may not rely on it (it pauses consumption)."""

import math
import time
from collections.abc import Callable


class StalenessClock:
    """Tells whether the state in force is still fresh enough to decide under.

    Parameters:
        limit_s: the age, in seconds, beyond which the state is stale.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(self, limit_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit_s = limit_s
        self._clock = clock
        self._refreshed_at: float | None = None

    def refreshed(self) -> None:
        """A refresh succeeded just now."""
        self._refreshed_at = self._clock()

    def age_s(self) -> float:
        """Seconds since the last successful refresh; infinite before the first."""
        if self._refreshed_at is None:
            return math.inf
        return self._clock() - self._refreshed_at

    def fresh(self) -> bool:
        """Whether the age is within the limit (never before the first refresh)."""
        return self.age_s() <= self.limit_s
