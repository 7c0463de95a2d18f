"""Re-decide a recorded decision under the policy snapshot it names: does it come out the same?

The audit record keeps what the decision was made on (field names, locations, disclosure block,
never values) and the snapshot hash; the indexer keeps every policy snapshot by hash. Equal
outcome, reasons, grant and released fields mean the bus did what its policy said.
"""

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bus.audit.store.audit_store import AuditStore
from bus.audit.store.rows import StoredDecision
from bus.control.policy_store import from_document
from bus.envelope.attributes import parse_time
from bus.policy.decision import Decision, Reason
from bus.policy.engine import authorize_subscription, decide
from bus.policy.facts import EventFacts, Subscription
from bus.policy.snapshot import Snapshot, compile_snapshot
from bus.record.audit_record import (
    POLICY_DECISIONS,
    AuditRecord,
    AuditRecordError,
    RecordedOutcome,
)


class ReplayStatus(StrEnum):
    """Whether a re-decision came out as recorded."""

    MATCH = "MATCH"
    MISMATCH = "MISMATCH"
    NOT_REPLAYABLE = "NOT_REPLAYABLE"  # the record or the snapshot does not allow it; says why


@dataclass(frozen=True)
class Replay:
    """The answer to one replay: its status, a sentence saying why, and the decision re-made."""

    status: ReplayStatus
    detail: str
    replayed: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        """As the API and the CLI show it."""
        return {
            "status": self.status.value,
            "detail": self.detail,
            "replayed": self.replayed.to_json() if self.replayed else None,
        }


def replay(store: AuditStore, decision: StoredDecision) -> Replay:
    """Re-decide `decision` under the policy snapshot its record names, kept in `store`."""
    c = decision.columns
    if c.outcome not in POLICY_DECISIONS:
        return _not(f"a {c.outcome} record is no policy decision: nothing to re-decide")
    if c.snapshot_hash is None or c.decided_at is None or c.consumer is None:
        return _not("the record lacks its snapshot hash, time or consumer")
    snapshot = _snapshot(store, c.snapshot_hash)
    if isinstance(snapshot, str):
        return _not(snapshot)
    at = parse_time(c.decided_at).timestamp()
    subscription = Subscription(c.consumer, c.event_type or "", c.purpose or "")
    if c.outcome == RecordedOutcome.SUBSCRIPTION_REFUSED:
        again = authorize_subscription(
            snapshot, c.consumer, subscription.event_type, subscription.purpose, at
        )
    else:
        facts = _facts(decision, c.event_type or "", c.producer or "")
        if isinstance(facts, str):
            return _not(facts)
        # The record says whether a marker was held: INTEREST_HELD among its reasons.
        held = Reason.INTEREST_HELD.value in c.reasons.split()
        again = decide(snapshot, facts, subscription, at, has_interest=held)
    return _compare(decision, again)


def _snapshot(store: AuditStore, snapshot_hash: str) -> Snapshot | str:
    document = store.snapshot_document(snapshot_hash)
    if document is None:
        return (
            f"policy snapshot {snapshot_hash} is not in the store (applied before the indexer "
            "first read the policy topic?)"
        )
    snapshot = compile_snapshot(from_document(json.loads(document)))
    if snapshot.hash != snapshot_hash:
        return f"the stored snapshot hashes to {snapshot.hash}, not {snapshot_hash}"
    return snapshot


def _facts(decision: StoredDecision, event_type: str, producer: str) -> EventFacts | str:
    """The facts the record keeps, or why there are none to re-decide on."""
    try:
        recorded = AuditRecord.from_json_bytes(decision.record).facts
    except AuditRecordError as exc:  # indexed as a decision by an earlier, lenient reader
        return str(exc)
    if recorded is None:
        return "the record predates recorded decision facts (field names, locations)"
    return EventFacts(
        event_type=event_type,
        producer=producer,
        fields=frozenset(recorded.fields),
        locations=dict(recorded.locations),
        disclosure_blocked=recorded.disclosure_blocked,
    )


def _compare(decision: StoredDecision, again: Decision) -> Replay:
    c = decision.columns
    recorded = (
        RecordedOutcome(c.outcome).decided().value,
        tuple(c.reasons.split()),
        c.grant_id,
        tuple(c.released_fields.split()),
    )
    replayed = (
        again.outcome.value,
        tuple(r.value for r in again.reasons),
        again.grant_id,
        again.released_fields,
    )
    if recorded == replayed:
        return Replay(
            ReplayStatus.MATCH, f"re-decided under {c.snapshot_hash}: {again.explanation}", again
        )
    return Replay(
        ReplayStatus.MISMATCH,
        f"recorded {recorded}, re-decided {replayed} under {c.snapshot_hash}",
        again,
    )


def _not(detail: str) -> Replay:
    return Replay(ReplayStatus.NOT_REPLAYABLE, detail)
