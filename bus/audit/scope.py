"""What an agency's data-protection officer (DPO) may learn from the audit trail, and no more.

Written as what may be learned, each rule with its reason:
- What its agency received (PERMIT to it), in full: the agency holds that data already.
- Its agency's refused subscriptions: they are about no one.
- What its agency produced: to whom its events were delivered (PERMIT; as the disclosing body it
  owes the person that answer) and which of its events the bus quarantined.
Nothing else. In particular no DENY, one by one, to anyone: a denial hands no data to anyone, yet
tells something about the person (OUT_OF_JURISDICTION: the person lives elsewhere now;
DISCLOSURE_BLOCKED: the person is protected), and its producer, event id, time or decision id
would tie it to that person. Denials to its own agency are given as counts only
(`denied_counts`): per calendar month and reason, for months closed at least `SETTLE` ago (a
count that still moves can be watched: a count that grows at the moment a PERMIT arrives ties
the two), a count under `MIN_COUNT` given as "fewer than", and no filter applied (a filter by
producer, event or time would single out one denial).
The denial counts are a fixed grid, the last `DENIAL_MONTHS` closed months × every reason a
denial can have, each cell a count or "fewer than": a row only where there was a denial would
tell one (1 to 9) from none.
The audit pseudonym is never shown to a DPO: it is the same for a person in every decision, so two
agencies' DPOs could join what each saw. Nor is the store's decision number or the audit topic
position (`source`): both count every party's records, so they would show the bus's activity,
and gaps between the decisions of one event would count the refusals of it to others. A DPO
gets ids of its own instead (bus/audit/dpo_ids.py), and its cursors are such ids too.
A re-decision (replay) that does not match says so, but not what the policy says now, which could
name a reason the record did not.
A DPO's subject report lists its agency's receipts only. Of the integrity check a DPO learns
whether the trail is intact and what kind of fault was found, not the record count, head or the
faulty record (counts polled over time show the whole bus's activity, minute by minute).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bus.audit.columns import epoch_micros
from bus.audit.replay import Replay, ReplayStatus
from bus.audit.store.audit_store import AuditStore
from bus.audit.store.decision_filter import DecisionFilter
from bus.policy.decision import Reason
from bus.record.audit_record import RecordedOutcome

SETTLE = timedelta(days=7)
MIN_COUNT = 10
DENIAL_MONTHS = 12
# Every reason a denial can give (the others name why an event was permitted).
DENIAL_REASONS = tuple(
    r.value for r in Reason if r not in (Reason.GRANTED, Reason.AUTHORITATIVE_SOURCE)
)
_HIDDEN_FROM_DPO = ("subject_pseudonym", "source")


@dataclass(frozen=True, slots=True)
class DeniedCount:
    """One cell of the denial counts: DENYs to the agency in `month` giving `reason`."""

    month: str  # YYYY-MM, UTC
    reason: str
    count: int | None  # None: fewer than MIN_COUNT

    def to_json(self) -> dict[str, Any]:
        """The cell as JSON; a count under MIN_COUNT as `count: null, fewer_than: MIN_COUNT`."""
        if self.count is None:
            return {
                "month": self.month,
                "reason": self.reason,
                "count": None,
                "fewer_than": MIN_COUNT,
            }
        return {"month": self.month, "reason": self.reason, "count": self.count}


def dpo_view(view: dict[str, Any], shown_id: str) -> dict[str, Any]:
    """A decision as a DPO sees it (one it may see at all: see the store's `dpo_of` filter),
    under the id its agency's DPO knows it by."""
    return {k: v for k, v in view.items() if k not in _HIDDEN_FROM_DPO} | {"id": shown_id}


def dpo_replay(checked: Replay) -> dict[str, Any]:
    """A replay's result as a DPO sees it: a mismatch says so, not what the policy says now."""
    if checked.status is not ReplayStatus.MISMATCH:
        return checked.to_json()
    detail = "re-deciding under the recorded policy snapshot gives another outcome; ask an auditor"
    return {"status": checked.status.value, "detail": detail, "replayed": None}


def closed_before(now: datetime) -> datetime:
    """Start of the first month not yet reported: months that ended at least SETTLE ago are."""
    settled = (now - SETTLE).astimezone(UTC)
    return datetime(settled.year, settled.month, 1, tzinfo=UTC)


def denied_counts(store: AuditStore, agency: str, now: datetime) -> list[DeniedCount]:
    """DENYs to `agency` per closed month and reason, for every cell of the grid (the last
    DENIAL_MONTHS closed months × DENIAL_REASONS); a decision with two reasons counts under each.
    No totals: a total less the other reasons would give a withheld count."""
    months = _closed_months(now)
    where = DecisionFilter(
        consumer=agency,
        outcome=RecordedOutcome.DENY.value,
        since_us=epoch_micros(months[0]),
        until_us=epoch_micros(closed_before(now)),
    )
    totals: dict[tuple[str, str], int] = {}
    for row in store.stats(where, 7):
        for reason in row.reasons.split():
            totals[(row.bucket, reason)] = totals.get((row.bucket, reason), 0) + row.count
    grid = [(f"{m.year:04d}-{m.month:02d}", r) for m in months for r in DENIAL_REASONS]
    return [
        DeniedCount(
            month, reason, n if (n := totals.get((month, reason), 0)) >= MIN_COUNT else None
        )
        for month, reason in grid
    ]


def _closed_months(now: datetime) -> list[datetime]:
    """The first days of the last DENIAL_MONTHS closed months, oldest first."""
    end = closed_before(now)
    index = end.year * 12 + end.month - 1
    firsts = [divmod(index - back, 12) for back in range(DENIAL_MONTHS, 0, -1)]
    return [datetime(year, month + 1, 1, tzinfo=UTC) for year, month in firsts]


def dpo_integrity(status: dict[str, Any]) -> dict[str, Any]:
    """The integrity status as a DPO sees it: intact or not, the kind of finding, and when it
    was verified; no counts, head or record."""
    finding = status["finding"]
    return {
        "intact": status["intact"],
        "finding": {"kind": finding["kind"]} if finding else None,
        "verified_at": status["verified_at"],
    }
