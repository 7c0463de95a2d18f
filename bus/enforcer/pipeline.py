"""What the enforcer does with one input record, as a pure function: no I/O, no clock, no Kafka.

verify envelope, signature and producer authority → on failure one quarantine record and one audit
record; otherwise, for each subscription to the event's type, decide → one audit record per
decision, and for each permit one delivery carrying only the released disclosures. The caller
writes all of it, with the input offset, in one Kafka transaction.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bus.catalog import CATALOG, Catalog
from bus.enforcer.interest_markers import InterestMarkers, MarkerChange
from bus.enforcer.quarantine_headers import escaped
from bus.enforcer.records import Headers, OutRecord, RecordHeaders
from bus.envelope.attributes import format_time
from bus.envelope.codec import VerifiedEvent
from bus.envelope.errors import (
    AttributeMismatchError,
    EnvelopeError,
    OversizedRecordError,
    PartitionMismatchError,
)
from bus.envelope.kafka_binding import verify_ingress_record
from bus.kafka.key_partition import key_partition
from bus.kafka.position import record_position
from bus.kafka.topics import AUDIT_TOPIC, QUARANTINE_TOPIC, delivery_topic, ingress_topic
from bus.keys import KeyStore
from bus.policy.decision import Decision, Reason
from bus.policy.decision_cache import DecisionCache
from bus.policy.engine import authorize_producer
from bus.policy.facts import EventFacts, Subscription, facts_from_values
from bus.policy.snapshot import Snapshot
from bus.record.audit_fragments import EventAuditRecords
from bus.record.audit_record import (
    AUDIT_AUDIENCE,
    AuditRecord,
    InputPosition,
    RecordedFacts,
    RecordedOutcome,
    decision_time,
)
from bus.record.erase_by import ERASE_BY_HEADER, erase_by_text
from bus.record.pseudonyms import Pseudonymizer

MAX_RECORD_BYTES = 256 * 1024
# The reason of a failure nobody foresaw (a bug, found by fuzzing or in production).
INTERNAL_ERROR = "INTERNAL_ERROR"
# Quarantine details come from the sender's bytes in part: bounded, so a quarantine copy stays small.
MAX_DETAIL_CHARS = 500


@dataclass(frozen=True, slots=True)
class InRecord:
    """One input record as the enforcer's consumer read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = field(repr=False)
    value: bytes | None = field(repr=False)
    headers: RecordHeaders = field(repr=False)
    # Of the record's topic, as the consumer's metadata knows it: a record must be on its key's
    # partition (key_partition.py). 1 for a caller reading a one-partition topic of its own.
    partition_count: int = 1


@dataclass(frozen=True)
class EnforcerState:
    """Everything a decision depends on; swapped as a whole on a policy or subscription change."""

    snapshot: Snapshot
    keys: KeyStore
    subscriptions: Mapping[str, tuple[Subscription, ...]]  # by event type
    pseudonyms: Pseudonymizer
    catalog: Catalog = CATALOG
    max_record_bytes: int = MAX_RECORD_BYTES
    # Where events of a type arrive: the bus's own ingress topic. A record on another topic is
    # quarantined; a test or benchmark reading a topic of its own names that topic here.
    ingress_topic_of: Callable[[str], str] = ingress_topic
    # The markers of the marker partitions this enforcer owns; one table shared by every state
    # (the loop keeps it, a policy change does not touch it). None: no marker is ever held, so a
    # grant that requires interest releases nothing.
    interest: InterestMarkers | None = None
    # Of this state's snapshot: a new state (a policy change) starts with an empty one.
    decisions: DecisionCache = field(
        default_factory=DecisionCache, init=False, repr=False, compare=False
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `process` made of one input record: the records to write in its transaction, the
    decisions taken, and what the loop logs and counts."""

    records: list[OutRecord]
    decisions: list[Decision]
    event_id: str | None = None  # verified; None when the envelope could not be verified
    quarantine_reason: str | None = None
    quarantine_detail: str | None = None
    event_type: str | None = None
    producer: str | None = None
    event_time: datetime | None = None
    # The accepted event, so the loop can still quarantine it with its attributes (a duplicate).
    verified: VerifiedEvent | None = field(default=None, repr=False)
    # A marker record's effect on the interest markers, applied by the loop as it is written.
    interest: MarkerChange | None = None


def process(record: InRecord, state: EnforcerState, now: datetime) -> Outcome:
    """Never raises: a record that fails in any way, foreseen or not, is quarantined and audited,
    so that one record can never stop enforcement (it would be read again on every restart)."""
    try:
        return _process(record, state, now)
    except EnvelopeError as exc:
        return quarantine(record, state, now, exc.reason, str(exc))
    except Exception as exc:
        detail = f"{type(exc).__name__} while processing the record"
        return quarantine(record, state, now, INTERNAL_ERROR, detail)


def _process(record: InRecord, state: EnforcerState, now: datetime) -> Outcome:
    verified = _verify(record, state)
    verified.require_complete()
    subject = verified.subject
    assert subject is not None  # require_complete() above: the subject field is disclosed
    key = subject.encode()
    if record.key != key:
        # The key keeps each person's events in order on one partition: under another key a
        # later event could overtake an earlier one (and the key would be an unchecked value).
        detail = "the record key is not the signed subject"
        return quarantine(record, state, now, AttributeMismatchError.reason, detail, verified)
    expected = key_partition(key, record.partition_count)
    if record.partition != expected:
        detail = (
            f"on partition {record.partition}; its key's is {expected} of {record.partition_count}"
            " (Kafka's default partitioner, murmur2)"
        )
        return quarantine(record, state, now, PartitionMismatchError.reason, detail, verified)
    producer = verified.attributes.source
    # The disclosures' JSON values were validated field by field during verify; no need to
    # rebuild and dump the whole model again on this per-event path.
    values = {name: d.value for name, d in verified.token.disclosures.items()}
    facts = facts_from_values(verified.event_class, values, producer)
    authority = authorize_producer(state.snapshot, facts)
    if not authority.permitted:
        return quarantine(
            record,
            state,
            now,
            Reason.PRODUCER_NOT_AUTHORITATIVE.value,
            authority.explanation,
            verified,
        )
    audit_subject = state.pseudonyms.pseudonym(AUDIT_AUDIENCE, subject)
    at = now.timestamp()
    records: list[OutRecord] = []
    decisions: list[Decision] = []
    common: Headers | None = None
    # Consumers released the same fields get the same presentation: built once per field set.
    presented: dict[tuple[str, ...], bytes] = {}
    audit = EventAuditRecords(
        event_id=verified.attributes.id,
        event_type=facts.event_type,
        producer=facts.producer,
        decided_at=decision_time(now),
        subject_pseudonym=audit_subject,
        input=InputPosition(record.topic, record.partition, record.offset),
        facts=recorded_facts(facts),
    )
    audit_key = verified.attributes.id.encode()
    needs_interest = state.snapshot.requires_interest
    for subscription in state.subscriptions.get(facts.event_type, ()):
        has_interest = (
            state.interest is not None
            and (subscription.consumer, subscription.purpose) in needs_interest
            and state.interest.holds(subscription.consumer, subscription.purpose, subject, at)
        )
        decision = state.decisions.decide(
            state.snapshot, facts, subscription, at, has_interest=has_interest
        )
        decisions.append(decision)
        if decision.permitted:
            common = common or _event_headers(verified)
            released = decision.released_fields
            value = presented.get(released)
            if value is None:
                value = presented[released] = verified.present(released).encode("ascii")
            records.append(_delivery(verified, decision, subject, state, common, value, now))
        records.append(OutRecord(AUDIT_TOPIC, audit_key, audit.record(decision)))
    return Outcome(
        records,
        decisions,
        event_id=verified.attributes.id,
        event_type=facts.event_type,
        producer=producer,
        event_time=verified.attributes.time,
        verified=verified,
    )


def _verify(record: InRecord, state: EnforcerState) -> VerifiedEvent:
    if record.value is not None and len(record.value) > state.max_record_bytes:
        raise OversizedRecordError(
            f"record of {len(record.value)} bytes exceeds {state.max_record_bytes}"
        )
    return verify_ingress_record(
        record.topic,
        record.value,
        record.headers,
        state.keys,
        state.catalog,
        state.ingress_topic_of,
    )


def _event_headers(verified: VerifiedEvent) -> Headers:
    """The CloudEvents headers every delivery of one event shares: built once per event."""
    a = verified.attributes
    return [
        ("ce_specversion", a.specversion.encode()),
        ("ce_id", a.id.encode()),
        ("ce_source", a.source.encode()),
        ("ce_type", a.type.encode()),
        ("ce_time", format_time(a.time).encode()),
        ("ce_dataschema", a.dataschema.encode()),
        ("content-type", a.datacontenttype.encode()),
    ]


def _delivery(
    verified: VerifiedEvent,
    decision: Decision,
    subject: str,
    state: EnforcerState,
    common: Headers,
    value: bytes,
    now: datetime,
) -> OutRecord:
    released = decision.released_fields
    subject_released = verified.event_class.subject_field in released
    # The key keeps each person's events in order; it is the identifier only where released.
    key = subject if subject_released else state.pseudonyms.pseudonym(decision.consumer, subject)
    # Storage limitation binds the consumer too: the bus says by when its copy must be gone.
    retention_days = state.snapshot.purposes[decision.purpose].retention_days
    headers: Headers = [
        *common,
        ("bus_purpose", decision.purpose.encode()),
        ("bus_grant", (decision.grant_id or "").encode()),
        ("bus_snapshot", decision.snapshot_hash.encode()),
        (ERASE_BY_HEADER, erase_by_text(now, retention_days).encode()),
    ]
    if subject_released:
        headers.append(("ce_subject", subject.encode()))
    return OutRecord(
        topic=delivery_topic(decision.consumer, decision.purpose),
        key=key.encode(),
        value=value,
        headers=headers,
    )


def recorded_facts(facts: EventFacts) -> RecordedFacts:
    """The decision's inputs as the audit record keeps them: built once per event."""
    return RecordedFacts(
        fields=tuple(sorted(facts.fields)),
        locations=dict(facts.locations),
        disclosure_blocked=facts.disclosure_blocked,
    )


def quarantine(
    record: InRecord,
    state: EnforcerState,
    now: datetime,
    reason: str,
    detail: str,
    verified: VerifiedEvent | None = None,
) -> Outcome:
    """The original bytes, untouched, with the reason: nothing is lost, nothing is delivered."""
    detail = detail[:MAX_DETAIL_CHARS]  # for the header, and for the log line the loop writes
    headers = [
        *escaped(record.headers),  # a sender's `bus_…` header cannot pass for the bus's own
        ("bus_quarantine_reason", reason.encode()),
        ("bus_quarantine_detail", detail.encode(errors="backslashreplace")),
        ("bus_input", record_position(record.topic, record.partition, record.offset).encode()),
    ]
    attributes = verified.attributes if verified else None
    subject = verified.subject if verified else None
    entry = AuditRecord(
        event_id=attributes.id if attributes else None,
        event_type=attributes.type if attributes else None,
        producer=attributes.source if attributes else None,
        consumer=None,
        purpose=None,
        legal_basis=None,
        outcome=RecordedOutcome.QUARANTINED,
        reasons=(reason,),
        released_fields=(),
        grant_id=None,
        snapshot_hash=state.snapshot.hash,
        decided_at=decision_time(now),
        subject_pseudonym=state.pseudonyms.pseudonym(AUDIT_AUDIENCE, subject) if subject else None,
        input=InputPosition(record.topic, record.partition, record.offset),
        claimed_event_id=None if attributes else _claimed_id(record),
        facts=None,
    )
    return Outcome(
        records=[
            OutRecord(QUARANTINE_TOPIC, record.key, record.value or b"", headers),
            OutRecord(
                AUDIT_TOPIC, attributes.id.encode() if attributes else None, entry.to_json_bytes()
            ),
        ],
        decisions=[],
        event_id=attributes.id if attributes else None,
        quarantine_reason=reason,
        quarantine_detail=detail,
        event_type=attributes.type if attributes else None,
        producer=attributes.source if attributes else None,
    )


def _claimed_id(record: InRecord) -> str | None:
    claimed = next((v for k, v in record.headers if k == "ce_id"), None)
    if not isinstance(claimed, bytes):  # absent, or a header without a value
        return None
    return claimed[:100].decode("utf-8", errors="replace")
