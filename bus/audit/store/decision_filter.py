"""Which stored decisions a query asks for, and the SQL conditions that select them."""

from dataclasses import dataclass
from typing import Any

from bus.record.audit_record import RecordedOutcome


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """Conditions, all of which must hold."""

    consumer: str | None = None
    producer: str | None = None
    event_type: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    reason: str | None = None
    since_us: int | None = None
    until_us: int | None = None  # exclusive
    subject_pseudonym: str | None = None
    event_id: str | None = None  # the verified id, or the id a quarantined record claimed
    dpo_of: str | None = None  # what this agency's data-protection officer may see (audit/scope.py)


_PERMIT = RecordedOutcome.PERMIT.value


def conditions_of(where: DecisionFilter) -> tuple[list[str], list[Any]]:
    """The SQL conditions (with ? placeholders) and their parameters that `where` asks for."""
    conditions: list[str] = []
    params: list[Any] = []
    columns = ("consumer", "producer", "event_type", "purpose", "outcome", "subject_pseudonym")
    for column in columns[:-1] if where.dpo_of is not None else columns:  # person: see dpo_of
        value = getattr(where, column)
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if where.reason is not None:
        conditions.append("reasons LIKE ?")
        params.append(f"% {where.reason} %")
    if where.since_us is not None:
        conditions.append("decided_at_us >= ?")
        params.append(where.since_us)
    if where.until_us is not None:
        conditions.append("decided_at_us < ?")
        params.append(where.until_us)
    if where.event_id is not None:
        # The second arm restates the partial index's condition, so the planner may use it.
        conditions.append(
            "(event_id = ? OR (claimed_event_id = ? AND claimed_event_id IS NOT NULL))"
        )
        params += [where.event_id, where.event_id]
    if where.dpo_of is not None:
        # Its receipts and refused subscriptions; its own events' deliveries and quarantines.
        # Never a DENY: another party's, or one to it, would tell something about a person.
        # A person asked for is named in each arm, so each is one lookup in a scope-first index
        # (decisions_dpo_*): the time taken counts what the DPO may see, never how many hidden
        # decisions the person has (by the person's index alone it did, as
        # benchmarks/audit_dpo_timing.py showed).
        person = [] if where.subject_pseudonym is None else [where.subject_pseudonym]
        named = " AND subject_pseudonym = ?" if person else ""
        conditions.append(
            f"((consumer = ?{named} AND outcome IN (?, ?))"
            f" OR (producer = ?{named} AND outcome IN (?, ?)))"
        )
        params += [where.dpo_of, *person, _PERMIT, RecordedOutcome.SUBSCRIPTION_REFUSED.value]
        params += [where.dpo_of, *person, _PERMIT, RecordedOutcome.QUARANTINED.value]
    return conditions, params


def where_clause(conditions: list[str]) -> str:
    """A WHERE clause joining `conditions`, or nothing when there are none."""
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""
