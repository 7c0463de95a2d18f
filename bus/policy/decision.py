"""A decision: outcome, machine reason codes, the grant used, the released fields, and a sentence.

`Decision` answers whether a consumer may receive an event; `ProducerDecision` whether a producer
may report it.
"""

from enum import StrEnum
from typing import NamedTuple


class Outcome(StrEnum):
    """What the engine decided: PERMIT, or DENY (the default whenever a condition fails)."""

    PERMIT = "PERMIT"
    DENY = "DENY"


class Reason(StrEnum):
    """Why: a stable machine code per condition, kept in audit records and metrics."""

    NO_GRANT = "NO_GRANT"
    PURPOSE_MISMATCH = "PURPOSE_MISMATCH"
    OUT_OF_JURISDICTION = "OUT_OF_JURISDICTION"
    NOT_COMPETENT = "NOT_COMPETENT"
    GRANT_NOT_YET_VALID = "GRANT_NOT_YET_VALID"
    GRANT_EXPIRED = "GRANT_EXPIRED"
    DISCLOSURE_BLOCKED = "DISCLOSURE_BLOCKED"
    # The grant requires an interest marker on the person (need to know) and none is in force.
    NO_INTEREST = "NO_INTEREST"
    PRODUCER_NOT_AUTHORITATIVE = "PRODUCER_NOT_AUTHORITATIVE"
    UNKNOWN_CONSUMER = "UNKNOWN_CONSUMER"
    UNKNOWN_PURPOSE = "UNKNOWN_PURPOSE"
    GRANTED = "GRANTED"
    AUTHORITATIVE_SOURCE = "AUTHORITATIVE_SOURCE"


_SENTENCES = {
    Reason.NO_GRANT: "no grant lets {consumer} receive {event_type}",
    Reason.PURPOSE_MISMATCH: "{consumer} holds grants for {event_type}, but none for purpose {purpose}",
    Reason.OUT_OF_JURISDICTION: "the subject's location does not lie in {consumer}'s jurisdiction",
    Reason.NOT_COMPETENT: "{consumer} is not competent for the subject matter of purpose {purpose}",
    Reason.GRANT_NOT_YET_VALID: "grant {grant} is not valid yet",
    Reason.GRANT_EXPIRED: "grant {grant} has expired",
    Reason.DISCLOSURE_BLOCKED: (
        "the person is under a disclosure block and grant {grant} may not include such persons"
    ),
    Reason.NO_INTEREST: (
        "grant {grant} releases only people {consumer} registered an interest in for purpose"
        " {purpose}, and it holds no such marker on this person"
    ),
    Reason.PRODUCER_NOT_AUTHORITATIVE: (
        "{producer} is not the authentic source of {event_type} for the subject's territory"
    ),
    Reason.UNKNOWN_CONSUMER: "{consumer} is not an agency of this policy set",
    Reason.UNKNOWN_PURPOSE: "purpose {purpose} is not defined in this policy set",
    Reason.GRANTED: "grant {grant} releases {fields} for purpose {purpose} ({legal_basis})",
    Reason.AUTHORITATIVE_SOURCE: (
        "{producer} is the authentic source of {event_type} for the subject's territory"
    ),
}


class Decision(NamedTuple):
    """May `consumer` receive an event of `event_type` for `purpose`, and which fields: `decide`'s
    answer (and `authorize_subscription`'s). On PERMIT, `grant_id` names the grant used and
    `released_fields` the only fields the consumer may see; `snapshot_hash` names the policy set.

    Immutable. A NamedTuple rather than a frozen dataclass: one is built for every decision, and
    a NamedTuple is the cheaper to build (benchmarks/policy.py times the engine)."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    consumer: str
    event_type: str
    purpose: str
    snapshot_hash: str
    grant_id: str | None = None
    released_fields: tuple[str, ...] = ()
    legal_basis: str | None = None
    producer: str | None = None

    @property
    def permitted(self) -> bool:
        """Whether the outcome is PERMIT."""
        return self.outcome is Outcome.PERMIT

    @property
    def explanation(self) -> str:
        """One sentence a person understands; built on demand, off the hot path."""
        values = {
            "consumer": self.consumer,
            "event_type": self.event_type,
            "purpose": self.purpose,
            "grant": self.grant_id,
            "producer": self.producer,
            "legal_basis": self.legal_basis,
            "fields": ", ".join(self.released_fields) or "no fields",
        }
        clauses = "; ".join(_SENTENCES[r].format(**values) for r in self.reasons)
        return f"{self.outcome.value}: {clauses}."

    def to_json(self) -> dict[str, object]:
        """The decision as a JSON object, explanation included (`bus policy explain --json`)."""
        return {
            "outcome": self.outcome.value,
            "reasons": [r.value for r in self.reasons],
            "explanation": self.explanation,
            "consumer": self.consumer,
            "event_type": self.event_type,
            "purpose": self.purpose,
            "grant_id": self.grant_id,
            "released_fields": list(self.released_fields),
            "legal_basis": self.legal_basis,
            "snapshot_hash": self.snapshot_hash,
            "producer": self.producer,
        }


class ProducerDecision(NamedTuple):
    """Whether `producer` may report an event of `event_type`: AUTHORITATIVE_SOURCE on PERMIT,
    PRODUCER_NOT_AUTHORITATIVE on DENY (the enforcer then quarantines the event).

    `territory` is the municipality the producer had to be the authentic source for (None: the
    event has no location, so only a nationwide source may report it). `refusal` is the sentence
    of a DENY that the event's locations decided, not the producer's authority (a location without
    a municipality, or a second one in the bus's territory); None otherwise.
    """

    outcome: Outcome
    reasons: tuple[Reason, ...]
    producer: str
    event_type: str
    territory: str | None
    snapshot_hash: str
    refusal: str | None = None

    @property
    def permitted(self) -> bool:
        """Whether the outcome is PERMIT."""
        return self.outcome is Outcome.PERMIT

    @property
    def explanation(self) -> str:
        """One sentence a person understands, naming the territory the check used."""
        if self.refusal is not None:
            return f"DENY: {self.refusal}."
        if not self.permitted:
            sentence = _SENTENCES[Reason.PRODUCER_NOT_AUTHORITATIVE]
            return f"DENY: {sentence.format(producer=self.producer, event_type=self.event_type)}."
        where = f"subjects in {self.territory}" if self.territory else "events without a location"
        return f"PERMIT: {self.producer} is the authentic source of {self.event_type} for {where}."

    def to_json(self) -> dict[str, object]:
        """The check as a JSON object (`bus policy explain --json`, under "producer_check")."""
        return {
            "producer": self.producer,
            "territory": self.territory,
            "outcome": self.outcome.value,
            "reasons": [r.value for r in self.reasons],
            "explanation": self.explanation,
        }
