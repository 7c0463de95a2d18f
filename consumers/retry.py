"""Bounded exponential backoff for a failing handler."""

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How a consumer retries a failing handler before it dead-letters the delivery.

    Parameters:
        attempts: attempts in all, the first one included (at least 1).
        first_delay_s: seconds to wait after the first failure; each later wait doubles.
        max_delay_s: no wait is longer than this.
    """

    attempts: int = 5  # in all, the first one included
    first_delay_s: float = 0.2
    max_delay_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** (attempt - 1))
