"""The records the enforcer writes: deliveries, audit records, quarantine records."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import pydantic_core

from bus.envelope.attributes import format_time

Headers = list[tuple[str, bytes]]
# Headers as Kafka carries them: a header may have no value. Quarantine copies them as they came.
RecordHeaders = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes | None = field(repr=False)
    value: bytes = field(repr=False)
    headers: RecordHeaders = field(default_factory=list, repr=False)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One decision, permit or deny, or one refusal of an input event. Subjects are pseudonyms."""

    event_id: str | None
    event_type: str | None
    producer: str | None
    consumer: str | None
    purpose: str | None
    legal_basis: str | None
    outcome: str  # PERMIT, DENY or QUARANTINED
    reasons: tuple[str, ...]
    released_fields: tuple[str, ...]
    grant_id: str | None
    snapshot_hash: str
    decided_at: datetime
    subject_pseudonym: str | None
    input_topic: str
    input_partition: int
    input_offset: int
    # A quarantined record's ce_id header, unverified: lets an auditor find a forged event by the
    # id it claimed, without mistaking it for a verified event id.
    claimed_event_id: str | None = None
    # What the decision was made on (field names, locations, disclosure block; never values), so
    # an auditor can re-decide it under the recorded policy snapshot.
    facts: Mapping[str, Any] | None = None

    def to_json_bytes(self) -> bytes:
        return pydantic_core.to_json(
            {
                "event_id": self.event_id,
                "event_type": self.event_type,
                "producer": self.producer,
                "consumer": self.consumer,
                "purpose": self.purpose,
                "legal_basis": self.legal_basis,
                "outcome": self.outcome,
                "reasons": list(self.reasons),
                "released_fields": list(self.released_fields),
                "grant_id": self.grant_id,
                "snapshot_hash": self.snapshot_hash,
                "decided_at": _decision_time(self.decided_at),
                "subject_pseudonym": self.subject_pseudonym,
                "input": {
                    "topic": self.input_topic,
                    "partition": self.input_partition,
                    "offset": self.input_offset,
                },
                "claimed_event_id": self.claimed_event_id,
                "facts": self.facts,
            }
        )


@lru_cache(maxsize=8)
def _decision_time(moment: datetime) -> str:
    # A whole batch is decided at one moment: format it once, not once per audit record.
    return format_time(moment)
