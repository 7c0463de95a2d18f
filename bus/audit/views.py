"""One stored decision as auditors read it (API and CLI print the same dictionary)."""

from typing import Any

from bus.audit.columns import UNREADABLE
from bus.audit.store.rows import StoredDecision
from bus.policy.decision import Decision, Reason
from bus.record.audit_record import POLICY_DECISIONS, RecordedOutcome


def decision_view(decision: StoredDecision) -> dict[str, Any]:
    """The decision's columns and where its record was read; an UNREADABLE one shows its bytes."""
    c = decision.columns
    view: dict[str, Any] = {
        "id": decision.seq,
        "decided_at": c.decided_at,
        "outcome": c.outcome,
        "reasons": c.reasons.split(),
        "event_id": c.event_id,
        "claimed_event_id": c.claimed_event_id,
        "event_type": c.event_type,
        "producer": c.producer,
        "consumer": c.consumer,
        "purpose": c.purpose,
        "legal_basis": c.legal_basis,
        "grant_id": c.grant_id,
        "released_fields": c.released_fields.split(),
        "snapshot_hash": c.snapshot_hash,
        "subject_pseudonym": c.subject_pseudonym,
        "source": {
            "topic": decision.source_topic,
            "partition": decision.source_partition,
            "offset": decision.source_offset,
        },
    }
    if c.outcome == UNREADABLE:
        view["record"] = decision.record.decode("utf-8", "replace")
    return view


def explanation(decision: StoredDecision) -> str:
    """The sentence the policy engine gives for the recorded outcome and reasons."""
    c = decision.columns
    known = {r.value for r in Reason}
    reasons = c.reasons.split()
    if c.outcome not in POLICY_DECISIONS or not set(reasons) <= known:
        return f"{c.outcome}: {', '.join(reasons) or 'no reason recorded'}."
    recorded = Decision(
        outcome=RecordedOutcome(c.outcome).decided(),
        reasons=tuple(Reason(r) for r in reasons),
        consumer=c.consumer or "",
        event_type=c.event_type or "",
        purpose=c.purpose or "",
        snapshot_hash=c.snapshot_hash or "",
        grant_id=c.grant_id,
        released_fields=tuple(c.released_fields.split()),
        legal_basis=c.legal_basis,
        producer=c.producer,
    )
    return recorded.explanation
