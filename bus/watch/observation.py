"""What the watch takes from one audit record: who, about whom, what happened, and where the
record is (so that an alert can point at the decisions behind it)."""

from dataclasses import dataclass

from bus.policy.decision import Reason
from bus.record.audit_record import AuditRecord, RecordedOutcome


@dataclass(frozen=True, slots=True)
class Observation:
    """One audit record as the rules see it.

    `at`: the record's timestamp on the audit topic (epoch seconds), which picks its windows, so
    that a record read again after a restart lands in the same window. `position`:
    `topic:partition:offset` of the audit record. `source`: the producer, or for an event the bus
    could not verify (the producer unknown) `unverified@<ingress topic>`. `routine`: a denial
    for no other reason than NO_INTEREST, which is need to know at work (every event about a
    person the consumer has no case about), not a refusal anyone tried to get past."""

    at: float
    position: str
    outcome: RecordedOutcome
    event_id: str | None
    consumer: str | None
    purpose: str | None
    source: str | None
    subject: str | None
    routine: bool = False

    @property
    def refused(self) -> bool:
        """A denial or a refused subscription that the probing and denial rules count."""
        return self.outcome in _REFUSALS and not self.routine

    def reference(self) -> "DecisionRef":
        """This decision as an alert names it: ids and pseudonyms only."""
        return DecisionRef(self.position, self.event_id, self.subject)


_REFUSALS = frozenset({RecordedOutcome.DENY, RecordedOutcome.SUBSCRIPTION_REFUSED})


@dataclass(frozen=True, slots=True)
class DecisionRef:
    """A decision behind an alert: where its audit record is, its event id and its subject's
    pseudonym (either may be None for an event the bus could not verify)."""

    position: str
    event_id: str | None
    subject: str | None

    def to_list(self) -> list[str | None]:
        """As kept in a table value (JSON)."""
        return [self.position, self.event_id, self.subject]

    @classmethod
    def from_list(cls, value: list[str | None]) -> "DecisionRef":
        """The inverse of to_list."""
        return cls(str(value[0]), value[1], value[2])


def observe(record: AuditRecord, at: float, topic: str, partition: int, offset: int) -> Observation:
    """The observation of `record`, read at topic/partition/offset with timestamp `at`."""
    source = record.producer
    if source is None and record.outcome is RecordedOutcome.QUARANTINED:
        source = f"unverified@{record.input.topic}"
    return Observation(
        at=at,
        position=f"{topic}:{partition}:{offset}",
        outcome=record.outcome,
        event_id=record.event_id,
        consumer=record.consumer,
        purpose=record.purpose,
        source=source,
        subject=record.subject_pseudonym,
        routine=record.reasons == _ROUTINE,
    )


_ROUTINE = (Reason.NO_INTEREST.value,)
