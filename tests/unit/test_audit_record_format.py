"""The audit record's format, pinned: what the writer writes the strict reader reads back as the
same values; a record with a key missing, a key unknown, or another format version is refused with
the key or version named, and the store keeps it as UNREADABLE rather than as a row of NULLs."""

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bus.audit.columns import UNREADABLE, columns_of, unreadable_reason
from bus.errors import ConfigError
from bus.policy.decision import Outcome
from bus.record.audit_record import (
    FORMAT_VERSION,
    POLICY_DECISIONS,
    AuditRecord,
    AuditRecordError,
    InputPosition,
    RecordedFacts,
    RecordedOutcome,
    decision_time,
)
from bus.record.pseudonyms import ensure_pseudonym_key, load_pseudonymizer

AT = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
KEYS = [
    "format_version",
    "event_id",
    "event_type",
    "producer",
    "consumer",
    "purpose",
    "legal_basis",
    "outcome",
    "reasons",
    "released_fields",
    "grant_id",
    "snapshot_hash",
    "decided_at",
    "subject_pseudonym",
    "input",
    "claimed_event_id",
    "facts",
]
DECISION = AuditRecord(
    event_id="01900000-0000-7000-8000-000000000001",
    event_type="population.AddressChanged",
    producer="muni-09162000",
    consumer="tax-by",
    purpose="tax-residence",
    legal_basis="§ 139b AO",
    outcome=RecordedOutcome.PERMIT,
    reasons=("GRANTED",),
    released_fields=("subject_id", "new_address"),
    grant_id="grant-tax-by",
    snapshot_hash="sha256:" + "ab" * 32,
    decided_at=decision_time(AT),
    subject_pseudonym="psn-abc",
    input=InputPosition("bus.ingress.population.AddressChanged", 3, 41),
    claimed_event_id=None,
    facts=RecordedFacts(
        fields=("new_address", "subject_id"),
        locations={"new": "09162000", "previous": None},
        disclosure_blocked=False,
    ),
)
QUARANTINE = AuditRecord(
    event_id=None,
    event_type=None,
    producer=None,
    consumer=None,
    purpose=None,
    legal_basis=None,
    outcome=RecordedOutcome.QUARANTINED,
    reasons=("BAD_SIGNATURE",),
    released_fields=(),
    grant_id=None,
    snapshot_hash="sha256:" + "cd" * 32,
    decided_at=decision_time(AT),
    subject_pseudonym=None,
    input=InputPosition("bus.ingress.population.AddressChanged", 0, 7),
    claimed_event_id="forged-id ü",
    facts=None,
)
REMOVAL = msgspec.structs.replace(
    QUARANTINE,
    event_type="population.AddressChanged",
    consumer="tax-by",
    purpose="tax-residence",
    outcome=RecordedOutcome.SUBSCRIPTION_REMOVED,
    reasons=("UNSUBSCRIBED",),
    input=InputPosition("bus.subscriptions", -1, -1),
    claimed_event_id=None,
)


def document(record: AuditRecord = DECISION) -> dict[str, Any]:
    parsed = json.loads(record.to_json_bytes())
    assert isinstance(parsed, dict)
    return parsed


def refusal(changed: dict[str, Any]) -> str:
    with pytest.raises(AuditRecordError) as refused:
        AuditRecord.from_json_bytes(json.dumps(changed).encode())
    return str(refused.value)


@pytest.mark.parametrize("record", [DECISION, QUARANTINE, REMOVAL], ids=lambda r: r.outcome)
def test_what_the_writer_writes_the_reader_reads_back_the_same(record: AuditRecord) -> None:
    written = record.to_json_bytes()
    read = AuditRecord.from_json_bytes(written)
    assert read == record
    assert msgspec.structs.asdict(read) == msgspec.structs.asdict(record)
    assert read.to_json_bytes() == written


def test_the_written_keys_and_values_are_the_format() -> None:
    written = document()
    assert list(written) == KEYS
    assert written["format_version"] == FORMAT_VERSION == 2
    assert written["outcome"] == "PERMIT"
    assert written["decided_at"] == "2026-11-23T12:00:00.123456Z"
    assert written["input"] == {
        "topic": "bus.ingress.population.AddressChanged",
        "partition": 3,
        "offset": 41,
    }
    assert written["facts"] == {
        "fields": ["new_address", "subject_id"],
        "locations": {"new": "09162000", "previous": None},
        "disclosure_blocked": False,
    }


@pytest.mark.parametrize("key", KEYS[1:])
def test_a_missing_key_is_refused_and_named(key: str) -> None:
    changed = document()
    del changed[key]
    assert f"missing required field `{key}`" in refusal(changed)


@pytest.mark.parametrize(("inner", "key"), [("input", "offset"), ("facts", "locations")])
def test_a_missing_key_inside_is_refused_and_named(inner: str, key: str) -> None:
    changed = document()
    del changed[inner][key]
    assert f"missing required field `{key}`" in refusal(changed)


@pytest.mark.parametrize("where", [None, "input", "facts"])
def test_an_unknown_key_is_refused_and_named(where: str | None) -> None:
    changed = document()
    (changed if where is None else changed[where])["consumer_id"] = "tax-by"
    assert "unknown field `consumer_id`" in refusal(changed)


def test_a_renamed_key_is_refused_not_read_as_null() -> None:
    changed = document()
    changed["consumer_agency"] = changed.pop("consumer")
    assert "consumer" in refusal(changed)
    columns = columns_of(json.dumps(changed).encode())
    assert columns.outcome == UNREADABLE


@pytest.mark.parametrize("version", [1, 3, 0, "2", None])
def test_another_format_version_is_refused(version: object) -> None:
    changed = document()
    changed["format_version"] = version
    message = refusal(changed)
    assert "format_version" in message
    assert f"format version {FORMAT_VERSION}" in message


def test_a_record_written_before_the_version_key_reads_as_format_1() -> None:
    """Records without the key are on the audit topic and in every store (the chain covers their
    bytes): format 1 had the same keys but this one, and reads with the same values."""
    legacy = document()
    del legacy["format_version"]
    assert AuditRecord.from_json_bytes(json.dumps(legacy).encode()) == DECISION
    assert columns_of(json.dumps(legacy).encode()) == columns_of(DECISION.to_json_bytes())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("outcome", "MAYBE"),
        ("outcome", None),
        ("reasons", "GRANTED"),
        ("snapshot_hash", None),
        ("decided_at", 1_700_000_000),
        ("input", {"topic": "t", "partition": "3", "offset": 41}),
        ("facts", {"fields": [], "locations": {}, "disclosure_blocked": "no"}),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused(key: str, value: object) -> None:
    changed = document()
    changed[key] = value
    assert refusal(changed)
    assert columns_of(json.dumps(changed).encode()).outcome == UNREADABLE


@pytest.mark.parametrize("data", [b"", b"not json {", b"[]", b"null", b'"PERMIT"', b"\xff\xfe"])
def test_bytes_that_are_no_record_at_all_are_refused(data: bytes) -> None:
    with pytest.raises(AuditRecordError, match="not an audit record"):
        AuditRecord.from_json_bytes(data)


def test_the_store_is_told_why_a_record_is_unreadable() -> None:
    missing = document()
    del missing["consumer"]
    naive = document()
    naive["decided_at"] = "2026-11-23T12:00:00"
    assert unreadable_reason(DECISION.to_json_bytes()) is None
    assert "missing required field `consumer`" in str(
        unreadable_reason(json.dumps(missing).encode())
    )
    assert "not an RFC 3339 time with a zone" in str(unreadable_reason(json.dumps(naive).encode()))
    assert columns_of(json.dumps(naive).encode()).outcome == UNREADABLE


def test_the_columns_are_the_records_values() -> None:
    columns = columns_of(DECISION.to_json_bytes())
    assert columns.outcome == "PERMIT"
    assert type(columns.outcome) is str  # a plain text for the database drivers
    assert columns.reasons == " GRANTED "
    assert columns.released_fields == "subject_id new_address"
    assert columns.decided_at == DECISION.decided_at
    assert columns.consumer == "tax-by"


def test_recorded_outcomes_of_policy_decisions() -> None:
    assert {RecordedOutcome.of(o) for o in Outcome} == {
        RecordedOutcome.PERMIT,
        RecordedOutcome.DENY,
    }
    assert {o: o.decided() for o in POLICY_DECISIONS} == {
        RecordedOutcome.PERMIT: Outcome.PERMIT,
        RecordedOutcome.DENY: Outcome.DENY,
        RecordedOutcome.SUBSCRIPTION_REFUSED: Outcome.DENY,
    }
    for outcome in set(RecordedOutcome) - POLICY_DECISIONS:
        with pytest.raises(ValueError, match="no policy decision"):
            outcome.decided()


def test_the_pseudonym_key_is_made_once_private_and_only_read_by_the_audit_trail(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys" / "pseudonym.key"
    with pytest.raises(ConfigError, match="pseudonym key is missing"):
        load_pseudonymizer(path)
    assert not path.exists()
    made = ensure_pseudonym_key(path)
    assert ensure_pseudonym_key(path) == made
    assert len(made) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_pseudonymizer(path).pseudonym("audit", "P-1").startswith("psn-")
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        load_pseudonymizer(path)
