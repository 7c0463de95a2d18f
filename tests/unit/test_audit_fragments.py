"""An event's audit records built from fragments are byte for byte what `AuditRecord.to_json_bytes`
writes, for any values (the audit store hashes these bytes into its chain, and the strict reader
must read them back)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bus.policy.decision import Decision, Outcome, Reason
from bus.record.audit_fragments import EventAuditRecords
from bus.record.audit_record import AuditRecord, InputPosition, RecordedFacts, RecordedOutcome

TEXT = st.text(max_size=12)  # any characters: quotes, backslashes, controls, non-ASCII
OPTIONAL = st.none() | TEXT
NAMES = st.lists(TEXT, max_size=4).map(tuple)
FACTS = st.builds(
    RecordedFacts,
    fields=NAMES,
    locations=st.dictionaries(TEXT, OPTIONAL, max_size=3),
    disclosure_blocked=st.booleans(),
)
INPUT = st.builds(
    InputPosition, topic=TEXT, partition=st.integers(-1, 2**31), offset=st.integers(-1, 2**62)
)
DECISION = st.builds(
    Decision,
    outcome=st.sampled_from(Outcome),
    reasons=st.lists(st.sampled_from(Reason), max_size=3).map(tuple),
    consumer=TEXT,
    event_type=TEXT,
    purpose=TEXT,
    snapshot_hash=TEXT,
    grant_id=OPTIONAL,
    released_fields=NAMES,
    legal_basis=OPTIONAL,
    producer=OPTIONAL,
)


@settings(max_examples=400)
@given(
    event=st.fixed_dictionaries(
        {
            "event_id": TEXT,
            "event_type": TEXT,
            "producer": TEXT,
            "decided_at": TEXT,
            "subject_pseudonym": TEXT,
        }
    ),
    position=INPUT,
    facts=FACTS,
    decisions=st.lists(DECISION, min_size=1, max_size=4),
)
def test_fragments_give_the_records_bytes(
    event: dict[str, str], position: InputPosition, facts: RecordedFacts, decisions: list[Decision]
) -> None:
    records = EventAuditRecords(**event, input=position, facts=facts)
    for decision in [*decisions, *decisions]:  # the second time from the decision cache
        whole = AuditRecord(
            **event,
            consumer=decision.consumer,
            purpose=decision.purpose,
            legal_basis=decision.legal_basis,
            outcome=RecordedOutcome.of(decision.outcome),
            reasons=tuple(r.value for r in decision.reasons),
            released_fields=decision.released_fields,
            grant_id=decision.grant_id,
            snapshot_hash=decision.snapshot_hash,
            input=position,
            claimed_event_id=None,
            facts=facts,
        )
        written = records.record(decision)
        assert written == whole.to_json_bytes()
        assert AuditRecord.from_json_bytes(written) == whole
