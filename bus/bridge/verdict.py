"""What an HTTP answer means for a delivery: delivered, worth retrying, or refused for good."""

from enum import Enum

# Timeout and rate limit: the receiver may well take the same request later.
_RETRIED_4XX = frozenset({408, 429})


class Verdict(Enum):
    """The bridge's reading of one attempt's outcome."""

    DELIVERED = "delivered"  # 2xx: the receiver has it; the offset may be committed
    RETRY = "retry"  # no answer, 408, 429 or 5xx: the same request may succeed later
    REFUSED = "refused"  # any other status: deterministic, dead-lettered at once


def verdict(status: int | None) -> Verdict:
    """The verdict on an answer with `status`; None: no answer (connection error or timeout).
    Redirects are not followed (they could send personal data elsewhere), so 3xx is refused."""
    if status is None or status in _RETRIED_4XX or 500 <= status <= 599:
        return Verdict.RETRY
    if 200 <= status <= 299:
        return Verdict.DELIVERED
    return Verdict.REFUSED
