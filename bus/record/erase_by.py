"""When a consumer's copy of a delivered event is due to be erased (GDPR Art. 5(1)(e)).

The enforcer stamps each delivery with `bus_erase_by`: the decision's time plus the purpose's
`retention_days`. The audit trail derives the same date from the PERMIT record (its `decided_at`
and its policy snapshot), so the citizen's report and the consumer's deadline cannot disagree.
"""

from datetime import datetime, timedelta
from functools import lru_cache

from bus.envelope.attributes import format_time, parse_time

# The delivery header; only the enforcer writes delivery topics, so a consumer may trust it.
ERASE_BY_HEADER = "bus_erase_by"


def erase_by(decided_at: datetime, retention_days: int) -> datetime:
    """The deadline of data released at `decided_at` for a purpose kept `retention_days`."""
    return decided_at + timedelta(days=retention_days)


@lru_cache(maxsize=64)
def erase_by_text(decided_at: datetime, retention_days: int) -> str:
    """`erase_by` as the header and the report write it (RFC 3339, UTC, microseconds). Cached: a
    batch is decided at one moment, so each purpose's deadline is formatted once per batch."""
    return format_time(erase_by(decided_at, retention_days))


def parse_erase_by(text: str) -> datetime:
    """A deadline as written by `erase_by_text`; ValueError if it is not a time with a zone."""
    moment = parse_time(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment
