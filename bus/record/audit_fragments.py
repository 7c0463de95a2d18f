"""An event's audit records, one per decision, from pre-encoded fragments: the members every record
of the event shares are encoded once per event, a decision's own once per decision (the engine's
decisions repeat: the enforcer's decision cache hands out the same ones), and each record is
their concatenation. Byte for byte what `AuditRecord.to_json_bytes` writes
(tests/unit/test_audit_fragments.py); the enforcer writes four or more records per event, and
this takes a third of the time of building and encoding each one.
"""

from typing import Any

import msgspec

from bus.policy.decision import Decision
from bus.record.audit_record import (
    FORMAT_VERSION,
    AuditRecord,
    InputPosition,
    RecordedFacts,
    RecordedOutcome,
)

# The record's members in the order msgspec writes them, split into the three fragments.
EVENT_MEMBERS = ("event_id", "event_type", "producer")
DECISION_MEMBERS = (
    "consumer",
    "purpose",
    "legal_basis",
    "outcome",
    "reasons",
    "released_fields",
    "grant_id",
    "snapshot_hash",
)
TAIL_MEMBERS = ("decided_at", "subject_pseudonym", "input", "claimed_event_id", "facts")
if AuditRecord.__struct_fields__ != EVENT_MEMBERS + DECISION_MEMBERS + TAIL_MEMBERS:
    # Checked at import: a renamed or moved member must not write records the reader refuses.
    raise RuntimeError("AuditRecord's members changed: update bus/record/audit_fragments.py")
MAX_CACHED_DECISIONS = 10_000

_encode = msgspec.json.Encoder().encode
_decision_parts: dict[Decision, bytes] = {}


def _members(names: tuple[str, ...], values: tuple[Any, ...]) -> bytes:
    """`"name":value,` for each member, as msgspec writes it inside an object."""
    return b"".join(
        b'"%s":%s,' % (n.encode(), _encode(v)) for n, v in zip(names, values, strict=True)
    )


class EventAuditRecords:
    """The audit records of one event's decisions."""

    __slots__ = ("_head", "_tail")

    def __init__(
        self,
        *,
        event_id: str,
        event_type: str,
        producer: str,
        decided_at: str,
        subject_pseudonym: str,
        input: InputPosition,
        facts: RecordedFacts,
    ) -> None:
        version = b'{"format_version":%d,' % FORMAT_VERSION
        self._head = version + _members(EVENT_MEMBERS, (event_id, event_type, producer))
        tail = _members(TAIL_MEMBERS, (decided_at, subject_pseudonym, input, None, facts))
        self._tail = tail[:-1] + b"}"

    def record(self, decision: Decision) -> bytes:
        """The audit record of `decision` on this event."""
        part = _decision_parts.get(decision)
        if part is None:
            if len(_decision_parts) >= MAX_CACHED_DECISIONS:  # many policies, grants: start over
                _decision_parts.clear()
            part = _decision_parts[decision] = _members(
                DECISION_MEMBERS,
                (
                    decision.consumer,
                    decision.purpose,
                    decision.legal_basis,
                    RecordedOutcome.of(decision.outcome),
                    tuple(r.value for r in decision.reasons),
                    decision.released_fields,
                    decision.grant_id,
                    decision.snapshot_hash,
                ),
            )
        return self._head + part + self._tail
