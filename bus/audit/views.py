"""One stored decision as auditors read it (API and CLI print the same dictionary)."""

from typing import Any

import pydantic_core

from bus.audit.columns import UNREADABLE
from bus.audit.store.audit_store import StoredDecision
from bus.policy.decision import Decision, Outcome, Reason


def decision_view(decision: StoredDecision) -> dict[str, Any]:
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


def recorded_document(decision: StoredDecision) -> dict[str, Any]:
    """The record as the enforcer wrote it (the chain covers exactly these bytes)."""
    document = pydantic_core.from_json(decision.record)
    if not isinstance(document, dict):
        raise ValueError(f"decision {decision.seq}: the stored record is not a JSON object")
    return document


def explanation(decision: StoredDecision) -> str:
    """The sentence the policy engine gives for the recorded outcome and reasons."""
    c = decision.columns
    known = {r.value for r in Reason}
    reasons = c.reasons.split()
    if c.outcome not in ("PERMIT", "DENY", "SUBSCRIPTION_REFUSED") or not set(reasons) <= known:
        return f"{c.outcome}: {', '.join(reasons) or 'no reason recorded'}."
    recorded = Decision(
        outcome=Outcome.PERMIT if c.outcome == "PERMIT" else Outcome.DENY,
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
