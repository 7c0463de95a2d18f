"""Interest markers without a broker: the record format read strictly, the enforcer's table, what
one marker record makes (audit without the person, quarantine of what is no marker), and who may
write which marker topic."""

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from bus.control.acls import desired_acls
from bus.enforcer.interest_markers import InterestMarkers, MarkerChange
from bus.enforcer.interest_records import INVALID_INTEREST_MARKER, marker_outcome
from bus.enforcer.pipeline import EnforcerState, InRecord
from bus.kafka.admin import Acl, Operation, Resource
from bus.kafka.key_partition import key_partition
from bus.kafka.topics import (
    AUDIT_TOPIC,
    QUARANTINE_TOPIC,
    interest_topic,
    interest_topic_owner,
)
from bus.keys import KeyStore
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot, normalised_document
from bus.record.interest_marker import MarkerError, marker_value, read_marker, read_subject
from bus.record.pseudonyms import Pseudonymizer
from tests.support.policy_sets import agency, grant, policy_set, purpose

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
POLICY = policy_set(
    agencies=(agency("tax-by", "09", "taxation"), agency("tax-bw", "08", "taxation")),
    purposes=(purpose("tax", "taxation"),),
    grants=(
        grant("g-by", "tax-by", "tax", requires_interest=True),
        grant("g-bw", "tax-bw", "tax"),
    ),
)
SNAPSHOT = compile_snapshot(POLICY)


def test_a_marker_value_round_trips_and_anything_else_is_refused() -> None:
    until = NOW + timedelta(days=30)
    assert read_marker(b"P-0001", marker_value(until)) == ("P-0001", until.timestamp())
    assert read_marker(b"P-0001", marker_value(None)) == ("P-0001", math.inf)
    for value in (
        b'{"expires_at": "2026-01-01T00:00:00Z", "consumer": "tax-bw"}',  # no room for extras
        b'{"expires_at": "2026-01-01T00:00:00"}',  # no time zone
        b'{"expires_at": "tomorrow"}',
        b'{"expires_at": 7}',
        b"[]",
        b"\xff",
    ):
        with pytest.raises(MarkerError):
            read_marker(b"P-0001", value)
    for key in (None, b"", b"../../x", b"P 1", b"\xff\xfe", b"P" * 41):
        with pytest.raises(MarkerError):
            read_subject(key)
    with pytest.raises(MarkerError):
        marker_value(datetime(2027, 1, 1))  # naive: which day ends when?


def test_marker_topics_name_their_consumer_and_purpose_and_nothing_else() -> None:
    assert interest_topic_owner(interest_topic("tax-by", "tax")) == ("tax-by", "tax")
    for topic in ("bus.interest.tax-by", "bus.interest.tax-by.", "bus.interest.a.b.c", "x.y"):
        assert interest_topic_owner(topic) is None


def test_the_table_holds_markers_per_partition_until_they_expire_or_go() -> None:
    markers = InterestMarkers()
    tp = (interest_topic("tax-by", "tax"), 2)
    markers.apply(MarkerChange(tp, "P-0001", 100.0))
    assert markers.holds("tax-by", "tax", 2, "P-0001", 99.9)
    assert not markers.holds("tax-by", "tax", 2, "P-0001", 100.0)  # expired at its instant
    assert not markers.holds("tax-by", "tax", 1, "P-0001", 0)  # another partition's people
    assert not markers.holds("tax-bw", "tax", 2, "P-0001", 0)  # another consumer's marker
    markers.apply(MarkerChange(tp, "P-0001", None))
    assert not markers.holds("tax-by", "tax", 2, "P-0001", 0)
    markers.replace(tp, {"P-0002": math.inf})
    assert markers.count() == 1
    markers.drop(tp)
    assert markers.count() == 0


def _state() -> EnforcerState:
    return EnforcerState(
        snapshot=SNAPSHOT,
        keys=KeyStore([]),
        subscriptions={},
        pseudonyms=Pseudonymizer(b"k" * 32),
        interest=InterestMarkers(),
    )


def _record(key: bytes, value: bytes | None, partition: int | None = None) -> InRecord:
    topic = interest_topic("tax-by", "tax")
    right = key_partition(key, 6)
    return InRecord(topic, right if partition is None else partition, 41, key, value, [], 6)


def test_a_marker_is_audited_with_who_what_and_when_but_the_person_only_as_a_pseudonym() -> None:
    outcome = marker_outcome(_record(b"P-0001", marker_value(None)), _state(), NOW)
    (audit,) = outcome.records
    assert audit.topic == AUDIT_TOPIC
    entry = json.loads(audit.value)
    assert (entry["outcome"], entry["consumer"], entry["purpose"]) == (
        "INTEREST_ADDED",
        "tax-by",
        "tax",
    )
    assert entry["subject_pseudonym"] == _state().pseudonyms.pseudonym("audit", "P-0001")
    assert "P-0001" not in audit.value.decode()
    assert outcome.interest is not None
    assert outcome.interest.expires == math.inf
    removed = marker_outcome(_record(b"P-0001", None), _state(), NOW)
    assert json.loads(removed.records[0].value)["outcome"] == "INTEREST_REMOVED"
    assert removed.interest is not None
    assert removed.interest.expires is None


def test_a_record_that_is_no_marker_is_quarantined_and_changes_nothing() -> None:
    right = key_partition(b"P-0001", 6)
    for record in (
        _record(b"P-0001", b"not json"),
        _record(b"not a person id!", marker_value(None)),
        _record(b"P-0001", marker_value(None), partition=(right + 1) % 6),  # not its partition
    ):
        outcome = marker_outcome(record, _state(), NOW)
        assert outcome.interest is None
        assert outcome.quarantine_reason == INVALID_INTEREST_MARKER
        assert [r.topic for r in outcome.records] == [QUARANTINE_TOPIC, AUDIT_TOPIC]


def test_only_a_consumer_whose_grant_requires_interest_writes_its_own_marker_topic() -> None:
    subscriptions = [
        Subscription(a, "population.AddressChanged", "tax") for a in ("tax-by", "tax-bw")
    ]
    acls = desired_acls(SNAPSHOT, subscriptions, NOW.timestamp())
    markers = {a for a in acls if a.name.startswith("bus.interest.")}
    topic = interest_topic("tax-by", "tax")
    assert markers == {
        Acl("User:tax-by", Resource.TOPIC, topic, Operation.WRITE),
        Acl("User:tax-by", Resource.TOPIC, topic, Operation.READ),
    }


def test_a_set_without_interest_grants_hashes_as_before_the_key_existed() -> None:
    document = normalised_document(
        policy_set(
            POLICY.agencies.agencies, POLICY.purposes.purposes, (grant("g-bw", "tax-bw", "tax"),)
        )
    )
    assert all("requires_interest" not in row for row in document["grants"])
    assert [
        row["requires_interest"]
        for row in normalised_document(POLICY)["grants"]
        if "requires_interest" in row
    ] == [True]
