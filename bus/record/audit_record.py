"""The audit record: what the enforcer and the control plane write to the audit topic, and what
the audit trail reads back, in one definition.

The writer and the strict reader are the same msgspec Struct, so a field renamed here is renamed
for both. Reading is strict: a missing key, an unknown key, a value of the wrong type, an outcome
no writer writes or another format version is refused with the reason, never read as NULL.

Format versions: 2 carries `"format_version": 2`. Records written before the version key existed
(format 1, otherwise the same keys) are on the audit topic and in every store, covered by the hash
chain, so they cannot be rewritten: the version key alone may be absent, and its absence means 1.
"""

from datetime import datetime
from enum import StrEnum
from functools import lru_cache

import msgspec

from bus.envelope.attributes import format_time
from bus.errors import BusError
from bus.policy.decision import Outcome

FORMAT_VERSION = 2
# The pseudonym audience of the audit trail's subjects (bus/record/pseudonyms.py): queries by
# subject pseudonymise the person's identifier under the same audience.
AUDIT_AUDIENCE = "audit"


class RecordedOutcome(StrEnum):
    """What an audit record says happened."""

    PERMIT = "PERMIT"  # a policy decision: the event is delivered to the consumer
    DENY = "DENY"  # a policy decision: it is not
    QUARANTINED = "QUARANTINED"  # an input event refused before any decision
    SUBSCRIPTION_REFUSED = "SUBSCRIPTION_REFUSED"  # a policy decision on the registry
    SUBSCRIPTION_REMOVED = "SUBSCRIPTION_REMOVED"  # unsubscribed or offboarded
    INTEREST_ADDED = "INTEREST_ADDED"  # a consumer registered (or renewed) a marker on a person
    INTEREST_REMOVED = "INTEREST_REMOVED"  # a consumer removed its marker on a person

    @classmethod
    def of(cls, decided: Outcome) -> "RecordedOutcome":
        """The record of a decision on an event."""
        return _RECORDED_OF[decided]  # a dict, not cls(value): once per decision on the hot path

    def decided(self) -> Outcome:
        """The policy engine's outcome behind a policy decision (a refused subscription is a
        DENY). ValueError for an outcome the engine did not decide (see POLICY_DECISIONS)."""
        if self not in POLICY_DECISIONS:
            raise ValueError(f"a {self} record is no policy decision")
        return Outcome.PERMIT if self is RecordedOutcome.PERMIT else Outcome.DENY


_RECORDED_OF = {Outcome.PERMIT: RecordedOutcome.PERMIT, Outcome.DENY: RecordedOutcome.DENY}

# The outcomes the policy engine decided: what a recorded snapshot can re-decide and explain.
POLICY_DECISIONS = frozenset(
    {RecordedOutcome.PERMIT, RecordedOutcome.DENY, RecordedOutcome.SUBSCRIPTION_REFUSED}
)


class AuditRecordError(BusError):
    """Bytes on the audit topic that are not an audit record of a format this reader knows."""


class InputPosition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the record decided on was read. A decision on the subscription registry names the
    subscriptions topic with partition and offset -1."""

    topic: str
    partition: int
    offset: int


class RecordedFacts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a decision on an event was made on, never values, so that an auditor can re-decide it
    under the recorded policy snapshot (bus/audit/replay.py)."""

    fields: tuple[str, ...]  # the disclosed field names, sorted
    locations: dict[str, str | None]  # location name -> municipality code; None abroad/unknown
    disclosure_blocked: bool


class AuditRecord(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="format_version",
    tag=FORMAT_VERSION,
):
    """One decision (permit or deny), one refusal of an input event, or one change to the
    subscription registry. Subjects appear only as pseudonyms.

    Every field is required when read; a writer states even the empty ones (None, ()).

    Parameters:
        event_id: the verified event id; None when the envelope could not be verified.
        consumer, purpose, legal_basis, grant_id: of the subscription decided on; None for a
            quarantined event.
        outcome: what happened; `reasons` the machine codes why.
        released_fields: the fields delivered (empty unless PERMIT).
        snapshot_hash: the policy snapshot in force.
        decided_at: RFC 3339 in UTC with microseconds (`decision_time`), as written: the store
            indexes this text.
        subject_pseudonym: the person under AUDIT_AUDIENCE; None when unknown.
        input: where the input was read.
        claimed_event_id: a quarantined record's ce_id header, unverified: lets an auditor find a
            forged event by the id it claimed, without mistaking it for a verified event id.
        facts: what the decision was made on; None for anything but a decision on an event.
    """

    event_id: str | None
    event_type: str | None
    producer: str | None
    consumer: str | None
    purpose: str | None
    legal_basis: str | None
    outcome: RecordedOutcome
    reasons: tuple[str, ...]
    released_fields: tuple[str, ...]
    grant_id: str | None
    snapshot_hash: str
    decided_at: str
    subject_pseudonym: str | None
    input: InputPosition
    claimed_event_id: str | None
    facts: RecordedFacts | None

    def to_json_bytes(self) -> bytes:
        """The record as it goes onto the audit topic (and under the store's hash chain)."""
        return _encode(self)

    @classmethod
    def from_json_bytes(cls, data: bytes) -> "AuditRecord":
        """The record in `data`, read strictly; AuditRecordError says what is wrong."""
        try:
            return _decode(data)
        except msgspec.MsgspecError as exc:
            raise AuditRecordError(
                f"not an audit record of format version {FORMAT_VERSION} (nor 1, which lacks "
                f"the version key): {exc}"
            ) from exc


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(AuditRecord).decode


@lru_cache(maxsize=8)
def decision_time(moment: datetime) -> str:
    """`decided_at` as written. Cached: a whole batch is decided at one moment, so it is formatted
    once, not once per audit record."""
    return format_time(moment)
