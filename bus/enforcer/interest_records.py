"""What the enforcer makes of one interest marker record: an audit record (who, about whom, for
which purpose, when) and the change to the markers it holds; or, for a record that is no marker,
a quarantine copy with the reason. Pure, like `process`.

Nothing goes back to the consumer: whether the person exists, or any event about them ever
arrives, is not told by registering a marker.
"""

from datetime import datetime

from bus.enforcer.interest_markers import MarkerChange
from bus.enforcer.pipeline import EnforcerState, InRecord, Outcome, quarantine
from bus.enforcer.records import OutRecord
from bus.kafka.key_partition import key_partition
from bus.kafka.topics import AUDIT_TOPIC, interest_topic_owner
from bus.record.audit_record import (
    AUDIT_AUDIENCE,
    AuditRecord,
    InputPosition,
    RecordedOutcome,
    decision_time,
)
from bus.record.interest_marker import MarkerError, read_marker, read_subject

# The quarantine reason of a record on a marker topic that is no marker.
INVALID_INTEREST_MARKER = "INVALID_INTEREST_MARKER"


def marker_outcome(record: InRecord, state: EnforcerState, now: datetime) -> Outcome:
    """The outcome of a record read from a marker topic (`state.interest` is not None)."""
    assert state.interest is not None
    owner = interest_topic_owner(record.topic, state.interest.prefix)
    assert owner is not None  # the loop dispatches marker topics only here
    consumer, purpose = owner
    try:
        expires: float | None = None
        if record.value is None:  # a tombstone: the marker is removed
            subject = read_subject(record.key)
        else:
            subject, expires = read_marker(record.key, record.value)
        expected = key_partition(record.key or b"", record.partition_count)
        if record.partition != expected:
            raise MarkerError(
                f"on partition {record.partition}; its key's is {expected} of "
                f"{record.partition_count} (Kafka's default partitioner, murmur2)"
            )
    except MarkerError as exc:
        return quarantine(record, state, now, INVALID_INTEREST_MARKER, str(exc))
    added = expires is not None
    outcome = RecordedOutcome.INTEREST_ADDED if added else RecordedOutcome.INTEREST_REMOVED
    known = state.snapshot.purposes.get(purpose)
    entry = AuditRecord(
        event_id=None,
        event_type=None,
        producer=None,
        consumer=consumer,
        purpose=purpose,
        legal_basis=known.legal_basis if known else None,
        outcome=outcome,
        reasons=(outcome.value,),
        released_fields=(),
        grant_id=None,
        snapshot_hash=state.snapshot.hash,
        decided_at=decision_time(now),
        subject_pseudonym=state.pseudonyms.pseudonym(AUDIT_AUDIENCE, subject),
        input=InputPosition(record.topic, record.partition, record.offset),
        claimed_event_id=None,
        facts=None,
    )
    return Outcome(
        records=[OutRecord(AUDIT_TOPIC, None, entry.to_json_bytes())],
        decisions=[],
        interest=MarkerChange((record.topic, record.partition), subject, expires),
    )
