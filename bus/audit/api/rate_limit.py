"""Requests per caller over a moving window (the `limits` library, kept in memory).

Against a DPO or auditor who scripts the API to trace people at scale: each auditor token, and
each agency's DPO tokens together, get, say, 120 requests a minute; past that the API answers 429
with Retry-After. Requests without a valid token share one window per client address (the
connection's, never a forwarded-for header: see SERVER_SETTINGS in app.py), so a flood of guesses
is slowed too. In memory: the
API is one process, and a restart forgetting the windows costs at most one window's worth.
"""

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bus.errors import ConfigError

DEFAULT_RATE = "120/minute"
_DAY = 86_400


class RateLimit:
    """A moving-window limit of requests per key (the app keys by caller, see above).

    Parameters:
        rate: as `limits` writes it, `N/second`, `N/minute` or `N/hour` with N ≥ 1 and a window
            of at most a day; ConfigError otherwise.
    """

    def __init__(self, rate: str = DEFAULT_RATE) -> None:
        refusal = (
            f"rate limit {rate[:80]!r}: write N/second, N/minute or N/hour with N ≥ 1 (a window "
            f"of at most a day), e.g. {DEFAULT_RATE}"
        )
        try:
            self._item: RateLimitItem = parse(rate)
        except ValueError as exc:
            raise ConfigError(refusal) from exc
        if self._item.amount < 1 or not 1 <= self._item.get_expiry() <= _DAY:
            raise ConfigError(refusal)
        self.rate = rate
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def wait(self, key: str) -> int | None:
        """Counts one request for `key`: None if admitted, else whole seconds until it would be."""
        if self._limiter.hit(self._item, key):
            return None
        reset = self._limiter.get_window_stats(self._item, key).reset_time
        return max(1, math.ceil(reset - time.time()))
