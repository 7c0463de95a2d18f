"""Counts of decisions by time bucket × consumer × outcome × reason."""

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from bus.audit.query import Bucket
from bus.audit.store.audit_store import AuditStore
from bus.audit.store.decision_filter import DecisionFilter


@dataclass(frozen=True, slots=True)
class Count:
    """Decisions in one time bucket for one consumer, outcome and reason."""

    bucket: str
    consumer: str | None
    outcome: str
    reason: str | None
    count: int

    def to_json(self) -> dict[str, Any]:
        """The count as a JSON object of its fields."""
        return asdict(self)


def statistics(store: AuditStore, where: DecisionFilter, bucket: Bucket) -> list[Count]:
    """A decision with several reasons counts once under each of them; one without any (a
    permit) counts under reason None."""
    totals: Counter[tuple[str, str | None, str, str | None]] = Counter()
    for row in store.stats(where, bucket.chars):
        reasons: list[str | None] = [*row.reasons.split()] or [None]
        for reason in reasons:
            totals[(row.bucket, row.consumer, row.outcome, reason)] += row.count
    return [
        Count(b, c, o, r, n)
        for (b, c, o, r), n in sorted(totals.items(), key=lambda kv: tuple(str(k) for k in kv[0]))
    ]
